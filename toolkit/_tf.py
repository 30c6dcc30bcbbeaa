"""The one place that sets up TensorFlow.

Every other module gets ``tf`` and ``keras`` from here, so the environment is configured before
TensorFlow is first imported:

* ``TF_USE_LEGACY_KERAS=1`` selects ``tf_keras`` (Keras 2). Keras 3 fails under
  ``MultiWorkerMirroredStrategy`` ("Attempt to convert a value (PerReplica...) to a Tensor"), and
  tf2onnx's ``from_keras`` only understands tf_keras models.
* ``TF_CPP_MIN_LOG_LEVEL=2`` and the Python logger at ERROR silence TensorFlow's info/warning
  chatter (errors still show).
* GPU memory growth on (``TF_FORCE_GPU_ALLOW_GROWTH=true`` unless set, and ``set_memory_growth`` on
  every visible GPU): otherwise each process grabs almost all of a GPU's memory, and two Ray workers
  sharing a GPU (``--gpus-per-worker 0.5``) could not both start. ``TF_FORCE_GPU_ALLOW_GROWTH=false``
  turns it off.

Importing this module imports TensorFlow (seconds): keep it out of code paths that must stay light,
such as ``toolkit --help`` and ``toolkit/predict.py``.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MEMORY_GROWTH = os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true").strip().lower() == "true"

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")  # TensorFlow's Python INFO lines (strategy set-up, collectives)

# Listing physical devices does not initialise the runtime: collectives and logical devices can still
# be configured after this.
for _gpu in tf.config.list_physical_devices("GPU"):
    try:
        tf.config.experimental.set_memory_growth(_gpu, MEMORY_GROWTH)
    except RuntimeError:  # the GPUs were initialised before this module was imported
        pass

__all__ = ["tf", "keras", "MEMORY_GROWTH"]
