"""data.sources: folders and tarballs, the source order, bad sources, the download against a local HTTP
server, one-line status."""

import hashlib
import http.server
import shutil
import tarfile
import threading

import numpy as np
import pytest

from tests.helpers import data_cfg
from toolkit.core.errors import DataError
from toolkit.data.dataset import load_data
from toolkit.data.sources import download, resolve_source
from toolkit.edge.text import OOV_ID, START_ID

PER_CLASS = 20  # tiny corpus reviews per class per split (+1 non-UTF-8 train/pos review)


@pytest.mark.parametrize("kind", ["folder", "parent", "tarball"])
def test_tiny_corpus_sources_read_labels_and_ignore_unsup(kind, corpus_dir, corpus_tarball):
    path = {"folder": corpus_dir, "parent": corpus_dir.parent, "tarball": corpus_tarball}[kind]
    data = load_data(data_cfg(path))
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


def test_source_order_explicit_then_env_then_cache(corpus_tarball, corpus_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_DATA", str(corpus_dir))
    assert resolve_source(data_cfg(corpus_tarball)) == corpus_tarball.resolve()
    assert resolve_source(data_cfg()) == corpus_dir.resolve()
    monkeypatch.delenv("TOOLKIT_DATA")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(corpus_tarball, cache / "aclImdb_v1_train_test.tar.gz")
    assert resolve_source(data_cfg(cache_dir=str(cache))) == cache / "aclImdb_v1_train_test.tar.gz"
    with pytest.raises(DataError, match="no IMDB reviews found"):
        resolve_source(data_cfg(cache_dir=str(tmp_path / "empty"), download=False))


def test_bad_sources_give_clear_errors(tmp_path, corpus_dir, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        load_data(data_cfg(tmp_path / "nope.tar.gz"))
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="TOOLKIT_DATA .* does not exist"):
        load_data(data_cfg())
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not a tarball at all" * 10)
    with pytest.raises(DataError, match="not a readable tar archive"):
        load_data(data_cfg(junk))
    wrong = tmp_path / "wrong.tar.gz"
    with tarfile.open(wrong, "w:gz") as tar:
        tar.add(corpus_dir / "test", arcname="aclImdb/test")
    with pytest.raises(DataError, match="aclImdb/train/neg"):
        load_data(data_cfg(wrong))


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
        cfg = data_cfg(cache_dir=str(tmp_path), url=server.url, sha256=sha)
        data = load_data(cfg)
        assert server.requests == 1
        assert (tmp_path / "aclImdb_v1.tar.gz").read_bytes() == payload
        assert len(data.train) == 2 * PER_CLASS + 1
        load_data(cfg)  # second time: found in the cache, no new request
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


def test_status_lines_stay_one_line(capsys):
    from toolkit.core.progress import log

    log("run folder: exports/two\nlines\x1b[31m")
    assert capsys.readouterr().err == "run folder: exports/two\\nlines\\x1b[31m\n"
