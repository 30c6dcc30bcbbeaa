"""The one place that sets up TensorFlow.

Every other module gets ``tf`` and ``keras`` from here, so the environment is configured before
TensorFlow is first imported:

* ``TF_USE_LEGACY_KERAS=1`` selects ``tf_keras`` (Keras 2). Keras 3 fails under
  ``MultiWorkerMirroredStrategy`` ("Attempt to convert a value (PerReplica...) to a Tensor"), and
  tf2onnx's ``from_keras`` only understands tf_keras models.
* ``TF_CPP_MIN_LOG_LEVEL=2`` and the Python logger at ERROR silence TensorFlow's info/warning
  chatter (errors still show).

Importing this module imports TensorFlow (seconds): keep it out of code paths that must stay light,
such as ``toolkit --help`` and ``toolkit/predict.py``.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")  # TensorFlow's Python INFO lines (strategy set-up, collectives)

__all__ = ["tf", "keras"]
