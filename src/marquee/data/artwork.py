"""Artwork variants per title: the candidates an artwork policy chooses among, with their features.

A variants table has one row per (title, variant): ``title_id`` (an integer, or text for a catalog
that names its titles: ``"tt0111161"``), ``variant_id`` (int, unique within its title) and one or
more attribute columns. Text attributes become one-hot
features (one column per level), numeric attributes are used as they are. A catalog with real
artwork supplies its own table (:meth:`ArtworkVariants.read`, Parquet or CSV); MovieLens has none,
so :func:`generate_variants` derives 3-6 deterministic variants per title from its id and genres
(a seeded hash: the same catalog and seed always give the same table, on every machine; see
:func:`id_seed` for text ids).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from marquee.data.catalog import Catalog
from marquee.data.ids import MAX_ID_LENGTH, IdIndex, show_id
from marquee.errors import DataError, UnknownIdError

__all__ = ["ATTRIBUTES", "ArtworkVariants", "TitleVariants", "generate_variants", "id_seed"]

#: Attributes of generated variants and their levels.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "palette": ("warm", "cool", "dark", "bright"),
    "subject": ("lead", "ensemble", "scene", "title_card"),
    "text": ("none", "title", "tagline"),
}
# Genres that make a palette likelier (weights added to the palette's base weight of 1).
_PALETTE_GENRES = {
    "warm": ("Romance", "Drama", "Comedy", "Western"),
    "cool": ("Sci-Fi", "Mystery", "Documentary", "War"),
    "dark": ("Horror", "Thriller", "Film-Noir", "Crime"),
    "bright": ("Children's", "Animation", "Musical", "Fantasy", "Adventure"),
}
_KEYS = ("title_id", "variant_id")


def _is_text(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def id_seed(value: int | str) -> int:
    """A non-negative integer that seeds what is derived from an id (a title's generated variants, a
    simulated member's taste): an integer id is its own seed, as it always was; a text id gives the
    SHA-256 of its UTF-8 read as one (256-bit) integer, the same on every run and machine."""
    if isinstance(value, str):
        return int.from_bytes(hashlib.sha256(value.encode()).digest(), "big")
    return int(value)


@dataclass(frozen=True)
class TitleVariants:
    """One title's variants.

    Attributes:
        title_id: the title, as the table holds it (int, or str for text ids).
        variant_ids: (m,) int64 variant ids, in table order.
        features: (m, k) float64 features of each variant (columns: ``ArtworkVariants.feature_names``).
        rows: (m,) int64 rows of the variants table.
    """

    title_id: int | str
    variant_ids: np.ndarray
    features: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.variant_ids.shape[0])


@dataclass(frozen=True, eq=False)
class ArtworkVariants:
    """A validated variants table, sorted by ``(title_id, variant_id)``.

    Title ids are integers (int64, ascending) or text (string, in the shortlex order of
    :class:`~marquee.data.IdIndex`); lookups accept either kind, as an ``IdIndex`` does.

    Args:
        table: ``title_id`` (integers or text), ``variant_id`` (integers) and attribute columns
            (text or numeric, no nulls).
        source: where it came from, for error messages.
    Raises:
        DataError: naming the source, the (1-based) row and the column of the first problem.
    """

    table: pa.Table
    source: str = "<artwork>"

    def __post_init__(self) -> None:
        table, src = self.table, self.source
        for key in _KEYS:
            if key not in table.column_names:
                raise DataError(f"missing column {key!r}; a variants table has title_id, variant_id and attribute columns", source=src, column=key)
        attrs = [c for c in table.column_names if c not in _KEYS]
        if not attrs:
            raise DataError("has no attribute columns (e.g. palette, subject, text); variants need features", source=src)
        if table.num_rows == 0:
            raise DataError("has no rows", source=src, column="title_id")
        for name in table.column_names:
            col = table.column(name)
            empty = col.is_null().to_numpy(zero_copy_only=False)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                empty = empty | (np.asarray(col.to_pylist(), dtype=object) == "")
            if empty.any():
                row = int(np.argmax(empty))
                raise DataError("is empty; every variant needs every attribute", source=src, row=row + 1, column=name)
            kind = col.type
            if name == "title_id" and _is_text(kind):
                size = np.fromiter((len(v.encode()) for v in col.to_pylist()), dtype=np.int64, count=len(col))
                if (size > MAX_ID_LENGTH).any():
                    row = int(np.argmax(size > MAX_ID_LENGTH))
                    raise DataError(f"title id must be 1..{MAX_ID_LENGTH} bytes of text, got {size[row]}", source=src, row=row + 1, column=name)
            elif name == "title_id" and not pa.types.is_integer(kind):
                raise DataError(f"must hold integers or text, got {kind}", source=src, column=name)
            elif name in _KEYS:
                if not pa.types.is_integer(kind):
                    raise DataError(f"must hold integers, got {kind}", source=src, column=name)
            elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                raise DataError(f"must hold text or numbers, got {kind}", source=src, column=name)
            elif pa.types.is_floating(kind):
                values = col.to_numpy()
                if not np.isfinite(values).all():
                    row = int(np.argmax(~np.isfinite(values)))
                    raise DataError(f"must be finite, got {values[row]!r}", source=src, row=row + 1, column=name)
        text = _is_text(table.schema.field("title_id").type)
        if text:  # sorted by the titles' shortlex positions, the order of their IdIndex
            title = np.asarray(table.column("title_id").to_pylist(), dtype=object)
            key = IdIndex.from_values(title, "title").lookup(title)
        else:
            title = key = table.column("title_id").to_numpy().astype(np.int64)
        variant = table.column("variant_id").to_numpy().astype(np.int64)
        order = np.lexsort((variant, key))
        dup = (np.diff(key[order]) == 0) & (np.diff(variant[order]) == 0)
        if dup.any():
            row = int(order[int(np.argmax(dup)) + 1])
            raise DataError(
                f"title {show_id(title[row])} has variant {variant[row]} twice; variant ids must be unique within a title",
                source=src, row=row + 1, column="variant_id",
            )  # fmt: skip
        keys = {"title_id": pa.string() if text else pa.int64(), "variant_id": pa.int64()}
        table = table.take(pa.array(order)).cast(pa.schema([pa.field(f.name, keys.get(f.name, f.type)) for f in table.schema]))
        object.__setattr__(self, "table", table.select([*_KEYS, *attrs]))

    # ---- reading and writing -------------------------------------------------------------
    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ArtworkVariants:
        """Read a variants table from Parquet (``.parquet``) or CSV (anything else)."""
        path = Path(path)
        if not path.is_file():
            raise DataError("does not exist; pass a Parquet or CSV variants table (title_id, variant_id, attributes...)", source=str(path))
        try:
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
            else:
                from pyarrow import csv

                table = csv.read_csv(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"could not be read as {'Parquet' if path.suffix == '.parquet' else 'CSV'}: {exc}", source=str(path)) from None
        return cls(table, source=str(path))

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as Parquet."""
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.table, path)
        return path

    # ---- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def attributes(self) -> tuple[str, ...]:
        """Names of the attribute columns."""
        return tuple(self.table.column_names[2:])

    @cached_property
    def _encoded(self) -> tuple[tuple[str, ...], np.ndarray]:
        names: list[str] = []
        blocks: list[np.ndarray] = []
        for attr in self.attributes:
            col = self.table.column(attr)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                values = np.asarray(col.to_pylist(), dtype=object)
                levels = ATTRIBUTES.get(attr) if set(values) <= set(ATTRIBUTES.get(attr, ())) else tuple(sorted(set(values)))
                names += [f"{attr}={level}" for level in levels]
                blocks.append((values[:, None] == np.asarray(levels, dtype=object)[None, :]).astype(np.float64))
            else:
                names.append(attr)
                blocks.append(col.to_numpy().astype(np.float64)[:, None])
        features = np.hstack(blocks)
        features.setflags(write=False)
        return tuple(names), features

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the ``k`` feature columns (``palette=warm``, ..., numeric attributes as named)."""
        return self._encoded[0]

    @property
    def features(self) -> np.ndarray:
        """(n_variants, k) float64 features, one row per table row."""
        return self._encoded[1]

    @cached_property
    def _spans(self) -> dict[int | str, tuple[int, int]]:
        column = self.table.column("title_id")
        title = np.asarray(column.to_pylist(), dtype=object) if _is_text(column.type) else column.to_numpy()
        starts = np.flatnonzero(np.r_[True, title[1:] != title[:-1]])
        stops = np.r_[starts[1:], title.size]
        return {title[a].item() if isinstance(title[a], np.generic) else title[a]: (int(a), int(b)) for a, b in zip(starts, stops, strict=True)}

    @cached_property
    def _titles(self) -> IdIndex:
        # Built only for an id of the other kind (``"42"`` in an integer table, ``42`` in a text one).
        return IdIndex(self.title_ids, "title")

    @property
    def title_ids(self) -> np.ndarray:
        """Titles with variants: (n,) int64 ascending, or (n,) object array of ``str`` in shortlex order."""
        if _is_text(self.table.schema.field("title_id").type):
            return np.asarray(list(self._spans), dtype=object)
        return np.fromiter(self._spans, dtype=np.int64)

    def of(self, title_id: int | str) -> TitleVariants:
        """The variants of one title: an id of the table's kind, or of the other kind written the same
        way (``"42"`` finds integer title 42, ``42`` finds text title ``"42"``), as an ``IdIndex`` looks up.

        Raises:
            UnknownIdError: the title has no variants.
        """
        span = self._spans.get(title_id) if type(title_id) is int or type(title_id) is str else None
        if span is None:  # another type (np.int64, ...), or an id spelled as the other kind
            position = self._titles.position(title_id)
            if position is None:
                raise UnknownIdError(f"title {show_id(title_id)} has no artwork variants; supply a variants table that covers it")
            title_id = self._titles.ids[position].item() if not self._titles.is_string else self._titles.ids[position]
            span = self._spans[title_id]
        a, b = span  # a title's rows are contiguous: views, not copies (this is on the request path)
        return TitleVariants(title_id, self._variant_ids[a:b], self.features[a:b], np.arange(a, b))

    def attributes_of(self, row: int) -> dict[str, Any]:
        """The attribute values of one table row."""
        return {attr: values[row] for attr, values in self._attribute_values.items()}

    @cached_property
    def _variant_ids(self) -> np.ndarray:
        ids = self.table.column("variant_id").to_numpy()
        ids.setflags(write=False)
        return ids

    @cached_property
    def _attribute_values(self) -> dict[str, list[Any]]:
        # Python lists: indexing one is ~50x cheaper than an Arrow scalar's ``as_py()``.
        return {attr: self.table.column(attr).to_pylist() for attr in self.attributes}


def generate_variants(catalog: Catalog, *, seed: int = 0, min_variants: int = 3, max_variants: int = 6) -> ArtworkVariants:
    """Deterministic artwork variants for a catalog without real artwork.

    Each title gets between ``min_variants`` and ``max_variants`` distinct (palette, subject, text)
    combinations, drawn by a generator seeded with ``(seed, id_seed(title_id))`` (an integer id
    itself, a text id the SHA-256 of its UTF-8: see :func:`id_seed`); a title's genres make
    matching palettes likelier (horror and thrillers dark, children's films bright, ...).
    Variant ids are ``0..m-1`` within each title.
    """
    if not (1 <= min_variants <= max_variants):
        raise DataError(f"need 1 <= min_variants <= max_variants, got {min_variants} and {max_variants}")
    palettes, subjects, texts = ATTRIBUTES["palette"], ATTRIBUTES["subject"], ATTRIBUTES["text"]
    combos = np.array([(p, s, t) for p in range(len(palettes)) for s in range(len(subjects)) for t in range(len(texts))])
    max_variants = min(max_variants, len(combos))
    cols: dict[str, list[Any]] = {"title_id": [], "variant_id": [], "palette": [], "subject": [], "text": []}
    ids = catalog.table.column("title_id").to_pylist()
    genres = catalog.table.column("genres").to_pylist()
    for title, title_genres in zip(ids, genres, strict=True):
        rng = np.random.default_rng([seed, id_seed(title)])
        own = set(title_genres or ())
        weight = np.array([1.0 + 2.0 * len(own.intersection(_PALETTE_GENRES[p])) for p in palettes])
        p = weight[combos[:, 0]]
        m = int(rng.integers(min_variants, max_variants + 1))
        pick = combos[rng.choice(len(combos), size=min(m, len(combos)), replace=False, p=p / p.sum())]
        for j, (a, b, c) in enumerate(pick):
            cols["title_id"].append(title)
            cols["variant_id"].append(j)
            cols["palette"].append(palettes[a])
            cols["subject"].append(subjects[b])
            cols["text"].append(texts[c])
    title_type = pa.string() if _is_text(catalog.table.schema.field("title_id").type) else pa.int64()
    table = pa.table({"title_id": pa.array(cols["title_id"], title_type), "variant_id": pa.array(cols["variant_id"], pa.int64()),
                      **{k: pa.array(cols[k], pa.string()) for k in ("palette", "subject", "text")}})  # fmt: skip
    return ArtworkVariants(table, source=f"generated (seed {seed})")

