"""toolkit: train the IMDB LSTM (one process or Ray Train), export it to ONNX, verify parity, predict.

The public API. Every name is imported on first use (PEP 562), so ``import toolkit`` loads neither
TensorFlow nor Ray, and ``from toolkit import Classifier`` loads only NumPy and onnxruntime::

    from toolkit import Classifier
    Classifier.load("exports/my-run/onnx").predict(["A wonderful film."])

    from toolkit import DataConfig, JobConfig, TrainConfig, run_job
    result = run_job(JobConfig(DataConfig(path="aclImdb_v1.tar.gz"), train=TrainConfig(run_name="r")))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # edge inference: NumPy and onnxruntime only
    "Classifier": "toolkit.edge.predict",
    "Prediction": "toolkit.edge.predict",
    "read_reviews_file": "toolkit.edge.reviews",
    # data
    "load_data": "toolkit.data.dataset",
    "LabelledData": "toolkit.data.dataset",
    "load_imdb": "toolkit.data.dataset",  # the names before user data
    "ImdbData": "toolkit.data.dataset",
    # the stages
    "prepare_job": "toolkit.workflow.prepare",
    "read_manifest": "toolkit.data.prepared",
    "train_job": "toolkit.training.job",
    "TrainResult": "toolkit.training.prepare",
    "run_job": "toolkit.workflow.run",
    "JobResult": "toolkit.workflow.run",
    "export_run": "toolkit.export.convert",
    "ExportResult": "toolkit.export.convert",
    "verify_export": "toolkit.verify.check",
    "evaluate_run": "toolkit.model.evaluate",
    "bench_infer": "toolkit.bench.infer",
    "bench_train": "toolkit.bench.train",
    "bench_scaling": "toolkit.bench.scaling",
    "bench_load": "toolkit.bench.load",
    "bench_data": "toolkit.bench.data",
    # configs
    **{
        name: "toolkit.config"
        for name in (
            "DataConfig",
            "ModelConfig",
            "TrainConfig",
            "ClusterConfig",
            "JobConfig",
            "ExportConfig",
            "VerifyConfig",
            "Tolerances",
            "InferBenchConfig",
            "TrainBenchConfig",
            "ScalingBenchConfig",
            "LoadBenchConfig",
            "PrepareConfig",
            "DataBenchConfig",
        )
    },
    # errors
    "ToolkitError": "toolkit.core.errors",
    "ParityError": "toolkit.core.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
