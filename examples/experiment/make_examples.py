"""Regenerate the example files in this directory: ``python examples/experiment/make_examples.py [DIR]``.

One simulated experiment (``marquee.experiment.simulate``, seeded: the same files every time),
written in every shape ``marquee experiment analyze`` reads:

* ``exposures.parquet`` / ``exposures.csv`` — member, variant, first and later exposures;
* ``events.parquet`` / ``events.csv`` — the *long* event table: one row per event (session, play
  with its minutes, rebuffer), including the 7 days before each member's first exposure;
* ``events-wide.parquet`` / ``events-wide.csv`` — the same events as a *wide* export: one row per
  member and hour, one column per measure, from the experiment's first day on (no pre-period);
* ``covariates.parquet`` / ``covariates.csv`` — each member's watch minutes and sessions in the 7
  days before their first exposure, computed here as another system would (members with neither
  have no row), for CUPED on the wide table.

Event times are whole hours and minutes have one decimal, so that the long and wide tables hold
the same numbers and every plan here reaches the same result (the test suite checks it). The
plans (``plan*.toml``/``plan*.json``) and allocation files are written by hand, not by this script.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marquee.experiment import simulate

HERE = Path(__file__).resolve().parent
DAY, HOUR = 86400, 3600
PRE_PERIOD_DAYS = 7
MEMBERS, DAYS, SESSIONS_PER_DAY, LIFT, SEED = 400, 7, 0.5, 0.3, 1


def _iso(seconds: np.ndarray, *, zulu: bool) -> list[str]:
    fmt = "%Y-%m-%dT%H:%M:%SZ" if zulu else "%Y-%m-%d %H:%M:%S"
    return [datetime.fromtimestamp(int(s), UTC).strftime(fmt) for s in seconds]


def _write_csv(path: Path, header: list[str], columns: list[list[object]]) -> None:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        out.writerows(zip(*columns, strict=True))


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def tables() -> dict[str, pa.Table]:
    """The example tables, as Arrow (timestamps in whole seconds, UTC)."""
    exposures, events = simulate(
        MEMBERS, variants=("control", "new-order"), lift={"new-order": LIFT}, harm={"new-order": -0.1},
        days=DAYS, ramp_days=DAYS // 2, pre_period_days=PRE_PERIOD_DAYS, sessions_per_day=SESSIONS_PER_DAY, seed=SEED,
    )  # fmt: skip
    x_member = exposures.column("member_id").to_numpy()
    x_variant = exposures.column("variant").to_pylist()
    x_ts = exposures.column("timestamp").cast(pa.int64()).to_numpy() // 1000  # whole seconds
    order = np.lexsort((x_ts, x_member))
    x_member, x_ts, x_variant = x_member[order], x_ts[order], [x_variant[i] for i in order]

    e_member = events.column("member_id").to_numpy()
    e_kind = np.array(events.column("event").to_pylist())
    e_ts = events.column("timestamp").cast(pa.int64()).to_numpy() // 1000 // HOUR * HOUR  # whole hours
    e_value = np.round(events.column("value").to_numpy(), 1)
    order = np.lexsort((e_kind, e_ts, e_member))
    e_member, e_kind, e_ts, e_value = e_member[order], e_kind[order], e_ts[order], e_value[order]

    def ts(seconds: np.ndarray) -> pa.Array:
        return pa.array(seconds, pa.timestamp("s", tz="UTC"))

    out = {
        "exposures": pa.table({"member_id": x_member, "variant": x_variant, "timestamp": ts(x_ts)}),
        "events": pa.table({"member_id": e_member, "event": e_kind, "value": e_value, "timestamp": ts(e_ts)}),
    }

    # Wide: per member and hour from the experiment's first day, one column per measure.
    start = int(x_ts.min()) // DAY * DAY
    keep = e_ts >= start
    keys = np.stack([e_member[keep], e_ts[keep]], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    kind, value = e_kind[keep], e_value[keep]
    wide = {"member_id": uniq[:, 0], "hour": ts(uniq[:, 1])}
    for column, (event, summed) in {"watch_minutes": ("play", True), "sessions": ("session", False),
                                    "plays": ("play", False), "rebuffers": ("rebuffer", False)}.items():  # fmt: skip
        amount = np.where(kind == event, value if summed else 1.0, 0.0)
        wide[column] = np.round(np.bincount(inverse, weights=amount, minlength=len(uniq)), 1)
    out["events-wide"] = pa.table(wide)

    # Covariates: each member's measures in the PRE_PERIOD_DAYS before their first exposure.
    first = dict(zip(*np.unique(x_member, return_index=True), strict=True))
    t0 = np.array([x_ts[first[m]] for m in e_member])
    pre = (e_ts < t0) & (e_ts >= t0 - PRE_PERIOD_DAYS * DAY)
    members = np.unique(x_member)
    index = np.searchsorted(members, e_member)
    minutes = np.round(np.bincount(index, weights=np.where(pre & (e_kind == "play"), e_value, 0.0), minlength=len(members)), 1)
    sessions = np.bincount(index, weights=(pre & (e_kind == "session")).astype(float), minlength=len(members))
    has = (minutes > 0) | (sessions > 0)
    out["covariates"] = pa.table({"member_id": members[has], "watch_minutes_before": minutes[has], "sessions_before": sessions[has]})
    return out


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables().items():
        pq.write_table(table, directory / f"{name}.parquet", compression="zstd")
        cols = {c: table.column(c) for c in table.column_names}
        if name == "exposures":  # ISO 8601 date/times with Z
            rows = [cols["member_id"].to_pylist(), cols["variant"].to_pylist(), _iso(cols["timestamp"].cast(pa.int64()).to_numpy(), zulu=True)]
        elif name == "events":  # unix seconds
            rows = [cols["member_id"].to_pylist(), cols["event"].to_pylist(), [_num(v) for v in cols["value"].to_pylist()],
                    cols["timestamp"].cast(pa.int64()).to_pylist()]  # fmt: skip
        elif name == "events-wide":  # date/times without an offset (UTC)
            rows = [cols["member_id"].to_pylist(), _iso(cols["hour"].cast(pa.int64()).to_numpy(), zulu=False)]
            rows += [[_num(v) for v in cols[c].to_pylist()] for c in table.column_names[2:]]
        else:
            rows = [cols["member_id"].to_pylist()] + [[_num(v) for v in cols[c].to_pylist()] for c in table.column_names[1:]]
        _write_csv(directory / f"{name}.csv", table.column_names, rows)
        written += [directory / f"{name}.parquet", directory / f"{name}.csv"]
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"{path} ({path.stat().st_size:,} bytes)")
