"""A named dataset on disk: interactions, catalog and members as Parquet, plus a JSON manifest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from marquee import config
from marquee.data.catalog import Catalog, Members
from marquee.data.interactions import Interactions
from marquee.errors import DataError

__all__ = ["Dataset", "dataset_dir", "open_dataset"]

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Dataset:
    """A log with its catalog and members, and where it came from.

    Attributes:
        name: the dataset's name (its directory under ``$MARQUEE_HOME/datasets``).
        interactions: the log; its title index is the catalog's.
        catalog: the titles.
        members: the members and their attributes, if the source has any.
        info: provenance (source, licence, credit, counts), stored in the manifest.
    """

    name: str
    interactions: Interactions
    catalog: Catalog
    members: Members | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write atomically: a reader never sees a half-written dataset, and an existing one is
        replaced only once the new one is complete."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            pq.write_table(self.interactions.table, tmp / "interactions.parquet")
            pq.write_table(self.catalog.table, tmp / "catalog.parquet")
            if self.members is not None:
                pq.write_table(self.members.table, tmp / "members.parquet")
            manifest = {
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "n_interactions": len(self.interactions),
                "n_members": self.interactions.n_members,
                "n_titles": len(self.catalog),
                "fingerprint": self.interactions.fingerprint(),
                **self.info,
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Dataset:
        d = Path(directory)
        manifest_path = d / "manifest.json"
        if not manifest_path.is_file():
            raise DataError(
                f"no dataset at {d}; fetch one with `marquee data fetch movielens-100k` "
                "or import your own with `marquee data import`"
            )
        info = json.loads(manifest_path.read_text())
        if info.get("format_version") != FORMAT_VERSION:
            raise DataError(f"dataset format {info.get('format_version')} is not {FORMAT_VERSION}; fetch or import it again", source=str(d))
        catalog = Catalog(pq.read_table(d / "catalog.parquet"), source=str(d / "catalog.parquet"))
        members = Members(pq.read_table(d / "members.parquet"), str(d / "members.parquet")) if (d / "members.parquet").exists() else None
        table = pq.read_table(d / "interactions.parquet")
        member_index = members.index if members is not None else None
        interactions = Interactions.from_table(
            table, members=member_index, catalog=catalog, source=str(d / "interactions.parquet")
        )
        if interactions.fingerprint() != info.get("fingerprint"):
            raise DataError("interactions do not match the manifest's fingerprint; the files were changed or damaged — fetch or import again", source=str(d))
        name = info.pop("name", d.name)
        for k in ("format_version", "n_interactions", "n_members", "n_titles", "fingerprint"):
            info.pop(k, None)
        return cls(name, interactions, catalog, members, info)

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL over the tables ``interactions``, ``catalog`` and ``members``."""
        import duckdb
        con = duckdb.connect()
        try:
            con.register("interactions", self.interactions.table)
            con.register("catalog", self.catalog.table)
            if self.members is not None:
                con.register("members", self.members.table)
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()


def dataset_dir(name: str, home: str | os.PathLike[str] | None = None) -> Path:
    return config.home(home) / "datasets" / name


def open_dataset(name: str, home: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a fetched or imported dataset by name."""
    return Dataset.load(dataset_dir(name, home))
