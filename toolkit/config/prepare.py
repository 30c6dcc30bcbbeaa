"""``toolkit prepare``'s config: which tabular data, where the prepared shards go, how they are cut."""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.config._checks import require as _require
from toolkit.config.training import DataConfig

ROWS_PER_SHARD = 10_000  # reviews per encoded shard (and per count / encode task)


@dataclass(frozen=True)
class PrepareConfig:
    """``toolkit prepare``: ``data`` names the tabular files (``data.path``, ``data.test_path``, a path or
    a URI), their columns, labels, ``num_words`` and ``maxlen``; ``out`` the folder or prefix written."""

    data: DataConfig = field(default_factory=DataConfig)
    out: str = ""
    rows_per_shard: int = ROWS_PER_SHARD
    overwrite: bool = False  # replace prepared data of the toolkit's at ``out`` made with other settings

    def __post_init__(self) -> None:
        _require(bool(self.data.path), "prepare needs --data: the tabular files to prepare (a path or a URI)")
        _require(bool(self.out), "prepare needs --out: where the prepared shards go (a path or a URI)")
        _require(self.rows_per_shard >= 1, f"rows per shard must be >= 1, got {self.rows_per_shard}")
        _require(self.data.limit is None, "--limit does not apply to prepare: it prepares every row")
        _require(
            self.data.test_fraction is None and not self.data.validation_fraction,
            "--test-fraction and --validation-fraction do not apply to prepare: name the splits with test/ and "
            "validation/ folders, train*/test* files, --test-data or a split column",
        )
