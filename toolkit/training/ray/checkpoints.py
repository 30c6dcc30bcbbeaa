"""Ray Train checkpoints: what each holds (weights, optimizer state, the run's bookkeeping) and when
an earlier one may be resumed.

Each checkpoint records a settings fingerprint (the model, the settings that shape the optimisation,
the data's checksum): a checkpoint trained with other settings is never resumed silently. The driver
checks a local checkpoint folder before starting; workers check one on remote storage when they resume.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Optional

import numpy as np

from toolkit.config import IMDB_CLASSES, ClusterConfig, JobConfig, to_dict
from toolkit.core.errors import ClusterError, WriteError, first_line
from toolkit.core.files import atomic_write_text, check_can_write
from toolkit.core.progress import log
from toolkit.core.uris import is_remote, local_path, open_uri, write_checked
from toolkit.data.dataset import LabelledData

WEIGHTS_FILE = "weights.npz"
STATE_FILE = "state.json"


# the training settings a checkpoint must share to be resumed (the epochs may grow)
OPTIMISATION = ("batch_size", "learning_rate", "clipnorm", "warmup_epochs", "seed", "length_buckets", "steps_per_epoch")


def settings_fingerprint(job: JobConfig, data: LabelledData) -> dict:
    """What a checkpoint must have been trained with to be resumed: the model, the settings that shape
    the optimisation, and the data (--epochs may grow: resuming then trains the extra epochs)."""
    train = to_dict(job.train)
    fingerprint = {
        "model": to_dict(job.model),
        "train": {k: train[k] for k in OPTIMISATION},
        "data": {
            "source_sha256": data.source_sha256,
            "train_reviews": data.train_reviews,
            # the token ids the weights were trained on: another text column, split or fraction changes them
            "vocab_sha256": data.vocabulary.sha256 if data.vocabulary is not None else None,
            "validation_reviews": len(data.validation) if data.validation is not None else 0,
        },
    }
    return json.loads(json.dumps(fingerprint))  # as a checkpoint records it: the class names' tuple a list


MARKER_FILE = ".toolkit-checkpoints.json"  # written by the driver into every checkpoint folder it starts
RAY_TRAIN_FILES = ("checkpoint_manager_snapshot.json", ".validate_storage_marker")


def prepare_checkpoints(storage: str, run_name: str, fingerprint: dict, overwrite: bool) -> str:
    """The Ray Train run name to use under ``storage``. A checkpoint folder left by an earlier attempt
    (a killed run, a failed one) is resumed only if it was trained with the same settings (a mismatch
    is an error); ``overwrite`` removes it, if it provably is a toolkit or Ray Train checkpoint folder,
    so that training starts afresh under the same name and no old checkpoint stays beside the new
    ones. Remote storage (``s3://`` ...): the workers check the settings when they resume;
    ``overwrite`` removes a folder that holds the toolkit's marker, else (not provably ours) leaves it
    and takes a fresh name."""
    if "://" in storage:
        return _prepare_remote(storage, run_name, overwrite)
    folder = Path(storage) / run_name
    if not folder.exists() and not folder.is_symlink():
        return run_name
    if not is_checkpoint_folder(folder):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            return run_name  # an empty folder: nothing to resume, nothing to remove
        doing = "remove it for --overwrite" if overwrite else "train into it"
        raise ClusterError(
            f"{folder} is not a Ray Train checkpoint folder: refusing to {doing}; "
            "choose another --storage or --run-name"
        )
    if overwrite:
        shutil.rmtree(folder)
        log(f"--overwrite: removed the earlier checkpoints in {folder}")
        return run_name
    states = sorted(folder.glob(f"epoch-*/{STATE_FILE}"))
    if states:
        try:
            previous = json.loads(states[-1].read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            previous = None
        mismatch = fingerprint_difference(previous, fingerprint)
        if mismatch:
            raise ClusterError(
                f"the checkpoints in {folder} were trained with other settings ({mismatch}): pass the same "
                "settings to resume, or --overwrite to start afresh"
            )
    return run_name


def is_checkpoint_folder(folder: Path) -> bool:
    """Whether ``folder`` provably holds checkpoints of a toolkit run: the toolkit's marker (written
    into a new or empty folder before training, so a run killed before its first checkpoint counts
    too), or, from before the marker, Ray Train's files (its snapshot, its storage marker, ``epoch-*``
    checkpoints) and nothing else."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    if (folder / MARKER_FILE).is_file():
        return True
    entries = list(folder.iterdir())

    def ray_trains(entry: Path) -> bool:
        return entry.name in RAY_TRAIN_FILES or (entry.name.startswith("epoch-") and entry.is_dir())

    return bool(entries) and all(ray_trains(e) for e in entries)


