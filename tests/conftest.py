"""Shared fixtures: a generated tiny corpus in the aclImdb layout, the real shared tarball, and an
isolated cache so tests never touch ~/.cache/toolkit."""

from __future__ import annotations

import os
import random
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TARBALL = REPO.parent / "shared" / "data" / "aclImdb_v1_train_test.tar.gz"
# CI points TOOLKIT_DATA at the real tarball; read it before the autouse fixture below clears it.
REAL_DATA = Path(os.environ.get("TOOLKIT_DATA") or SHARED_TARBALL)

POSITIVE = ["great", "excellent", "wonderful", "loved", "best", "brilliant"]
NEGATIVE = ["awful", "terrible", "worst", "boring", "waste", "bad"]
FILLER = ["the", "movie", "film", "a", "and", "of", "plot", "actor", "scene", "story", "it", "was"]


def make_corpus(root: Path, per_class: int = 20, seed: int = 0) -> Path:
    """Write ``root/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` plus the clutter of the real
    archive (README, imdb.vocab, train/unsup, a non-UTF-8 review); return the aclImdb folder."""
    rng = random.Random(seed)
    base = root / "aclImdb"
    for split in ("train", "test"):
        for label, cue, ratings in (("pos", POSITIVE, (7, 10)), ("neg", NEGATIVE, (1, 4))):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                words = rng.choices(FILLER, k=rng.randint(5, 30)) + rng.choices(cue, k=3)
                rng.shuffle(words)
                text = " ".join(words).capitalize() + ".<br /><br />The End!"
                if split == "test" and i == 0:
                    text += " testonlyword"
                (folder / f"{i}_{rng.randint(*ratings)}.txt").write_text(text, encoding="utf-8")
    # one review whose bytes are not UTF-8 (Latin-1 e-acute)
    (base / "train" / "pos" / f"{per_class}_9.txt").write_bytes(b"Caf\xe9 scenes were great and brilliant")
    unsup = base / "train" / "unsup"
    unsup.mkdir()
    (unsup / "0_0.txt").write_text("unlabelled review that must be ignored", encoding="utf-8")
    (base / "README").write_text("tiny corpus", encoding="utf-8")
    (base / "imdb.vocab").write_text("the\nmovie\n", encoding="utf-8")
    return base


def make_tarball(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return dest


UNGROUPED = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """On a pytest-xdist worker under --dist loadgroup, xdist has suffixed each grouped test's node id
    with its group by now; without the suffix the Ray tests run side by side on both workers and one
    test's `ray stop` kills another's Ray (pytest 9.2 with xdist 3.8). Fail those tests then, not flake."""
    if getattr(config.option, "loadgroup", False):
        for item in items:
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
                item.stash[UNGROUPED] = True


def pytest_runtest_setup(item):
    if item.stash.get(UNGROUPED, False):
        pytest.fail(
            "pytest-xdist --dist loadgroup did not group this test with the others of its xdist_group: "
            "this pytest and pytest-xdist do not work together; install the versions pyproject.toml names",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty cache and no TOOLKIT_DATA unless it sets one."""
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("TOOLKIT_DATA", raising=False)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def corpus_tarball(corpus_dir, tmp_path_factory) -> Path:
    return make_tarball(corpus_dir, tmp_path_factory.mktemp("tarball") / "aclImdb_v1.tar.gz")


@pytest.fixture(scope="session")
def real_tarball() -> Path:
    """The real IMDB archive from ../shared. Missing data fails under CI=true and skips elsewhere."""
    path = REAL_DATA
    if not path.is_file():
        message = f"real IMDB tarball not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory) -> str:
    """One encoded-array cache shared by the tests that read the real reviews (tokenise once)."""
    return str(tmp_path_factory.mktemp("real-cache"))


@pytest.fixture(scope="session")
def trained_run(real_tarball, tmp_path_factory):
    """A model trained for one epoch on 1,000 real reviews (its own cache), shared by the test session."""
    from tests.helpers import MAXLEN
    from toolkit.config import DataConfig, JobConfig, ModelConfig, TrainConfig
    from toolkit.training.local import train

    root = tmp_path_factory.mktemp("export-run")
    data = DataConfig(path=str(real_tarball), cache_dir=str(root / "cache"), limit=1000, maxlen=MAXLEN)
    result = train(
        JobConfig(data, ModelConfig(maxlen=MAXLEN), TrainConfig(epochs=1, run_name="small", exports_dir=str(root)))
    )
    return result.run_dir


@pytest.fixture(scope="session")
def exported(trained_run):
    """``trained_run`` exported with its int8 variant and the text models (shared: copy it to edit it)."""
    from toolkit.config import ExportConfig
    from toolkit.export.convert import export_run

    return export_run(trained_run, ExportConfig(quantize=("int8",)))


@pytest.fixture
def export(tmp_path):
    """A hand-built export folder (no TensorFlow, no training): tiny ids and text models, vocab.json."""
    import onnx

    from tests.helpers import TEXTS, add_text_model, ids_model
    from toolkit.edge.contract import ONNX_FILE, VOCAB_FILE
    from toolkit.edge.text import Vocabulary

    vocab = Vocabulary.build(TEXTS * 3, num_words=10, maxlen=6)
    folder = tmp_path / "export"
    folder.mkdir()
    vocab.save(folder / VOCAB_FILE)
    onnx.save(ids_model(vocab), str(folder / ONNX_FILE))
    add_text_model(folder, vocab)
    return folder


@pytest.fixture(scope="session")
def ort_web(tmp_path_factory) -> Path:
    """onnxruntime-web installed by npm from the web page's package.json, as a user would (slow: the install)."""
    import shutil
    import subprocess

    from tests.helpers import missing_tool

    npm = shutil.which("npm")
    if npm is None:
        missing_tool("npm is not installed (apt install npm)")
    folder = tmp_path_factory.mktemp("ort-web")
    shutil.copy(Path(__file__).resolve().parents[1] / "toolkit" / "clients" / "web" / "package.json", folder)
    args = [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    install = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    return folder
