import hashlib
import http.server
import shutil
import tarfile
import threading

import numpy as np
import pytest

from toolkit.config import DataConfig
from toolkit.core.errors import DataError
from toolkit.data.imdb import load_imdb
from toolkit.data.sources import download, resolve_source
from toolkit.edge.text import OOV_ID, START_ID

PER_CLASS = 20  # tiny corpus reviews per class per split (+1 non-UTF-8 train/pos review)


def _cfg(path=None, **kw) -> DataConfig:
    return DataConfig(path=str(path) if path else None, num_words=30, maxlen=40, **kw)


@pytest.mark.parametrize("kind", ["folder", "parent", "tarball"])
def test_tiny_corpus_sources_read_labels_and_ignore_unsup(kind, corpus_dir, corpus_tarball):
    path = {"folder": corpus_dir, "parent": corpus_dir.parent, "tarball": corpus_tarball}[kind]
    data = load_imdb(_cfg(path))
    assert len(data.train) == 2 * PER_CLASS + 1 and len(data.test) == 2 * PER_CLASS
    assert int(data.train.y.sum()) == PER_CLASS + 1  # pos = 1, plus the non-UTF-8 one
    assert data.invalid_utf8 == 1
    assert data.train.x.shape == (2 * PER_CLASS + 1, 40) and data.train.x.dtype == np.int32
    assert "pos/20_9" in set(data.train.review_ids)  # the non-UTF-8 review, id from its file name
    assert any(i.startswith("neg/0_") for i in data.train.review_ids)
    # labels follow the folder: positive cue words only ever appear in positive reviews
    great = data.vocabulary.ids("great")[1]
    has_great = (data.train.x == great).any(axis=1)
    assert has_great.any() and (data.train.y[has_great] == 1).all()
    # the vocabulary comes from the training split only
    assert "testonlyword" not in data.vocabulary.words
    assert (data.test.x == OOV_ID).any()
    assert (data.train.x == START_ID).sum() == len(data.train)
    assert "ignored" not in data.vocabulary.words  # train/unsup never read


def test_folder_and_tarball_give_identical_arrays(corpus_dir, corpus_tarball):
    a, b = load_imdb(_cfg(corpus_dir)), load_imdb(_cfg(corpus_tarball))
    for split in ("train", "test"):
        np.testing.assert_array_equal(getattr(a, split).x, getattr(b, split).x)
        np.testing.assert_array_equal(getattr(a, split).review_ids, getattr(b, split).review_ids)
    assert a.vocabulary == b.vocabulary


def test_encoded_arrays_are_cached_by_source_and_settings(corpus_tarball, tmp_path):
    cfg = _cfg(corpus_tarball, cache_dir=str(tmp_path))
    first = load_imdb(cfg)
    assert not first.from_cache
    files = list((tmp_path / "encoded").glob("*.npz"))
    assert len(files) == 1
    second = load_imdb(cfg)
    assert second.from_cache and second.vocabulary == first.vocabulary and second.invalid_utf8 == 1
    np.testing.assert_array_equal(second.train.x, first.train.x)
    np.testing.assert_array_equal(second.test.review_ids, first.test.review_ids)
    # another maxlen is another cache entry, not a stale hit
    other = load_imdb(DataConfig(path=str(corpus_tarball), num_words=30, maxlen=10, cache_dir=str(tmp_path)))
    assert not other.from_cache and other.train.x.shape[1] == 10
    assert len(list((tmp_path / "encoded").glob("*.npz"))) == 2
    # a damaged cache entry is ignored and rebuilt, never an error
    (cache,) = files
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(cache, **{**arrays, "meta": np.array("{}")})  # readable, but its meta lacks the fields
    assert not load_imdb(cfg).from_cache and load_imdb(cfg).from_cache
    cache.write_bytes(cache.read_bytes()[:200])  # truncated
    rebuilt = load_imdb(cfg)
    assert not rebuilt.from_cache and np.array_equal(rebuilt.train.x, first.train.x)


def test_limit_takes_a_class_balanced_subset(corpus_tarball):
    data = load_imdb(_cfg(corpus_tarball, limit=10))
    for split in (data.train, data.test):
        assert len(split) == 10 and int(split.y.sum()) == 5
    with pytest.raises(DataError, match="larger than the data"):
        load_imdb(_cfg(corpus_tarball, limit=1000))


