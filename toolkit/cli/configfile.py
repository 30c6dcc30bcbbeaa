"""``--config FILE``: settings from a TOML file, checked against the parser's own flags.

A file's tables are the subcommand's flag groups (``flags.Section``: ``[data]``, ``[train]``,
``[cluster]``, ``[verify]``, ``[tune]``), its keys the flags' names (``batch_size``). Every value goes
through its flag's own type check, so a file can set nothing that the command line could not; the
values become the parser's defaults and the command line is parsed again, so a flag given there wins.
An unknown table or key, a value of the wrong type or out of range is a one-line error naming the key
and the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from toolkit.cli.flags import Section
from toolkit.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_BYTES = 1_000_000  # a settings file is a few hundred bytes; a bigger one is not one
COMMAND_LINE_ONLY = ("overwrite",)  # never from a file: a rerun of a config must not replace anything unasked


def read_toml(path: str) -> dict:
    """The file's tables; a missing, unreadable or malformed file is a one-line error."""
    file = Path(path)
    try:
        if file.is_dir():
            raise ConfigError(f"--config {path} is a folder: pass a TOML file such as run.toml")
        if file.stat().st_size > MAX_BYTES:
            raise ConfigError(f"--config {path} is over {MAX_BYTES:,} bytes: not a settings file")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path} is not UTF-8 text: a TOML file is") from None
    except OSError as exc:
        raise ConfigError(f"cannot read --config {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # '[[[[...' thousands deep: the parser gives up
        raise ConfigError(f"{path} is nested too deeply to be a settings file") from None


def file_defaults(sections: dict[str, Section], tables: dict, path: str) -> dict[str, Any]:
    """The flags' values the file sets (``{dest: value}``), each checked by its flag's type."""
    values: dict[str, Any] = {}
    names = ", ".join(f"[{n}]" for n in sections)
    for name, table in tables.items():
        section = sections.get(name)
        if section is None:
            owner = next((s.title for s in sections.values() for a in s.actions if s.key(a) == name), None)
            if owner is not None and not isinstance(table, dict):
                raise ConfigError(f"{path}: the key {name!r} belongs in the [{owner}] table")
            raise ConfigError(f"{path}: unknown table [{name}]: this command takes {names}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name} must be a table ([{name}] with keys under it), not a value")
        actions = {section.key(a): a for a in section.actions}
        for key, value in table.items():
            action = actions.get(key)
            if action is not None and action.dest in COMMAND_LINE_ONLY:
                raise ConfigError(
                    f"{path}: [{name}] {key} is not taken from a file: replacing what exists is asked for on the "
                    f"command line each time (--{key.replace('_', '-')})"
                )
            if action is None:
                raise ConfigError(f"{path}: unknown key {key!r} in [{name}]: its keys are {', '.join(sorted(actions))}")
            values[action.dest] = _checked(action, value, f"{path}: [{name}] {key}")
    return values


def _checked(action: argparse.Action, value: Any, where: str) -> Any:
    """``value`` as the flag would have parsed it, or a one-line error saying what it must be."""
    if action.nargs == 0:  # a switch (--faithful, --strict)
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {_shown(value)}")
        return value
    kind = getattr(action.type, "toml", str if action.type is None else "any")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where} must be a whole number, got {_shown(value)}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{where} must be a number, got {_shown(value)}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be text (in quotes), got {_shown(value)}")
    if isinstance(value, list):
        if kind not in (list, "spec") or not all(_scalar(v) for v in value):
            raise ConfigError(f"{where} must be a single value, got a list {_shown(value)}")
        text = ",".join(str(v) for v in value)
    elif _scalar(value):
        text = str(value)
    else:  # a table, a date
        raise ConfigError(f"{where} must be a single value, got {_shown(value)}")
    try:
        parsed = action.type(text) if action.type is not None else text
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if action.choices is not None and parsed not in action.choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(str, action.choices))}, got {_shown(value)}")
    return parsed


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def apply_config(command: argparse.ArgumentParser, path: str) -> None:
    """Make the file's settings ``command``'s defaults (the caller parses the command line again)."""
    sections = getattr(command, "sections", None)
    if not sections:
        raise ConfigError(f"{command.prog} takes no --config")
    command.set_defaults(**file_defaults(sections, read_toml(path), path))
