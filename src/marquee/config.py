"""Where Marquee keeps its files, and the one place configuration precedence is written.

Precedence, highest first: explicit argument > ``MARQUEE_*`` environment variable > config file
> default. Nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from marquee.errors import ConfigError

__all__ = ["home", "load_config_file", "resolve"]


def home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Marquee's data and model directory: ``explicit`` > ``$MARQUEE_HOME`` > ``~/.cache/marquee``."""
    value = resolve("home", explicit, default=str(Path.home() / ".cache" / "marquee"))
    return Path(value).expanduser()


def resolve(name: str, explicit: Any = None, *, file_values: dict[str, Any] | None = None, default: Any = None) -> Any:
    """Resolve one setting by Marquee's precedence.

    Args:
        name: the setting's name; its environment variable is ``MARQUEE_<NAME>`` upper-cased.
        explicit: a value given by the caller (``None`` means not given).
        file_values: settings read from a config file, if any.
        default: the fallback.
    """
    if explicit is not None:
        return explicit
    env = os.environ.get(f"MARQUEE_{name.upper()}")
    if env:
        return env
    if file_values and name in file_values:
        return file_values[name]
    return default


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML or JSON configuration file into a dict, with an error that names the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass the path of a .toml or .json file")
    try:
        if p.suffix == ".json":
            data = json.loads(p.read_text())
        else:
            data = tomllib.loads(p.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid {p.suffix.lstrip('.') or 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table/object at the top level")
    return data
