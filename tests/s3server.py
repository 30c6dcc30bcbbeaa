"""A real S3-compatible server for tests: moto in server mode, run as a subprocess on 127.0.0.1.

    with s3_server() as s3:  # bucket "toolkit" created, AWS_* variables set for this process
        fs = s3.filesystem()  # a pyarrow S3FileSystem pointed at the server
        ...  # "s3://toolkit/..." URIs; Ray started inside the block inherits the variables

The variables are set in ``os.environ`` (and restored on the way out), so a process started inside the
block (embedded Ray's raylet and its workers, a CLI subprocess) talks to the same server. Start Ray
inside the block, not before it: Ray's workers copy the environment Ray was started with (Ray Train's
controller opens ``storage_path`` in its own process; ``RunConfig(storage_filesystem=s3.filesystem())``
works either way). ``pyarrow.fs.FileSystem.from_uri`` reads AWS_ENDPOINT_URL; ``S3FileSystem()`` does
not (use :meth:`S3Server.filesystem`). Keep the credentials set: without them pyarrow's unsigned
uploads are stored by moto with their aws-chunked framing (corrupt objects, no error).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterator

START_TIMEOUT_S = 20.0
# variables that would point boto3 / the AWS SDK elsewhere (a profile, a real session): removed inside the block
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3")


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    bucket: str
    port: int
    env: dict[str, str]  # the variables set while the server runs

    @property
    def uri(self) -> str:
        """``s3://bucket``"""
        return f"s3://{self.bucket}"

    def filesystem(self, **options):
        """A ``pyarrow.fs.S3FileSystem`` for the server (explicit endpoint, plain HTTP); ``options`` are
        more S3FileSystem arguments (``connect_timeout=...``)."""
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=self.env["AWS_ACCESS_KEY_ID"],
            secret_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region=self.env["AWS_REGION"],
            endpoint_override=self.endpoint,
            scheme="http",
            **options,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:  # an HTTP error status is an answer
        return True
    except OSError:
        return False
    return True


def _log_tail(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


@contextlib.contextmanager
def s3_server(bucket: str = "toolkit") -> Iterator[S3Server]:
    """Start moto's S3 server, create ``bucket``, set the AWS_* variables; on exit restore the
    environment and stop the server."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        saved = {}
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _answers(endpoint):
                if proc.poll() is not None:
                    raise RuntimeError(f"moto server exited with {proc.returncode}:\n{_log_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server not answering at {endpoint} after {START_TIMEOUT_S:g} s")
                time.sleep(0.2)
            # moto does not check signatures: a plain PUT creates the bucket (in us-east-1)
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=10).close()
            env = {
                "AWS_ENDPOINT_URL": endpoint,  # boto3, pyarrow >= 15 (the AWS SDK reads it)
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",  # no 1 s wait on 169.254.169.254 for credentials/region
                "AWS_CONFIG_FILE": os.devnull,  # the user's ~/.aws files are not read
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
            saved = {k: os.environ.get(k) for k in (*env, *_CLEARED)}
            for k in _CLEARED:
                os.environ.pop(k, None)
            os.environ.update(env)
            yield S3Server(endpoint=endpoint, bucket=bucket, port=port, env=env)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
