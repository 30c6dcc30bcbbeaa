"""training.prepare: the checks every training path starts with, on the tiny corpus (no TensorFlow)."""

import json
from dataclasses import replace

import pytest

from toolkit.config import DataConfig, JobConfig, ModelConfig, TrainConfig
from toolkit.core.errors import ConfigError, RunError
from toolkit.training.prepare import check_shapes, prepare


def _job(corpus_tarball, tmp_path, **train):
    data = DataConfig(path=str(corpus_tarball), num_words=40, maxlen=20)
    return JobConfig(data, train=TrainConfig(run_name="r", exports_dir=str(tmp_path), **train))


def test_prepare_loads_the_reviews_and_checks_them_against_the_model(corpus_tarball, tmp_path, capsys):
    job = _job(corpus_tarball, tmp_path)
    prepared = prepare(job)
    data, target = prepared.data, prepared.target
    assert prepared.job == job  # named already: kept as it is
    assert data.train.x.shape[1] == 20 and int(data.train.x.max()) < 40
    assert target.path == tmp_path / "r" and target.identity is None  # nothing there yet
    assert "reviews: train 41" in capsys.readouterr().err  # the summary is logged once, when loading
    assert prepare(job, data).data is data and capsys.readouterr().err == ""
    with pytest.raises(ConfigError, match="data maxlen 20 differs from model maxlen 30"):
        check_shapes(data, ModelConfig(num_words=40, maxlen=30))
    with pytest.raises(ConfigError, match="token ids >= the model's num_words 10"):
        check_shapes(data, ModelConfig(num_words=10, maxlen=20))


def test_prepare_refuses_a_run_folder_before_reading_any_review(corpus_tarball, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    job = JobConfig(
        DataConfig(path=str(tmp_path / "missing.tar.gz")), train=TrainConfig(run_name="r", exports_dir=str(tmp_path))
    )
    with pytest.raises(RunError, match="already exists"):
        prepare(job)  # the missing data would be a DataError: the folder was checked first
    with pytest.raises(RunError, match="not a run folder written by toolkit"):
        prepare(JobConfig(job.data, job.model, TrainConfig(run_name="r", exports_dir=str(tmp_path), overwrite=True)))
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_train_job_prepares_once_and_names_the_run_once(corpus_tarball, tmp_path, monkeypatch):
    """One training, one check of its folder (train_job hands its checks down, nothing re-prepares), and
    an unnamed job gets its timestamp name there, used by the run folder."""
    import toolkit.training.prepare as preparing
    from toolkit.training.job import train_job

    checked = []
    real = preparing.check_destination
    monkeypatch.setattr(
        preparing,
        "check_destination",
        lambda kind, path, overwrite: checked.append(path) or real(kind, path, overwrite),
    )
    data = DataConfig(path=str(corpus_tarball), num_words=40, maxlen=20)
    job = JobConfig(data, train=TrainConfig(epochs=1, batch_size=8, exports_dir=str(tmp_path)))
    result = train_job(job)
    assert checked == [result.run_dir] and result.run_dir.name.startswith("imdb-lstm-")
    assert (result.run_dir / "model.keras").is_file()


def test_the_model_takes_the_datas_classes(tmp_path):
    rows = [{"text": f"word{i % 3} filler text", "label": ["spam", "ham", "eggs"][i % 3]} for i in range(60)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = DataConfig(path=str(path), num_words=40, maxlen=20, cache_dir=str(tmp_path / "cache"))
    prepared = prepare(JobConfig(data, train=TrainConfig(run_name="r", exports_dir=str(tmp_path / "ex"))))
    assert prepared.job.model.classes == ("eggs", "ham", "spam") == prepared.data.classes  # sorted
    assert prepared.job.model.num_classes == 3
    with pytest.raises(ConfigError, match="class indexes outside the model's 2 classes"):
        check_shapes(prepared.data, ModelConfig(num_words=40, maxlen=20))


def test_prepared_data_refuses_the_flags_it_would_ignore_and_streams_only_the_default_input(tmp_path):
    from tests.data.test_prepared import write_prepared
    from toolkit.config import ClusterConfig

    folder, _ = write_prepared(tmp_path / "prepared")
    train = TrainConfig(exports_dir=str(tmp_path / "exports"), run_name="r")
    for data in (DataConfig(path=str(folder), limit=4), DataConfig(path=str(folder), labels=("neg", "pos"))):
        with pytest.raises(ConfigError, match="do not apply to prepared data"):
            prepare(JobConfig(data, None, train))
    faithful = JobConfig(
        DataConfig(path=str(folder)), ModelConfig(mask_padding=False), replace(train, length_buckets=False)
    )
    with pytest.raises(ConfigError, match="streamed training takes the default input"):
        prepare(replace(faithful, cluster=ClusterConfig(workers=2)))
    one = prepare(JobConfig(DataConfig(path=str(folder)), None, train))  # one process: the shards in memory
    assert len(one.data.train) == 6 and one.job.model.maxlen == 4 and one.job.model.num_words == 8
    assert not (tmp_path / "exports").exists()
