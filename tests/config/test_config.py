"""config.py: every default in one place, checked on construction, derived (not copied) across configs."""

import json
from dataclasses import replace

import pytest

from toolkit.config import (
    ClusterConfig,
    DataConfig,
    ExportConfig,
    InferBenchConfig,
    JobConfig,
    ModelConfig,
    ScalingBenchConfig,
    Tolerances,
    TrainBenchConfig,
    TrainConfig,
    VerifyConfig,
    from_dict,
    to_dict,
)
from toolkit.core.errors import ConfigError


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: DataConfig(source="csv"), "unknown data source"),
        (lambda: DataConfig(num_words=3), "num_words must be > 3"),
        (lambda: DataConfig(maxlen=0), "maxlen must be between 1"),
        (lambda: DataConfig(limit=1), "limit must be >= 2"),
        (lambda: ModelConfig(dropout=1.0), "dropout"),
        (lambda: TrainConfig(learning_rate=float("nan")), "learning rate must be a finite number"),
        (lambda: TrainConfig(clipnorm=-1), "clipnorm"),
        (lambda: TrainConfig(run_name="a/b"), "plain folder name"),
        (lambda: TrainConfig(run_name=".hidden"), "plain folder name"),
        (lambda: TrainConfig(run_name="two\nlines"), r"run name 'two\\nlines' holds the control character '\\n'"),
        (lambda: TrainConfig(run_name="red\x1b[31m"), "control character"),
        (lambda: TrainConfig(run_name="tab\there"), "control character"),
        (lambda: TrainConfig(run_name="rtl\u202eover"), "control character"),
        (lambda: TrainConfig(run_name="line\u2028sep"), "control character"),
        (lambda: ClusterConfig(workers=-1), "workers must be >= 0"),
        (lambda: ClusterConfig(workers=2, gpus_per_worker=1.5), "fraction below 1"),
        (lambda: ClusterConfig(workers=2, collective="nccl"), "NCCL cannot run two replicas"),
        (lambda: ClusterConfig(address="auto"), "need --workers >= 1"),
        (lambda: Tolerances(atol=-1), "atol and rtol must be >= 0"),
        (lambda: Tolerances(min_label_agreement=1.5), "min label agreement"),
        (lambda: ExportConfig(opset=12), "opset 12 is not supported"),
        (lambda: ExportConfig(quantize=("int4",)), "unknown --quantize"),
        (lambda: VerifyConfig(split="dev"), "unknown split"),
        (lambda: InferBenchConfig(batch_sizes=(1, 64), reviews=10), "smaller than the largest batch size"),
        (lambda: TrainBenchConfig(setups=("slow",)), "unknown setup"),
        (lambda: ScalingBenchConfig(step_ms=0.0), "--step-ms must be > 0"),
    ],
)
def test_bad_settings_are_config_errors_that_say_what_is_wrong(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_the_defaults_are_the_tutorials():
    data, model, train = DataConfig(), ModelConfig(), TrainConfig()
    assert (data.num_words, data.maxlen) == (model.num_words, model.maxlen) == (5000, 500)
    assert (model.embedding_dim, model.lstm_units, model.dropout) == (32, 100, 0.2)
    assert (train.epochs, train.batch_size, train.learning_rate) == (3, 64, 1e-3)
    assert ClusterConfig().workers == 0 and ExportConfig().opset == 17 and Tolerances().atol == 1e-5
    assert TrainBenchConfig().batch_size == train.batch_size == ScalingBenchConfig().per_gpu_batch


def test_a_job_derives_its_model_from_the_data_and_is_named_once_when_training_starts():
    from toolkit.training.prepare import named

    job = JobConfig(DataConfig(num_words=40, maxlen=20))
    assert (job.model.num_words, job.model.maxlen, job.model.mask_padding) == (40, 20, True)
    assert job.train.run_name is None and job == JobConfig(DataConfig(num_words=40, maxlen=20))  # no timestamp
    with pytest.raises(ConfigError, match="no name yet"):
        _ = job.run_dir
    fixed = named(job)
    assert fixed.train.run_name.startswith("imdb-lstm-") and fixed.run_dir.name == fixed.train.run_name
    assert named(fixed) is fixed  # a named job keeps its name
    assert JobConfig(train=TrainConfig(run_name="x", exports_dir="out")).run_dir.as_posix() == "out/x"
    with pytest.raises(ConfigError, match="must be the data's"):
        JobConfig(DataConfig(maxlen=20), ModelConfig(maxlen=30))


def test_faithful_sets_the_model_and_the_input_together_and_the_rule_is_checked_once():
    job = JobConfig.create(DataConfig(maxlen=20), TrainConfig(run_name="f"), faithful=True)
    assert job.model.mask_padding is False and job.train.length_buckets is False
    default = JobConfig.create(DataConfig(maxlen=20), TrainConfig(run_name="d"))
    assert default.model.mask_padding is True and default.train.length_buckets is True
    with pytest.raises(ConfigError, match="length buckets need a model that masks its padding"):
        JobConfig(DataConfig(), replace(ModelConfig(), mask_padding=False), TrainConfig())


def test_cluster_defaults_derive_cpus_and_collective_from_the_gpus():
    assert ClusterConfig(workers=2).worker_cpus == 1 and ClusterConfig(workers=2).resolved_collective == "ring"
    gpu = ClusterConfig(workers=2, gpus_per_worker=1)
    assert gpu.worker_cpus == 2 and gpu.resolved_collective == "nccl"
    assert ClusterConfig(workers=2, gpus_per_worker=4).worker_cpus == 8
    assert ClusterConfig(workers=2, gpus_per_worker=0.5).resolved_collective == "ring"


def test_configs_round_trip_through_json_and_refuse_values_of_the_wrong_type():
    train = TrainConfig(run_name="r", learning_rate=2e-3)
    assert from_dict(TrainConfig, json.loads(json.dumps(to_dict(train)))) == train
    assert from_dict(ModelConfig, {"maxlen": 30, "from_a_newer_toolkit": 1}) == ModelConfig(maxlen=30)
    assert from_dict(TrainConfig, {"learning_rate": 1}).learning_rate == 1  # an int is a number
    with pytest.raises(ConfigError, match=r"ModelConfig.maxlen must be a whole number, got '500'"):
        from_dict(ModelConfig, {"maxlen": "500"})
    with pytest.raises(ConfigError, match="must be true or false"):
        from_dict(ModelConfig, {"mask_padding": 1})
    with pytest.raises(ConfigError, match="run_name must be text or null"):
        from_dict(TrainConfig, {"run_name": 7})
    with pytest.raises(ConfigError, match="expected a table"):
        from_dict(DataConfig, ["path"])


def test_a_bad_value_from_someone_elses_config_is_shown_cut_short():
    """config.json is untrusted: a gigabyte string or a list nested 900 deep gives a short one-line error."""
    for value in ("x" * 1_000_000, json.loads("[" * 900 + "]" * 900)):
        with pytest.raises(ConfigError, match="ModelConfig.maxlen must be a whole number, got ") as caught:
            from_dict(ModelConfig, {"maxlen": value})
        assert len(str(caught.value)) < 200


def test_run_names_may_hold_any_printable_text():
    assert TrainConfig(run_name="café-run_2 (ok)").run_name == "café-run_2 (ok)"


@pytest.mark.parametrize("name", ["ray", "tensorboard", "prepared"])
def test_a_run_may_not_take_the_name_of_a_folder_the_toolkit_keeps_beside_runs(name):
    with pytest.raises(ConfigError, match=f"run name '{name}' is taken by the toolkit's own folder"):
        TrainConfig(run_name=name)
    assert TrainConfig(run_name=f"{name}-1").run_name == f"{name}-1"
