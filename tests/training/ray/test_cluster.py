"""The embedded Ray under pressure: SIGTERM while Ray starts and while it trains, two trainings with
their own Ray at once on one machine, and what of TensorFlow's, absl's and Ray's output reaches the user."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import BIN

pytestmark = pytest.mark.slow  # Ray, signals, races
# the tests that start Ray run one after another on one pytest-xdist worker (--dist loadgroup)
STARTS_RAY = pytest.mark.xdist_group("ray")
TINY = ["--maxlen", "20", "--num-words", "40", "--epochs", "1", "--batch-size", "8"]
# what TensorFlow, absl and Ray print on their own: never in the toolkit's output unless asked for
NOISE = re.compile(r"oneDNN|cuda drivers|absl|cuInit|TrainController|RayTrainWorker|Token authentication is")


def _train_cmd(corpus_tarball, exports: Path, *extra) -> list:
    return [str(BIN / "toolkit"), "train", "--data", str(corpus_tarball), *TINY, "--workers", "1"] + [
        "--exports-dir",
        str(exports),
        "--run-name",
        "r",
        *extra,
    ]


def _ray_tmpdir() -> str:
    """A Ray temp folder of the test's own (short: Ray's socket paths must fit 107 bytes)."""
    return tempfile.mkdtemp(prefix="rt-", dir="/tmp")


def _stat(pid) -> tuple:
    """``(parent pid, state, start time)`` of a process, from /proc (None when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def _descendants(pid: int) -> list:
    """``[(pid, start time)]`` of every process below ``pid``."""
    stats = {int(p.name): _stat(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}
    stats = {p: s for p, s in stats.items() if s}
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, s in stats.items() if s[0] == parent]
        found += [(p, stats[p][2]) for p in children]
        frontier += children
    return found


def _gone_within(processes: list, timeout: float) -> list:
    """The processes of ``processes`` (``(pid, start time)``) still alive after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [(p, t) for p, t in processes if (s := _stat(p)) and s[2] == t and s[1] != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


def _sigterm_when(marker: str, cmd: list, env: dict, timeout: float = 400):
    """Run ``cmd``, send SIGTERM when a line containing ``marker`` appears on its stderr; returns
    ``(exit status, stderr, the Ray processes it had started)``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines, started = [], []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if marker in line:
                started = _descendants(proc.pid)
                proc.send_signal(signal.SIGTERM)
                break
        assert started, "".join(lines)[-3000:]
        _, rest = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, "".join(lines) + rest, started


def _assert_terminated_cleanly(code: int, err: str, started: list, exports: Path) -> None:
    assert code == 143, (code, err[-3000:])
    assert err.strip().splitlines()[-1] == "toolkit: terminated", err[-3000:]
    assert "Traceback" not in err and "SIGTERM received" not in err, err[-3000:]
    assert _gone_within(started, 30) == []  # Ray shut down: raylet, GCS, workers
    assert not (exports / "r").exists()  # no run folder
    assert not [p for p in exports.glob(".*") if "staging" in p.name]  # nor a half-written one


@STARTS_RAY
def test_sigterm_while_ray_starts_exits_143_and_leaves_no_ray(corpus_tarball, tmp_path):
    """Ray's ray.init installs a SIGTERM handler of its own (sys.exit(15), no message); the toolkit's
    handler stays in charge and the half-started Ray is shut down."""
    exports = tmp_path / "exports"
    argv = _train_cmd(corpus_tarball, exports)[1:]
    script = textwrap.dedent(f"""
        import sys, time
        import ray._private.worker as worker
        connect = worker.connect
        def slow_connect(*args, **kwargs):  # ray.init, its head node started, its handler installed
            print("RAY STARTING", file=sys.stderr, flush=True)
            time.sleep(60)
            return connect(*args, **kwargs)
        worker.connect = slow_connect
        from toolkit.cli.main import main
        sys.exit(main({argv!r}))
    """)
    tmp = _ray_tmpdir()
    try:
        env = {**os.environ, "RAY_TMPDIR": tmp}
        code, err, started = _sigterm_when("RAY STARTING", [sys.executable, "-c", script], env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _assert_terminated_cleanly(code, err, started, exports)


@STARTS_RAY
def test_two_embedded_trainings_at_once_one_ends_on_sigterm_the_other_completes_quietly(corpus_tarball, tmp_path):
    """Two trainings, each with an embedded Ray of its own, on one machine. Each Ray is found by its own
    processes (Ray Train's placement-group cleaner looked for "the" local Ray and failed with "Found
    multiple active Ray instances"). The one that completes prints the toolkit's lines only, none of
    TensorFlow's, absl's or Ray's own. The other gets SIGTERM while it trains: after ray.init, Ray's C++
    core worker answers SIGTERM with a stack dump and exit 15 or 134 unless the toolkit's handler is
    installed again; it exits 143 with its Ray shut down."""
    tmps = [_ray_tmpdir(), _ray_tmpdir()]
    # RAY_AUTH_MODE unset, as in a user's shell (an in-process Ray test earlier sets it here): Ray then
    # warns about token authentication, which the toolkit says once in its words
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    out, err_file = tmp_path / "completes.out", tmp_path / "completes.err"
    try:
        with out.open("w") as stdout, err_file.open("w") as stderr:  # files: nobody reads it meanwhile
            completes = subprocess.Popen(
                _train_cmd(corpus_tarball, tmp_path / "exports-0"),
                stdout=stdout,
                stderr=stderr,
                text=True,
                env={**env, "RAY_TMPDIR": tmps[0]},
            )
        try:
            code, term_err, started = _sigterm_when(
                "devices:", _train_cmd(corpus_tarball, tmp_path / "exports-1"), {**env, "RAY_TMPDIR": tmps[1]}
            )
            completes.wait(timeout=600)
        finally:
            completes.kill()
        # what every Ray process wrote (the workers' output stays in their logs unless asked for)
        ray_logs = "".join(f.read_text(errors="replace") for tmp in tmps for f in Path(tmp).rglob("logs/worker-*.err"))
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
    _assert_terminated_cleanly(code, term_err, started, tmp_path / "exports-1")
    err = err_file.read_text()
    assert completes.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "multiple active Ray" not in err, err[-3000:]
    noise = [line for line in err.splitlines() if NOISE.search(line)]
    assert noise == [], noise
    assert err.count("Ray token authentication is on") == 1  # said once, in the toolkit's words
    assert (tmp_path / "exports-0" / "r" / "model.keras").is_file()
    assert "PlacementGroupCleaner" in ray_logs  # the cleaners ran ...
    assert "multiple active Ray" not in ray_logs  # ... and found their own Ray


def test_tensorflow_loads_quietly_unless_asked(tmp_path):
    """Importing the toolkit's TensorFlow prints nothing (it printed six lines and a cuInit error on
    a CPU-only machine); TF_CPP_MIN_LOG_LEVEL=0 shows TensorFlow's own lines again."""
    code = "import toolkit._tf as t; t.tf.constant([1.0]) + 1"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr[-2000:]
    loud = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
        timeout=300,
    )
    assert loud.returncode == 0 and loud.stderr.strip(), "TF_CPP_MIN_LOG_LEVEL=0 should show TensorFlow's lines"
