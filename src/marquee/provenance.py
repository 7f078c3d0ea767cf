"""What code made an artifact: the package version and a hash of its source files."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import marquee

__all__ = ["code_version"]


@functools.cache
def code_version() -> str:
    """``"<version>+src.<sha256 of the package's .py files, 12 hex>"``.

    A content hash, not a git commit: it is right for installed wheels, editable checkouts with
    uncommitted changes and copies alike, and two equal strings mean the same code.
    """
    root = Path(marquee.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return f"{marquee.__version__}+src.{h.hexdigest()[:12]}"
