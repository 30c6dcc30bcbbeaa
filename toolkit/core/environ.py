"""Environment variables: set for one block of work and restored after it; the toolkit's switches."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def environ_defaults(**values: str) -> Iterator[None]:
    """Within the block, each variable that is unset has ``values``' value; after it, those variables are
    unset again (a variable the caller had set is used as it is and never touched)."""
    added = [name for name in values if name not in os.environ]
    for name in added:
        os.environ[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


_TRUE = ("1", "true", "yes", "on")


def ray_logs_wanted() -> bool:
    """Whether Ray shows the workers' own output (and Ray Data its progress lines) in the driver: only with
    RAY_LOG_TO_DRIVER=1."""
    return os.environ.get("RAY_LOG_TO_DRIVER", "").strip().lower() in _TRUE
