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
from pathlib import Path
from typing import Optional

import numpy as np

from .config import ClusterConfig, JobConfig, to_dict
from .data import ImdbData
from .errors import ClusterError
from .progress import log

WEIGHTS_FILE = "weights.npz"
STATE_FILE = "state.json"


def settings_fingerprint(job: JobConfig, data: ImdbData) -> dict:
    """What a checkpoint must have been trained with to be resumed: the model, the settings that shape
    the optimisation, and the data (--epochs may grow: resuming then trains the extra epochs)."""
    train = to_dict(job.train)
    return {
        "model": to_dict(job.model),
        "train": {k: train[k] for k in ("batch_size", "learning_rate", "clipnorm", "seed", "length_buckets")},
        "data": {"source_sha256": data.source_sha256, "train_reviews": len(data.train)},
    }


def prepare_checkpoints(storage: str, run_name: str, fingerprint: dict, overwrite: bool) -> str:
    """The Ray Train run name to use under ``storage``. A local checkpoint folder left by an earlier
    attempt is resumed only if it was trained with the same settings (a mismatch is an error);
    ``overwrite`` removes it (only if it is Ray Train's) so training starts afresh. Remote storage
    (``s3://`` ...) is checked by the workers when they resume; ``overwrite`` gives it a fresh name."""
    if "://" in storage:
        return f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}" if overwrite else run_name
    folder = Path(storage) / run_name
    if not folder.exists():
        return run_name
    if overwrite:
        if not ((folder / "checkpoint_manager_snapshot.json").exists() or any(folder.glob("epoch-*"))):
            raise ClusterError(
                f"{folder} is not a Ray Train checkpoint folder: refusing to remove it for --overwrite; "
                "choose another --storage or --run-name"
            )
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


def fingerprint_difference(previous: Optional[dict], current: dict) -> str:
    """``""`` when equal; else the settings that differ, in words."""
    if previous == current:
        return ""
    if not isinstance(previous, dict):
        return "the checkpoint records no settings"
    diffs = []
    for group, values in current.items():
        old = previous.get(group, {}) if isinstance(previous.get(group), dict) else {}
        diffs += [f"{group}.{k} {old.get(k)!r} -> {v!r}" for k, v in values.items() if old.get(k) != v]
    return ", ".join(diffs) or "settings differ"


def storage_path(cluster: ClusterConfig, exports_dir: str) -> str:
    """Where checkpoints go: ``--storage`` (a path or a URI such as s3://...) or ``<exports>/ray``."""
    if cluster.storage and "://" in cluster.storage:
        return cluster.storage
    return str(Path(cluster.storage or Path(exports_dir) / "ray").expanduser().resolve())


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
