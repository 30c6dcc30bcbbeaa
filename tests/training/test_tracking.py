"""Issue 21, points 1 and 2: TensorBoard events (live under <exports>/tensorboard/<run>/, then in the run
folder's tensorboard/), read back with TensorBoard's own loader; training.png; the model card's link."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from toolkit.config import ClusterConfig, DataConfig, JobConfig, ModelConfig, TrainConfig
from toolkit.edge.contract import EVENTS_DIR, TRAINING_PNG

PNG = b"\x89PNG\r\n\x1a\n"
EPOCH_TAGS = {f"epoch/{t}" for t in ("loss", "accuracy", "learning_rate", "reviews_per_second")}
QUARTER_TAGS = {f"quarter/{t}" for t in ("loss", "accuracy", "learning_rate", "reviews_per_second")}
VALIDATION_TAGS = {"epoch/val_loss", "epoch/val_accuracy"}


def scalars(logdir) -> dict:
    """{run: {tag: [(step, value)]}} as TensorBoard's loader reads ``logdir`` (every run below it)."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.util import tensor_util

    mux = EventMultiplexer().AddRunsFromDirectory(str(logdir))
    mux.Reload()
    out = {}
    for run, tags in mux.Runs().items():
        acc = mux.GetAccumulator(run)
        out[run] = {
            tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            for tag in tags["tensors"]
        }
    return out


def _row(epoch, **extra):
    return {"epoch": epoch, "loss": 1 / epoch, "accuracy": 0.5 + epoch / 10, "learning_rate": 1e-3,
            "reviews_per_second": 100.0 * epoch, "seconds": 1.0, **extra}  # fmt: skip


def test_quarters_end_after_a_quarter_of_the_batches_each():
    from toolkit.training.epochs import quarter_batches

    assert quarter_batches(8) == {2: 1, 4: 2, 6: 3}
    assert quarter_batches(10) == {2: 1, 5: 2, 7: 3}
    assert quarter_batches(4) == {1: 1, 2: 2, 3: 3}
    assert quarter_batches(3) == {} and quarter_batches(0) == {}  # only the epoch's end


def test_event_log_is_read_by_tensorboard_with_its_tags_and_steps(tmp_path):
    from toolkit.training.events import EventLog, live_events_dir

    live = live_events_dir(tmp_path / "exports", "r")
    assert live == tmp_path / "exports" / "tensorboard" / "r"
    with EventLog(live) as events:
        for epoch in (1, 2):
            for q in (1, 2, 3):
                events.quarter({"step": 4 * (epoch - 1) + q, "loss": 0.9, "accuracy": 0.6, "learning_rate": 1e-4 * q,
                                "reviews_per_second": 50.0, "epoch": epoch, "batch": q, "steps": 4})  # fmt: skip
            events.epoch(_row(epoch, val_loss=0.7, val_accuracy=0.55))
    (found,) = os.listdir(live)  # one event file
    runs = scalars(tmp_path / "exports")
    assert list(runs) == ["tensorboard/r"]
    tags = runs["tensorboard/r"]
    assert set(tags) == EPOCH_TAGS | QUARTER_TAGS | VALIDATION_TAGS
    assert tags["epoch/loss"] == [(1, 1.0), (2, 0.5)]
    assert [s for s, _ in tags["epoch/val_accuracy"]] == [1, 2]
    assert [s for s, _ in tags["quarter/loss"]] == list(range(1, 9))
    assert tags["quarter/loss"][3] == (4, 1.0)  # quarter 4 is epoch 1's end
    assert tags["quarter/learning_rate"][:3] == [(1, pytest.approx(1e-4)), (2, pytest.approx(2e-4)),
                                                 (3, pytest.approx(3e-4))]  # fmt: skip


def test_no_validation_split_writes_no_validation_tags(tmp_path):
    from toolkit.training.events import EventLog

    with EventLog(tmp_path / "r") as events:
        events.epoch(_row(1))
    assert set(scalars(tmp_path / "r")["."]) == EPOCH_TAGS | QUARTER_TAGS