def test_source_order_explicit_then_env_then_cache(corpus_tarball, corpus_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_DATA", str(corpus_dir))
    assert resolve_source(_cfg(corpus_tarball)) == corpus_tarball.resolve()
    assert resolve_source(_cfg()) == corpus_dir.resolve()
    monkeypatch.delenv("TOOLKIT_DATA")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(corpus_tarball, cache / "aclImdb_v1_train_test.tar.gz")
    assert resolve_source(_cfg(cache_dir=str(cache))) == cache / "aclImdb_v1_train_test.tar.gz"
    with pytest.raises(DataError, match="no IMDB reviews found"):
        resolve_source(_cfg(cache_dir=str(tmp_path / "empty"), download=False))


def test_bad_sources_give_clear_errors(tmp_path, corpus_dir, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        load_imdb(_cfg(tmp_path / "nope.tar.gz"))
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="TOOLKIT_DATA .* does not exist"):
        load_imdb(_cfg())
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not a tarball at all" * 10)
    with pytest.raises(DataError, match="not a readable tar archive"):
        load_imdb(_cfg(junk))
    wrong = tmp_path / "wrong.tar.gz"
    with tarfile.open(wrong, "w:gz") as tar:
        tar.add(corpus_dir / "test", arcname="aclImdb/test")
    with pytest.raises(DataError, match="aclImdb/train/neg"):
        load_imdb(_cfg(wrong))


# --- download against a local HTTP server on 127.0.0.1 -------------------------------------------
class _Server:
    def __init__(self, payload: bytes, truncate: bool = False):
        outer = self
        self.payload, self.truncate, self.requests = payload, truncate, 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.payload)))
                self.end_headers()
                body = outer.payload[: len(outer.payload) // 2] if outer.truncate else outer.payload
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/aclImdb_v1.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_checksum_and_lands_in_the_cache(corpus_tarball, tmp_path):
    payload = corpus_tarball.read_bytes()
    sha = hashlib.sha256(payload).hexdigest()
    with _Server(payload) as server:
        cfg = _cfg(cache_dir=str(tmp_path), url=server.url, sha256=sha)
        data = load_imdb(cfg)
        assert server.requests == 1
        assert (tmp_path / "aclImdb_v1.tar.gz").read_bytes() == payload
        assert len(data.train) == 2 * PER_CLASS + 1
        load_imdb(cfg)  # second time: found in the cache, no new request
        assert server.requests == 1
    assert not list(tmp_path.glob("*.part"))


def test_download_with_bad_checksum_leaves_nothing(corpus_tarball, tmp_path):
    with _Server(corpus_tarball.read_bytes()) as server:
        with pytest.raises(DataError, match="checksum mismatch"):
            download(server.url, tmp_path / "aclImdb_v1.tar.gz", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_nothing(corpus_tarball, tmp_path):
    payload = corpus_tarball.read_bytes()
    with _Server(payload, truncate=True) as server:
        with pytest.raises(DataError, match="interrupted|could not download"):
            download(server.url, tmp_path / "aclImdb_v1.tar.gz", hashlib.sha256(payload).hexdigest())
    assert list(tmp_path.iterdir()) == []


def test_unreachable_download_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="could not download"):
        download("http://127.0.0.1:9/none.tar.gz", tmp_path / "x.tar.gz", "0" * 64)
    assert list(tmp_path.iterdir()) == []


# --- keras.datasets.imdb -----------------------------------------------------------------------
def test_keras_source_reads_imdb_npz_from_keras_home(tmp_path, monkeypatch):
    import tf_keras.src.utils.data_utils as data_utils

    datasets = tmp_path / "datasets"
    datasets.mkdir()
    rng = np.random.default_rng(0)

    def seqs(n):
        return np.array([list(rng.integers(1, 9000, size=rng.integers(3, 30))) for _ in range(n)], dtype=object)

    np.savez(
        datasets / "imdb.npz",
        x_train=seqs(12),
        y_train=np.array([0, 1] * 6),
        x_test=seqs(8),
        y_test=np.array([1, 0] * 4),
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # keras checks the real file's sha256 and would re-download our small one: accept its hash only
    monkeypatch.setattr(data_utils, "validate_file", lambda *a, **k: True)
    data = load_imdb(DataConfig(source="keras", num_words=100, maxlen=20))
    assert data.train.x.shape == (12, 20) and data.test.x.shape == (8, 20)
    assert data.train.x.max() < 100 and (data.train.x == 2).any()  # ids >= num_words became OOV
    assert int(data.train.y.sum()) == 6 and data.vocabulary is None
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="imdb.npz not found"):
        load_imdb(DataConfig(source="keras"))


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("[" * 100_000, r"not a readable word index \(RecursionError\)"),
        ('["the"]', "not a table"),
        ('{"a": "1"}', "not a table"),
    ],
)
def test_a_bad_keras_word_index_is_a_one_line_error(tmp_path, content, fragment):
    from toolkit.data.imdb import _keras_vocabulary

    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "imdb_word_index.json").write_text(content)
    with pytest.raises(DataError, match=fragment):
        _keras_vocabulary(tmp_path, DataConfig(source="keras", num_words=100, maxlen=20))


def test_status_lines_stay_one_line(capsys):
    from toolkit.core.progress import log

    log("run folder: exports/two\nlines\x1b[31m")
    assert capsys.readouterr().err == "run folder: exports/two\\nlines\\x1b[31m\n"


# --- the real reviews --------------------------------------------------------------------------
@pytest.mark.slow
def test_real_tarball_has_25000_reviews_per_split(real_tarball, real_cache):
    data = load_imdb(DataConfig(path=str(real_tarball), cache_dir=real_cache))
    for split in (data.train, data.test):
        assert len(split) == 25_000
        assert int((split.y == 0).sum()) == 12_500 and int((split.y == 1).sum()) == 12_500
        assert split.x.shape == (25_000, 500) and split.x.max() < 5000
        assert len(set(split.review_ids)) == 25_000
    assert len(data.vocabulary.words) == 4997 and data.vocabulary.words[:3] == ("the", "and", "a")
