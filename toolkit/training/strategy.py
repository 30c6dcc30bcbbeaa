"""The devices a training runs on: the local strategy (MirroredStrategy over several GPUs), seeding,
and the one-line description of the devices.
"""

from __future__ import annotations

from toolkit._tf import keras, tf


def local_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over the local GPUs when there are several (or, without GPUs, over several
    logical CPU devices when the CPU was split); otherwise the default one-device strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    devices = gpus if gpus else tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds; op determinism on CPU-only machines (identical reruns)."""
    keras.utils.set_random_seed(seed)
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def devices_line(strategy: tf.distribute.Strategy) -> str:
    """The devices the strategy replicates over (the default strategy: the first GPU, else the CPU)."""
    try:
        return ", ".join(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy does not list them
        return (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))[0].name


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB: Linux's ``VmHWM`` (of this program; the peak
    that ``getrusage`` reports survives ``exec`` and so counts the parent a ``fork`` copied, measured:
    every training a benchmark started reported its 2.3 GB), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError):
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
