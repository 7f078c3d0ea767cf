"""Config validation shared by rankers' ``Config.__post_init__``."""

from __future__ import annotations

from marquee.errors import ConfigError


def require(condition: bool, owner: str, field: str, expected: str, got: object) -> None:
    """Raise a :class:`ConfigError` naming the field, what was expected and what was given."""
    if not condition:
        raise ConfigError(f"{owner}.{field} must be {expected}, got {got!r}")
