"""GPU tests (marker ``gpu``): ``pytest -m gpu`` on a machine with a GPU and ``pip install -e '.[gpu]'``.

Skipped, with the reason, where TensorFlow sees no GPU: the only tests allowed to skip in CI. Figures
(seconds per epoch, parity) are printed, and appended as JSON lines to ``$TOOLKIT_GPU_REPORT`` when set."""

import json
import os

import numpy as np
import pytest

from toolkit.config import ClusterConfig, DataConfig, JobConfig, ModelConfig, TrainConfig
from toolkit.edge import batches

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def _gpus():
    from toolkit._tf import tf

    return tf.config.list_physical_devices("GPU")


@pytest.fixture(scope="module", autouse=True)
def need_a_gpu():
    if not _gpus():
        pytest.skip(
            "no GPU visible to TensorFlow: the GPU tests run on a GPU machine (pip install -e '.[gpu]'; pytest -m gpu)"
        )


def _record(**figures) -> None:
    print("\nGPU figures:", json.dumps(figures))
    if os.environ.get("TOOLKIT_GPU_REPORT"):
        with open(os.environ["TOOLKIT_GPU_REPORT"], "a", encoding="utf-8") as f:
            f.write(json.dumps(figures) + "\n")


@pytest.fixture(scope="module")
def real_data(real_tarball, real_cache):
    from toolkit.data.dataset import load_data

    return load_data(DataConfig(path=str(real_tarball), cache_dir=real_cache))


@pytest.fixture(scope="module")
def default_run(real_tarball, real_cache, real_data, tmp_path_factory):
    """One epoch of default training (masked padding, length buckets) on the full data, on the GPU."""
    from toolkit.training.local import train

    root = tmp_path_factory.mktemp("gpu-runs")
    result = train(
        JobConfig(
            DataConfig(path=str(real_tarball), cache_dir=real_cache),
            ModelConfig(),
            TrainConfig(epochs=1, run_name="default", exports_dir=str(root)),
        ),
        data=real_data,
    )
    return result


def test_tensorflow_sees_the_gpu_with_memory_growth():
    from toolkit._tf import tf

    gpus = _gpus()
    assert gpus and tf.test.is_built_with_cuda()
    assert all(tf.config.experimental.get_memory_growth(g) for g in gpus)
    _record(test="devices", gpus=[g.name for g in gpus], details=tf.config.experimental.get_device_details(gpus[0]))


def test_the_lstm_runs_the_cudnn_kernel_on_default_training_batches(real_data):
    from tf_keras.src.layers.rnn import gru_lstm_utils

    from toolkit._tf import keras, tf
    from toolkit.training.input import train_input

    embedding = keras.layers.Embedding(5000, 32, mask_zero=True)
    lstm = keras.layers.LSTM(100, return_runtime=True)  # tf_keras reports the kernel that actually ran

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def runtime_of(ids):
        _, runtime = lstm(embedding(ids), mask=embedding.compute_mask(ids))
        return runtime

    dataset, _ = train_input(
        tf.distribute.get_strategy(), real_data.train.x, real_data.train.y, ModelConfig(), TrainConfig()
    )
    pieces = [ids.numpy() for ids, _ in dataset.take(40)]
    runtimes = [int(runtime_of(p)) for p in pieces]
    pre_padded = [int(runtime_of(np.ascontiguousarray(batches.right_align(p[:, ::-1])[:, ::-1]))) for p in pieces]
    _record(
        test="cudnn",
        default_batches_on_cudnn=runtimes.count(gru_lstm_utils.RUNTIME_GPU),
        of=len(pieces),
        pre_padded_on_cudnn=pre_padded.count(gru_lstm_utils.RUNTIME_GPU),
    )
    assert runtimes == [gru_lstm_utils.RUNTIME_GPU] * len(pieces)
    assert gru_lstm_utils.RUNTIME_CPU in pre_padded  # the same reviews pre-padded miss cuDNN


def test_one_epoch_default_and_faithful_on_the_gpu(default_run, real_tarball, real_cache, real_data, tmp_path):
    from dataclasses import replace

    from toolkit.training.local import train

    faithful = train(
        JobConfig(
            DataConfig(path=str(real_tarball), cache_dir=real_cache),
            replace(ModelConfig(), mask_padding=False),
            TrainConfig(epochs=1, run_name="faithful", exports_dir=str(tmp_path), length_buckets=False),
        ),
        data=real_data,
    )
    for result in (default_run, faithful):
        assert " 0 GPU(s)" not in result.metrics["environment"]["machine"]
    d, f = default_run.metrics["epochs"][0]["seconds"], faithful.metrics["epochs"][0]["seconds"]
    _record(
        test="epoch",
        default_seconds=d,
        faithful_seconds=f,
        default_over_faithful_speed=round(f / d, 3),
        default_test_accuracy=default_run.metrics["test"]["accuracy"],
        faithful_test_accuracy=faithful.metrics["test"]["accuracy"],
    )


def test_an_export_made_with_a_gpu_visible_has_no_cudnn_op_and_verifies(default_run):
    import onnx

    from toolkit.export.convert import export_run
    from toolkit.verify.check import verify_export

    exported = export_run(default_run.run_dir)
    ops = {n.op_type for n in onnx.load(str(exported.path / "model.onnx")).graph.node}
    assert "LSTM" in ops and not any("Cudnn" in op for op in ops), sorted(ops)
    report = verify_export(exported.path)
    fp32 = report["variants"]["fp32"]
    _record(
        test="parity",
        reviews=report["reviews"],
        labels_equal=fp32["labels_equal"],
        max_abs_diff=fp32["max_abs_diff"],
        keras_device=report["keras_device"],
    )
    assert report["passed"] and fp32["max_abs_diff"] <= 1e-5 and fp32["labels_equal"] == report["reviews"]


def test_two_ray_workers_share_one_gpu_and_train_in_sync(real_tarball, real_cache, tmp_path):
    from toolkit.training.ray.driver import train_on_ray

    result = train_on_ray(
        JobConfig(
            DataConfig(path=str(real_tarball), cache_dir=real_cache, limit=2000, maxlen=100),
            ModelConfig(maxlen=100),
            TrainConfig(epochs=1, run_name="shared", exports_dir=str(tmp_path)),
            ClusterConfig(workers=2, gpus_per_worker=0.5, storage=str(tmp_path / "storage")),
        )
    )
    m = result.metrics
    _record(test="ray-shared-gpu", worker_devices=m["worker_devices"], seconds=m["epochs"][0]["seconds"])
    assert m["replicas"] == 2 and m["collective"] == "ring"
    assert len(m["worker_devices"]) == 2 and all("GPU" in w["devices"] for w in m["worker_devices"])
    assert m["worker_devices"][0]["gpu_ids"] == m["worker_devices"][1]["gpu_ids"]  # the same GPU
