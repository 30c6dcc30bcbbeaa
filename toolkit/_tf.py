"""The one place that sets up TensorFlow.

Every other module gets ``tf`` and ``keras`` from here, so the environment is configured before
TensorFlow is first imported:

* ``TF_USE_LEGACY_KERAS=1`` selects ``tf_keras`` (Keras 2). Keras 3 fails under
  ``MultiWorkerMirroredStrategy`` ("Attempt to convert a value (PerReplica...) to a Tensor"), and
  tf2onnx's ``from_keras`` only understands tf_keras models.
* Quiet unless asked: ``TF_CPP_MIN_LOG_LEVEL=3`` (unless set) and the Python logger at ERROR silence
  TensorFlow's C++ and Python chatter, and the lines TensorFlow's libraries print while they load, before
  any log level applies ("oneDNN custom operations are on", "Could not find cuda drivers", absl's "All
  log messages before absl::InitializeLog()"), are dropped: stderr is pointed at /dev/null for the
  import. On a CPU-only machine the "failed call to cuInit" error goes too. A lower
  ``TF_CPP_MIN_LOG_LEVEL`` (``0`` shows everything) keeps all of it; TensorFlow's errors that matter
  reach the user as Python exceptions either way.
* GPU memory growth on (``TF_FORCE_GPU_ALLOW_GROWTH=true`` unless set, and ``set_memory_growth`` on
  every visible GPU): otherwise each process grabs almost all of a GPU's memory, and two Ray workers
  sharing a GPU (``--gpus-per-worker 0.5``) could not both start. ``TF_FORCE_GPU_ALLOW_GROWTH=false``
  turns it off.

Importing this module imports TensorFlow (seconds): keep it out of code paths that must stay light,
such as ``toolkit --help`` and ``toolkit/edge/predict.py``.
"""

import os
import sys
from contextlib import contextmanager

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
QUIET = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3").strip() == "3"
MEMORY_GROWTH = os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true").strip().lower() == "true"


@contextmanager
def _stderr_to_devnull(enabled: bool):
    """File descriptor 2 at /dev/null meanwhile (C++ writes there directly; ``sys.stderr`` is not enough)."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to silence
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _stderr_to_devnull(QUIET):  # what TensorFlow's libraries print while they load
    import tensorflow as tf
    import tf_keras as keras

    tf.get_logger().setLevel("ERROR")  # TensorFlow's Python INFO lines (strategy set-up, collectives)

    # Listing physical devices does not initialise the runtime: collectives and logical devices can still
    # be configured after this.
    for _gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(_gpu, MEMORY_GROWTH)
        except RuntimeError:  # the GPUs were initialised before this module was imported
            pass

__all__ = ["tf", "keras", "MEMORY_GROWTH", "QUIET"]
