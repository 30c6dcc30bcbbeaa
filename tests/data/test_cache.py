"""data.cache: encoded arrays cached by source and settings (aclImdb and tabular files), damaged entries
rebuilt, and a cache hit logging the lines of the first load."""

import json

import numpy as np

from tests.data.tables import CUES, write_jsonl
from tests.helpers import data_cfg
from toolkit.config import DataConfig
from toolkit.data.dataset import load_data


def test_encoded_arrays_are_cached_by_source_and_settings(corpus_tarball, tmp_path):
    cfg = data_cfg(corpus_tarball, cache_dir=str(tmp_path))
    first = load_data(cfg)
    assert not first.from_cache
    files = list((tmp_path / "encoded").glob("*.npz"))
    assert len(files) == 1
    second = load_data(cfg)
    assert second.from_cache and second.vocabulary == first.vocabulary and second.invalid_utf8 == 1
    np.testing.assert_array_equal(second.train.x, first.train.x)
    np.testing.assert_array_equal(second.test.review_ids, first.test.review_ids)
    # another maxlen is another cache entry, not a stale hit
    other = load_data(DataConfig(path=str(corpus_tarball), num_words=30, maxlen=10, cache_dir=str(tmp_path)))
    assert not other.from_cache and other.train.x.shape[1] == 10
    assert len(list((tmp_path / "encoded").glob("*.npz"))) == 2
    # a damaged cache entry is ignored and rebuilt, never an error
    (cache,) = files
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(cache, **{**arrays, "meta": np.array("{}")})  # readable, but its meta lacks the fields
    assert not load_data(cfg).from_cache and load_data(cfg).from_cache
    cache.write_bytes(cache.read_bytes()[:200])  # truncated
    rebuilt = load_data(cfg)
    assert not rebuilt.from_cache and np.array_equal(rebuilt.train.x, first.train.x)


def _logged(capsys) -> list[str]:
    """The log lines of a load but its progress lines (files read, reviews tokenised)."""
    lines = capsys.readouterr().err.splitlines()
    return [line for line in lines if not line.startswith(("reading ", "tokenising "))]


def test_a_cache_hit_logs_the_lines_of_the_first_load(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ["pos", "neutral", "neg"] * 4 + [""])  # a null label: skipped
    write_jsonl(folder / "test.jsonl", ["neg", "pos", "neutral"])
    write_jsonl(folder / "validation.jsonl", ["neg"])
    (folder / "README.md").write_text("about")
    parts = [("pos", "train"), ("neg", "train")] * 5 + [("pos", "test"), ("neg", "test"), ("neg", "dev")]
    split = tmp_path / "split.jsonl"
    split.write_text(
        "".join(
            json.dumps({"text": f"{CUES[lab]} {i}", "label": lab, "split": p}) + "\n"
            for i, (lab, p) in enumerate(parts)
        )
    )
    plain = write_jsonl(tmp_path / "plain.jsonl", ["pos", "neg"] * 10)
    cache = str(tmp_path / "cache")
    expected = {
        folder: ["not tabular: README.md", "(validation): validation.jsonl", "columns: text 'review'",
                 "skipped 1 row: 1 null label", "3 classes: neg, neutral, pos", "as the validation set: 3"],
        split: ["split 'split' (found by name", "ignoring 1 row whose split is neither train nor test (dev 1)",
                "2 classes: neg, pos"],
        plain: ["columns: text 'review'", "no test split in the data: holding out 20 %", "2 classes: neg, pos"],
    }  # fmt: skip
    for path, lines in expected.items():
        cfg = data_cfg(path, cache_dir=cache, validation_fraction=0.25 if path == folder else 0.0)
        capsys.readouterr()
        assert not load_data(cfg).from_cache
        first = _logged(capsys)
        assert len(first) == len(lines) and all(want in got for want, got in zip(lines, first)), first
        assert load_data(cfg).from_cache
        assert _logged(capsys) == first
    # the same files through another path: a hit logs that path's own file lines, not the first's
    assert load_data(data_cfg(f"{folder}/*.jsonl", cache_dir=cache, validation_fraction=0.25)).from_cache
    logged = _logged(capsys)
    assert "README.md" not in "".join(logged) and "(validation): validation.jsonl" in logged[0]


def test_tabular_arrays_are_cached_by_files_and_settings(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    train = write_jsonl(folder / "train.jsonl", ["pos", "neutral", "neg"] * 4)
    write_jsonl(folder / "test.jsonl", ["neg", "pos", "neutral"])
    cache = str(tmp_path / "cache")
    cfg = data_cfg(folder, cache_dir=cache, validation_fraction=0.25)
    first = load_data(cfg)
    second = load_data(cfg)
    assert not first.from_cache and second.from_cache and second.classes == first.classes
    assert second.source == first.source and second.source_sha256 == first.source_sha256
    for split in ("train", "validation", "test"):
        for field in ("x", "y", "review_ids"):
            np.testing.assert_array_equal(getattr(getattr(second, split), field), getattr(getattr(first, split), field))
    assert second.vocabulary == first.vocabulary
    assert not load_data(data_cfg(folder, cache_dir=cache, validation_fraction=0.25, seed=8)).from_cache
    assert not load_data(data_cfg(folder, cache_dir=cache, labels=("pos", "neutral", "neg"))).from_cache
    write_jsonl(train, ["pos", "neutral", "neg"] * 4, extra="changed")
    changed = load_data(cfg)
    assert not changed.from_cache and changed.source_sha256 != first.source_sha256
