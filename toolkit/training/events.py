"""TensorBoard event files of a training, written with TensorBoard's own writer (``tf.summary``).

While a run trains, its events go to ``<exports>/tensorboard/<run-name>/`` (``tensorboard --logdir
exports`` shows them live); when the run folder is written they are copied into its ``tensorboard/``
folder and removed from the live folder (:func:`collect_events`, :func:`discard_collected`). A training
that ends without its run folder (an error, a divergence, Ctrl-C) removes the event files it wrote: like
the run folder, the events are there only for a finished run (a killed process cannot; the next training
of that run name removes them, or keeps them as its history when it resumes from a checkpoint).

Scalars (one event file per training; on Ray the driver writes it from rank 0's messages):

* ``epoch/loss``, ``epoch/accuracy``, ``epoch/val_loss``, ``epoch/val_accuracy`` (with a validation
  split), ``epoch/learning_rate``, ``epoch/reviews_per_second`` at step = the epoch (from 1);
* ``quarter/loss``, ``quarter/accuracy`` (the epoch's running mean so far, as Keras' progress bar shows
  them), ``quarter/learning_rate``, ``quarter/reviews_per_second`` at step = the quarter's index from
  the first epoch (1 .. 4 x epochs; quarter 4k is epoch k's end; epochs under 4 batches have only that one).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path
from typing import Optional

from toolkit._tf import tf

LIVE_DIR = "tensorboard"  # <exports>/tensorboard/<run-name>/: a run's events while it trains
# TensorFlow's event file names: events.out.tfevents.<seconds>.<host>.<pid>.<counter>.v2
EVENT_FILE = re.compile(r"^events\.out\.tfevents\.\d+\.(?P<host>.+)\.(?P<pid>\d+)\.\d+\.v2$")

EPOCH_TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "reviews_per_second")
QUARTER_TAGS = ("loss", "accuracy", "learning_rate", "reviews_per_second")
DESCRIPTIONS = {
    "epoch": "per epoch (step: the epoch)",
    "quarter": "per quarter epoch (step: the quarter from the first epoch; loss and accuracy: the epoch's "
    "running mean so far)",
}


def live_events_dir(exports_dir: str | os.PathLike, run_name: str) -> Path:
    """Where a run's events are written while it trains."""
    return Path(exports_dir) / LIVE_DIR / run_name


class EventLog:
    """A run's TensorBoard events: :meth:`quarter` and :meth:`epoch` take the rows of
    ``training.epochs.EpochLog`` (or of rank 0's messages on Ray). The writer opens at the first row,
    removing the event files a dead training of the same run name left in the folder, unless
    :meth:`resumed` said this run continues that one's."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._writer = None
        self._resuming = False

    def resumed(self) -> None:
        """The run resumes from a checkpoint: earlier attempts' events are its history, keep them."""
        self._resuming = True

    def quarter(self, row: dict) -> None:
        """Quarter ``row["step"]``'s figures."""
        self._write("quarter", QUARTER_TAGS, row, row["step"])

    def epoch(self, row: dict) -> None:
        """An epoch's row (as in ``metrics.json``): the epoch's figures and its last quarter's."""
        self._write("epoch", EPOCH_TAGS, row, row["epoch"])
        self._write("quarter", QUARTER_TAGS, row, 4 * row["epoch"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        """Closes the writer; after an error (or Ctrl-C) also removes what it wrote (:func:`discard_own`)."""
        self.close()
        if exc_type is not None:
            discard_own(self.folder)

    def _write(self, group: str, tags: tuple, row: dict, step: int) -> None:
        if self._writer is None:
            if not self._resuming:
                remove_stale(self.folder)
            self._writer = tf.summary.create_file_writer(str(self.folder))
        with self._writer.as_default(), tf.device("/CPU:0"):
            for tag in tags:
                if row.get(tag) is not None:
                    tf.summary.scalar(
                        f"{group}/{tag}", float(row[tag]), step=int(step), description=DESCRIPTIONS[group]
                    )
        self._writer.flush()  # seen live, not after TensorFlow's two-minute flush


def event_files(folder: Path) -> list[Path]:
    """The TensorFlow event files directly in ``folder`` (none if it does not exist)."""
    try:
        return sorted(p for p in Path(folder).iterdir() if EVENT_FILE.match(p.name) and p.is_file())
    except OSError:
        return []


def remove_stale(folder: Path) -> list[Path]:
    """Remove the event files in ``folder`` that a process of this machine wrote and that is no longer
    running (a training that died before its run folder was written); returns them. Files of other
    machines, of running processes and anything not named like an event file are left alone."""
    removed = []
    host = socket.gethostname()
    for path in event_files(folder):
        m = EVENT_FILE.match(path.name)
        if m["host"] == host and not _running(int(m["pid"])):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def discard_own(folder: Path) -> None:
    """Remove the event files this process wrote in ``folder`` (and the folders, if left empty)."""
    host, pid = socket.gethostname(), os.getpid()
    own = [p for p in event_files(folder) if (m := EVENT_FILE.match(p.name))["host"] == host and int(m["pid"]) == pid]
    discard_collected(own, Path(folder))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def ours(path: Path) -> bool:
    """An event file of this run: written by this process, or by an earlier attempt of it on this machine
    that died (a resumed run's history; had the run not resumed, the writer removed them at its start).
    Not another machine's files, nor a running process's (another training of the same name)."""
    m = EVENT_FILE.match(path.name)
    return (
        bool(m) and m["host"] == socket.gethostname() and (int(m["pid"]) == os.getpid() or not _running(int(m["pid"])))
    )


def collect_events(live: Path, dest: Path) -> list[Path]:
    """Copy this run's event files (:func:`ours`) from ``live`` into the new folder ``dest``; returns the
    files copied (a file that vanished meanwhile is skipped)."""
    dest.mkdir()
    copied = []
    for path in filter(ours, event_files(live)):
        try:
            shutil.copyfile(path, dest / path.name)
        except FileNotFoundError:
            continue
        copied.append(path)
    return copied


def discard_collected(copied: list[Path], live: Optional[Path]) -> None:
    """After the run folder holds them: remove the copied event files, then the live folder and the
    ``tensorboard`` folder above it if nothing else is in them (what the toolkit did not write stays)."""
    for path in copied:
        path.unlink(missing_ok=True)
    if live is None:
        return
    for folder in (live, live.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (another training's events, something of the user's): keep it
            return