def test_a_failed_training_removes_only_the_events_it_wrote(tmp_path):
    from toolkit.training.events import EventLog

    live = tmp_path / "tensorboard" / "r"
    live.mkdir(parents=True)
    other_host = live / "events.out.tfevents.1700000000.elsewhere.example.1.1.v2"
    other_host.write_bytes(b"")
    with pytest.raises(KeyboardInterrupt):
        with EventLog(live) as events:
            events.epoch(_row(1))
            assert len(os.listdir(live)) == 2
            raise KeyboardInterrupt
    assert os.listdir(live) == [other_host.name]  # another machine's file stays, so does the folder
    with pytest.raises(RuntimeError):
        with EventLog(tmp_path / "tensorboard" / "s") as events:
            events.epoch(_row(1))
            raise RuntimeError
    assert sorted(os.listdir(tmp_path / "tensorboard")) == ["r"]  # its folder went, the parent stays (not empty)


def test_the_events_of_a_dead_training_are_removed_unless_the_run_resumes(tmp_path):
    from toolkit.training.events import EventLog, event_files

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    stale = tmp_path / f"events.out.tfevents.1700000000.{host}.{dead.stdout.strip()}.1.v2"
    mine = tmp_path / "notes.txt"
    for path in (stale, mine):
        path.write_bytes(b"x")
    resumed = EventLog(tmp_path)
    resumed.resumed()
    with resumed:
        resumed.epoch(_row(1))
    assert stale.exists() and len(event_files(tmp_path)) == 2
    with EventLog(tmp_path) as fresh:
        fresh.epoch(_row(1))
    assert not stale.exists() and mine.read_bytes() == b"x" and len(event_files(tmp_path)) == 2


def test_training_png_is_a_png_with_or_without_validation(tmp_path):
    from toolkit.training.curves import plot_training

    validated = [_row(1, val_loss=0.6, val_accuracy=0.6), _row(2, val_loss=0.5, val_accuracy=0.7)]
    plot_training(tmp_path / "a.png", validated)
    plot_training(tmp_path / "b.png", [_row(1)])
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG) and (tmp_path / name).stat().st_size > 5000


def test_write_run_takes_only_other_run_files_as_extras(tmp_path):
    from toolkit.artifacts.runs import write_run
    from toolkit.edge.text import Vocabulary

    vocab = Vocabulary.build(["a b"], num_words=10, maxlen=5)
    with pytest.raises(ValueError, match=r"\['config.json', 'notes.txt'\]"):
        write_run(tmp_path / "r", lambda p: p.write_bytes(b"m"), vocab, {}, {},
                  extras={"notes.txt": print, "config.json": print})  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_the_model_card_shows_training_png_only_when_the_export_has_it(tmp_path):
    from toolkit.artifacts.runs import Run
    from toolkit.edge.text import Vocabulary
    from toolkit.export.modelcard import model_card

    vocab = Vocabulary.build(["a good film", "a bad film"], num_words=10, maxlen=5)
    metrics = {"epochs": [_row(1), _row(2)], "test": {"accuracy": 0.8, "reviews": 10}, "validation_reviews": 40}
    run = Run(tmp_path / "run", {"model": {}}, metrics, vocab)
    card = model_card(run, {"fp32": "model.onnx"}, {"fp32": 1000}, 17, True, curves=True)
    assert "## Training" in card and f"![loss and accuracy per epoch]({TRAINING_PNG})" in card
    assert "over 2 epoch(s), on the training reviews, and on the 40 validation reviews" in card
    assert TRAINING_PNG not in model_card(run, {"fp32": "model.onnx"}, {"fp32": 1000}, 17, True)


# --- real trainings ---------------------------------------------------------------------------------


