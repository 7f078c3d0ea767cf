"""cache_files: a dataset's cache directory is written in one step, with a manifest of its files' checksums."""

import hashlib
import json

import pytest

from marquee.data._wheel import cache_files


def test_writes_files_and_a_manifest_of_their_checksums(tmp_path):
    target = tmp_path / "datasets" / "demo"
    files = {"a.csv": b"x,y\n1,2\n", "sub/b.csv": b"z\n3\n"}
    assert cache_files(target, files, {"name": "demo", "licence": "CC0"}, extra={"notes.json": b"{}"}) == target
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest == {"name": "demo", "licence": "CC0", "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}}
    assert (target / "sub" / "b.csv").read_bytes() == b"z\n3\n" and (target / "notes.json").read_bytes() == b"{}"
    assert [p.name for p in target.parent.iterdir()] == ["demo"]  # no temporary directory left behind


def test_a_failure_part_way_leaves_the_old_cache_as_it_was(tmp_path, monkeypatch):
    target = tmp_path / "demo"
    cache_files(target, {"a.csv": b"old\n"}, {"name": "demo"})
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    original = type(target).write_bytes

    def failing(self, data):
        if data == b"second\n":
            raise OSError("disk full")
        return original(self, data)

    monkeypatch.setattr(type(target), "write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        cache_files(target, {"a.csv": b"new\n", "b.csv": b"second\n"}, {"name": "demo"})
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
