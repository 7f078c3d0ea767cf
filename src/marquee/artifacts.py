"""Model artifacts: arrays in safetensors plus a JSON manifest with checksums. Never pickle.

A directory holds ``arrays.safetensors`` and ``manifest.json``. The manifest records the
format version, the writer's Marquee version, free metadata (class, config, provenance) and the
SHA-256 of the arrays file; :func:`read_artifact` refuses a directory whose checksum or format
does not match, so a damaged artifact is never half-loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

import marquee
from marquee.errors import ArtifactError

__all__ = ["ARTIFACT_FORMAT", "read_artifact", "sha256_file", "verify_artifact", "write_artifact"]

ARTIFACT_FORMAT = 1
ARRAYS = "arrays.safetensors"
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_artifact(directory: str | os.PathLike[str], arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    """Write ``arrays`` and ``metadata`` to ``directory`` atomically (replacing what was there)."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / ARRAYS))
        manifest = {
            "format": ARTIFACT_FORMAT,
            "marquee_version": marquee.__version__,
            **metadata,
            "files": {ARRAYS: {"sha256": sha256_file(tmp / ARRAYS), "bytes": (tmp / ARRAYS).stat().st_size}},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def verify_artifact(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Check an artifact's format and checksum without loading its arrays; returns the manifest.

    Raises:
        ArtifactError: missing files, unknown format, or a checksum mismatch.
    """
    d = Path(directory)
    if not (d / MANIFEST).is_file():
        raise ArtifactError(f"{d} holds no model: {MANIFEST} is missing (train one with `marquee train`)")
    try:
        manifest = json.loads((d / MANIFEST).read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{d / MANIFEST} is not valid JSON ({exc}); the artifact is damaged, retrain it") from None
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"{d} has artifact format {manifest.get('format')!r}; this Marquee reads format {ARTIFACT_FORMAT}"
        )
    expected = manifest.get("files", {}).get(ARRAYS, {}).get("sha256")
    if not (d / ARRAYS).is_file():
        raise ArtifactError(f"{d / ARRAYS} is missing; the artifact is incomplete, retrain it")
    actual = sha256_file(d / ARRAYS)
    if actual != expected:
        raise ArtifactError(f"{d / ARRAYS} fails its checksum (sha256 {actual[:12]}…, manifest says {str(expected)[:12]}…); the file is damaged or was changed")
    return manifest


def read_artifact(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an artifact; returns ``(manifest, arrays)``.

    Raises:
        ArtifactError: missing files, unknown format, or a checksum mismatch.
    """
    d = Path(directory)
    manifest = verify_artifact(d)
    try:
        arrays = load_file(str(d / ARRAYS))
    except (SafetensorError, OSError) as exc:
        raise ArtifactError(f"{d / ARRAYS} cannot be read: {exc}") from None
    return manifest, arrays