def mark_checkpoints(storage: str, run_name: str, fingerprint: dict) -> None:
    """Write the toolkit's marker into the checkpoint folder before training starts (what makes the
    folder provably ours for a later --overwrite, even if this run is killed before its first
    checkpoint); :func:`prepare_checkpoints` has checked that the folder is new, empty or ours."""
    text = json.dumps({"written_by": "toolkit", "run_name": run_name, "fingerprint": fingerprint})
    if "://" not in storage:
        folder = Path(storage) / run_name
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / MARKER_FILE).exists():
            atomic_write_text(folder / MARKER_FILE, text)
        return
    try:
        fs, path = _filesystem(storage)
        folder = f"{path.rstrip('/')}/{run_name}"
        if fs.get_file_info(f"{folder}/{MARKER_FILE}").type == _file_type().NotFound:
            fs.create_dir(folder, recursive=True)
            with fs.open_output_stream(f"{folder}/{MARKER_FILE}") as stream:
                stream.write(text.encode("utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot write checkpoints to --storage {storage}: {first_line(exc)}") from None


def discard_unused(storage: str, run_name: str) -> None:
    """After a run that failed or was stopped before its first checkpoint: remove its checkpoint folder
    if it holds nothing to resume (only the marker and Ray Train's bookkeeping; local storage)."""
    folder = Path(storage) / run_name
    if "://" in storage or not (folder / MARKER_FILE).is_file():
        return
    try:
        if all(e.name in (MARKER_FILE, *RAY_TRAIN_FILES) for e in folder.iterdir()):
            shutil.rmtree(folder)
    except OSError:
        pass  # what stays is still a marked checkpoint folder: --overwrite removes it


def _prepare_remote(storage: str, run_name: str, overwrite: bool) -> str:
    if not overwrite:
        return run_name
    try:
        fs, path = _filesystem(storage)
        folder = f"{path.rstrip('/')}/{run_name}"
        kinds = _file_type()
        if fs.get_file_info(folder).type == kinds.NotFound:
            return run_name
        if fs.get_file_info(f"{folder}/{MARKER_FILE}").type == kinds.File:
            fs.delete_dir(folder)
            log(f"--overwrite: removed the earlier checkpoints in {storage.rstrip('/')}/{run_name}")
            return run_name
    except (OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot write checkpoints to --storage {storage}: {first_line(exc)}") from None
    return f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}"  # not provably ours: left as it is


def _as_recorded_then(previous: dict, current: dict) -> tuple[dict, dict]:
    """Both fingerprints as an older one recorded them (toolkit before user data: IMDB's two classes, no
    vocabulary checksum; before --warmup-epochs: no warm-up): such a checkpoint still resumes when
    everything it did record matches."""
    model, data, train = previous.get("model"), previous.get("data"), previous.get("train")
    if isinstance(train, dict) and "warmup_epochs" not in train:  # before --warmup-epochs: none
        previous = {**previous, "train": {**train, "warmup_epochs": 0.0}}
    if isinstance(model, dict) and "classes" not in model:
        previous = {**previous, "model": {**model, "classes": list(IMDB_CLASSES)}}
    if isinstance(data, dict) and "vocab_sha256" not in data:
        new = {k: v for k, v in current["data"].items() if k not in ("vocab_sha256", "validation_reviews")}
        current = {**current, "data": new}
    return previous, current


def fingerprint_difference(previous: Optional[dict], current: dict) -> str:
    """``""`` when equal; else the settings that differ, in words."""
    if previous == current:
        return ""
    if not isinstance(previous, dict):
        return "the checkpoint records no settings"
    previous, current = _as_recorded_then(previous, current)
    if previous == current:
        return ""
    diffs = []
    for group, values in current.items():
        old = previous.get(group, {}) if isinstance(previous.get(group), dict) else {}
        diffs += [f"{group}.{k} {old.get(k)!r} -> {v!r}" for k, v in values.items() if old.get(k) != v]
    return ", ".join(diffs) or "settings differ"


def storage_path(cluster: ClusterConfig, exports_dir: str) -> str:
    """Where checkpoints go: ``--storage`` (a path or a URI such as s3://...; ``file://`` is a path) or
    ``<exports>/ray``."""
    if cluster.storage and cluster.storage.startswith("file://"):
        return str(Path(urllib.parse.unquote(urllib.parse.urlsplit(cluster.storage).path)).expanduser().resolve())
    if cluster.storage and "://" in cluster.storage:
        return cluster.storage
    return str(Path(cluster.storage or Path(exports_dir) / "ray").expanduser().resolve())


def check_storage(storage: str) -> None:
    """Fail before Ray starts, in seconds, if checkpoints cannot be written to ``storage``: a local
    folder is probed like the exports folder (:func:`toolkit.core.files.check_can_write`); a URI
    (``s3://``, ``gs://`` ...) is opened with pyarrow, as Ray Train opens it, and a small probe object
    is written, read back and deleted (``core.uris``: short timeouts and few retries: an unreachable
    endpoint, a missing bucket or missing credentials is an error now, not after Ray's retries and a
    25-line stack)."""
    if "://" not in storage:
        try:
            check_can_write(Path(storage))
        except WriteError as exc:
            raise WriteError(f"--storage: {exc}") from None
        return
    if not is_remote(storage):  # file:///...: Ray creates the folder, as for a path
        return check_storage(str(local_path(storage)))
    try:
        fs, path = _filesystem(storage)
        probe = f"{path.rstrip('/')}/.toolkit-probe-{uuid.uuid4().hex[:12]}"
        write_checked(fs, probe, b"probe")
        fs.delete_file(probe)
    except (OSError, ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError; UriError too
        raise ClusterError(f"cannot write checkpoints to --storage {storage}: {first_line(exc)}") from None


def _filesystem(storage: str):
    """``(pyarrow file system, path)`` of a storage URI, opened as Ray Train opens it (``core.uris``: S3
    with short timeouts and few retries)."""
    return open_uri(storage)


def _file_type():
    import pyarrow.fs as pafs  # comes with Ray Train

    return pafs.FileType


def write_state(folder: Path, model, state: dict) -> None:
    """Weights, optimizer state and the run's bookkeeping (epoch, history, resumes)."""
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"o{i}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
    np.savez(folder / WEIGHTS_FILE, **arrays)
    (folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def read_state(folder: Path) -> tuple[list, list, dict]:
    with np.load(folder / WEIGHTS_FILE) as z:
        weights = [z[f"w{i}"] for i in range(sum(k.startswith("w") for k in z.files))]
        optimizer = [z[f"o{i}"] for i in range(sum(k.startswith("o") for k in z.files))]
    return weights, optimizer, json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))


def restore_state(model, strategy, weights: list, optimizer: list) -> None:
    """Put a checkpoint's weights and optimizer state into a compiled model (inside ``strategy``)."""
    with strategy.scope():
        model.set_weights(weights)
        model.optimizer.build(model.trainable_variables)
        for variable, value in zip(model.optimizer.variables, optimizer):
            variable.assign(value)