def _job(real_tarball, real_cache, tmp_path, name, cluster=None, **train):
    data = DataConfig(path=str(real_tarball), cache_dir=real_cache, limit=400, maxlen=40, validation_fraction=0.25)
    settings = {"epochs": 2, "batch_size": 32, "run_name": name, "exports_dir": str(tmp_path / "exports"), **train}
    return JobConfig(data, ModelConfig(maxlen=40), TrainConfig(**settings), cluster or ClusterConfig())


def _check_run(run_dir, exports):
    """The run folder holds training.png and one set of events with every tag; the live folder is gone."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / TRAINING_PNG).read_bytes().startswith(PNG)
    assert len(os.listdir(run_dir / EVENTS_DIR)) == 1  # one event file: one writer
    assert not (exports / "tensorboard").exists()  # the live folder moved into the run
    runs = scalars(exports)
    assert list(runs) == [f"{run_dir.name}/{EVENTS_DIR}"]
    tags = runs[f"{run_dir.name}/{EVENTS_DIR}"]
    assert set(tags) == EPOCH_TAGS | QUARTER_TAGS | VALIDATION_TAGS
    assert [s for s, _ in tags["epoch/loss"]] == [1, 2] and [s for s, _ in tags["quarter/loss"]] == list(range(1, 9))
    assert [v for _, v in tags["epoch/loss"]] == pytest.approx([e["loss"] for e in metrics["epochs"]])
    assert [v for _, v in tags["epoch/val_accuracy"]] == pytest.approx([e["val_accuracy"] for e in metrics["epochs"]])
    return metrics, tags


@pytest.mark.slow
def test_a_training_writes_events_tensorboard_reads_and_training_png(real_tarball, real_cache, tmp_path):
    """300 training reviews (100 held out), batch 32: 10 batches an epoch, 2 epochs; a warm-up over the
    first epoch, so the learning rate TensorBoard shows rises quarter by quarter (read from the optimizer)."""
    from toolkit.training.local import train

    result = train(_job(real_tarball, real_cache, tmp_path, "tiny", warmup_epochs=1.0))
    metrics, tags = _check_run(result.run_dir, tmp_path / "exports")
    rates = [v for _, v in tags["quarter/learning_rate"]]
    assert rates[:4] == sorted(rates[:4]) and rates[0] < rates[3] == pytest.approx(1e-3)  # warm-up, then full
    assert rates[4:] == pytest.approx([1e-3] * 4)
    assert [e["learning_rate"] for e in metrics["epochs"]] == pytest.approx([1e-3, 1e-3])
    assert all(v > 0 for _, v in tags["quarter/reviews_per_second"])


@pytest.mark.slow
def test_the_export_carries_training_png_and_an_older_run_exports_without_it(real_tarball, real_cache, tmp_path):
    from toolkit.export.convert import export_run
    from toolkit.training.local import train

    run_dir = train(_job(real_tarball, real_cache, tmp_path, "card", epochs=1)).run_dir
    exported = export_run(run_dir)
    assert (exported.path / TRAINING_PNG).read_bytes() == (run_dir / TRAINING_PNG).read_bytes()
    assert f"]({TRAINING_PNG})" in (exported.path / "README.md").read_text()

    older = tmp_path / "older"  # a run folder from before the curves: no training.png, no tensorboard/
    shutil.copytree(run_dir, older, ignore=shutil.ignore_patterns("onnx", TRAINING_PNG, EVENTS_DIR))
    again = export_run(older)
    assert not (again.path / TRAINING_PNG).exists() and TRAINING_PNG not in (again.path / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # the Ray tests run one after another on one xdist worker
def test_ray_training_writes_one_set_of_events_from_the_driver(real_tarball, real_cache, tmp_path):
    from toolkit.training.ray.driver import train_on_ray

    cluster = ClusterConfig(workers=2, cpus_per_worker=1, storage=str(tmp_path / "storage"))
    result = train_on_ray(_job(real_tarball, real_cache, tmp_path, "on-ray", cluster))
    assert result.metrics["replicas"] == 2
    _check_run(result.run_dir, tmp_path / "exports")
