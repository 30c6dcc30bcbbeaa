"""The check every config's ``__post_init__`` uses."""

from toolkit.core.errors import ConfigError


def require(cond: bool, message: str) -> None:
    """Raise ``ConfigError(message)`` unless ``cond``."""
    if not cond:
        raise ConfigError(message)
