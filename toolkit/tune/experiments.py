"""A sweep's Ray Tune experiment folder, ``--storage``/<name>: the toolkit's marker in it, and whether
running the command again restores it.

The driver writes ``.toolkit-sweep.json`` (the sweep's fingerprint: every setting of the job, the search,
the kind of trial) into the folder before Ray Tune starts. The same command again restores the
experiment; one with other settings is refused (naming what differs), since Tune would mix old trials
with new settings; ``--overwrite`` removes the folder, only when it holds the marker, and starts afresh.
A folder without the marker (a training's checkpoints, someone's files) is never used.
"""

from __future__ import annotations

import json

from toolkit import __version__
from toolkit.config import JobConfig, SweepConfig
from toolkit.config.settings import job_settings
from toolkit.core.errors import TuneError
from toolkit.core.progress import log
from toolkit.core.uris import UriError, delete_folder, file_type, list_files, open_uri, read_bytes, write_checked

MARKER = ".toolkit-sweep.json"


def sweep_fingerprint(job: JobConfig, sweep: SweepConfig) -> dict:
    """What a restored experiment must have been started with (concurrency and resources may change)."""
    settings = job_settings(job)
    settings["train"].pop("run_name", None)
    search = {
        "spaces": {s.name: s.text() for s in sweep.spaces},
        "trials": sweep.trials,
        "grace_epochs": sweep.grace_epochs,
        "reduction_factor": sweep.reduction_factor,
        "seed": sweep.seed,
    }
    return json.loads(json.dumps({"job": settings, "search": search, "ray_train_trials": job.cluster.workers > 0}))


def _flat(table: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def difference(previous: dict, current: dict) -> str:
    """``search.trials 8 -> 6, job.train.epochs 3 -> 2``: what changed (empty when nothing did)."""
    before, after = _flat(previous), _flat(current)
    keys = sorted(set(before) | set(after))
    return ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in keys if before.get(k) != after.get(k))


def prepare_experiment(experiment: str, fingerprint: dict, overwrite: bool) -> bool:
    """Make ``experiment`` ready for this sweep; True when it holds an earlier run of it to restore."""
    try:
        fs, path = open_uri(experiment)
        kind = file_type(fs, path)
        if kind == "file":
            raise TuneError(f"{experiment} is a file, not a sweep's folder: choose another --name or --storage")
        if kind == "folder":
            names = [n[len(path.rstrip("/")) :].strip("/") for n in list_files(fs, path, hidden=True)]
            if MARKER not in names:
                if names:
                    raise TuneError(
                        f"{experiment} exists and is not a sweep the toolkit started: refusing to use it; "
                        "choose another --name or --storage"
                    )
            elif overwrite:
                delete_folder(fs, path)
                log(f"--overwrite: removed the earlier sweep in {experiment}")
            else:
                previous = json.loads(read_bytes(fs, f"{path}/{MARKER}")).get("fingerprint", {})
                changed = difference(previous, fingerprint)
                if changed:
                    raise TuneError(
                        f"the sweep in {experiment} was started with other settings ({changed[:300]}): pass the "
                        "same settings to resume it, --overwrite to start afresh, or another --name"
                    )
                return True
        fs.create_dir(path, recursive=True)
        marker = {"toolkit_version": __version__, "fingerprint": fingerprint}
        write_checked(fs, f"{path}/{MARKER}", json.dumps(marker, indent=2).encode())
        return False
    except UriError as exc:
        raise TuneError(f"cannot use --storage for the sweep ({experiment}): {exc}") from None
    except (OSError, ValueError) as exc:
        raise TuneError(f"cannot use the sweep's folder {experiment}: {exc}") from None
