"""Baselines for bench/experiment.py: the same experiment analysis written in pandas + statsmodels.

What an analyst would write without Marquee, computing the same figures: pandas reads the
Parquet tables and joins events to first exposures; per-member values feed statsmodels (Welch's
t-test and its interval, Holm's correction) and scipy (chi-square SRM); CUPED, the delta method
and the confidence sequence are a few lines of numpy. Two versions of the daily looks:

* :func:`analyze_direct` — the direct way: each daily look recomputes every member's values from
  the rows up to that day and tests them (one pass per look);
* :func:`analyze` — a pandas port of Marquee's own algorithm: per member-day changes, one
  groupby-cumsum for every look, so that comparison measures the engines, not the algorithms.

Imports nothing from Marquee, so its figures are an independent check.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

DAY = 86400.0


def _seconds(col: pd.Series) -> pd.Series:
    return col.dt.as_unit("ms").astype("int64") / 1e3


def _cs(est, se, n, alpha, tuning):
    """Waudby-Smith et al. asymptotic confidence sequence (Gaussian mixture), as in GrowthBook."""
    la = -2 * math.log(alpha)
    r2 = (la + math.log(la + 1)) / tuning
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(se**2 * n) * np.sqrt(2 * (n * r2 + 1) * np.log(np.sqrt(n * r2 + 1) / alpha) / (n**2 * r2))
        z2 = est**2 / se**2
        p = np.minimum(1.0, np.exp(-(r2 * n * z2 / (2 * (n * r2 + 1)) - 0.5 * np.log(n * r2 + 1))))
    return est - half, est + half, p


class _Data:
    """The tables read, first exposures found, events joined and turned into metric columns."""

    def __init__(self, plan: dict[str, Any], directory: Path) -> None:
        self.alpha, self.tuning = plan.get("alpha", 0.05), plan.get("tuning", 5000.0)
        self.variants = [v if isinstance(v, str) else v["name"] for v in plan["variants"]]
        self.control, self.treatments = self.variants[0], self.variants[1:]
        self.metrics = plan["metrics"]
        self.plain = [m for m in self.metrics if "events" in m]
        self.guard = {g["metric"] for g in plan.get("guardrails", [])}
        self.is_any = {m["name"]: m.get("aggregate", "count") == "any" for m in self.plain}
        self.cuped = [m["name"] for m in self.plain if m.get("cuped")]
        self.cols = [m["name"] for m in self.plain]
        pre_s = plan.get("pre_period_days", 14) * DAY

        x = pd.read_parquet(directory / "exposures.parquet")
        e = pd.read_parquet(directory / "events.parquet")
        x["ts"] = _seconds(x["timestamp"])
        e["ts"] = _seconds(e["timestamp"])
        units = x.groupby("member_id").agg(variant=("variant", "min"), t0=("ts", "min"), k=("variant", "nunique"))
        self.units = units[units.k == 1].drop(columns="k")
        self.start = math.floor(self.units.t0.min() / DAY) * DAY
        used = sorted({ev for m in self.plain for ev in m["events"]})
        e = e[e.event.isin(used)].join(self.units, on="member_id", how="inner")
        e = e[e.ts >= e.t0 - pre_s]
        for m in self.plain:
            e[m["name"]] = np.where(e.event.isin(m["events"]), e["value"] if m.get("aggregate", "count") == "sum" else 1.0, 0.0)
        post = e.ts >= e.t0
        self.events, self.post = e, post
        self.end = max(self.units.t0.max(), e.loc[post, "ts"].max()) + 1.0
        self.n_days = max(1, math.ceil((self.end - self.start) / DAY))
        pre = e[~post].groupby("member_id")[self.cuped].sum().reindex(self.units.index, fill_value=0.0)
        self.pre = pd.DataFrame({c: (pre[c] > 0).astype(float) if self.is_any[c] else pre[c] for c in self.cuped})

    def values(self, rows: pd.DataFrame, members: pd.Index) -> pd.DataFrame:
        """Each member's metric values from ``rows`` (0 without events), with their variant."""
        v = rows.groupby("member_id")[self.cols].sum().reindex(members, fill_value=0.0)
        for c in self.cols:
            if self.is_any[c]:
                v[c] = (v[c] > 0).astype(float)
        v["variant"] = self.units.variant.reindex(members)
        return v


def _welch_dof(va, na, vb, nb):
    return (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))


def _effect(d: _Data, m: dict[str, Any], a: pd.DataFrame, b: pd.DataFrame, *, final: bool) -> dict[str, float]:
    """One metric, one treatment, at one look: estimate, se, relative lift; with ``final`` the tests too."""
    name, alpha = m["name"], d.alpha
    row: dict[str, float] = {}
    if "numerator" in m:
        num, den = m["numerator"], m["denominator"]

        def lin(arm):
            r = arm[num].sum() / arm[den].sum()
            return r, (arm[num] - r * arm[den]) / arm[den].mean()

        ra, la = lin(a)
        rb, lb = lin(b)
        mu_a, mu_b, va, vb = ra, rb, la.var(ddof=1), lb.var(ddof=1)
        est, se = rb - ra, math.sqrt(va / len(a) + vb / len(b))
        dof = _welch_dof(va, len(a), vb, len(b))
        if final:
            tq = stats.t.ppf(1 - alpha / 2, dof)
            row |= {"low": est - tq * se, "high": est + tq * se, "p": 2 * stats.t.sf(abs(est / se), dof)}
            row["sufficient"] = {"metric": name, "kind": "ratio", **{k: {  # type: ignore[dict-item]
                "n": len(arm), "cross": float((arm[num] * arm[den]).sum()),
                "m": {"n": len(arm), "sum": float(arm[num].sum()), "sum_squares": float((arm[num] ** 2).sum())},
                "d": {"n": len(arm), "sum": float(arm[den].sum()), "sum_squares": float((arm[den] ** 2).sum())},
            } for k, arm in (("a", a), ("b", b))}}  # fmt: skip
    else:
        ya, yb = a[name].to_numpy(), b[name].to_numpy()
        mu_a, mu_b = ya.mean(), yb.mean()
        if name in d.cuped:
            xa, xb = d.pre[name].reindex(a.index).to_numpy(), d.pre[name].reindex(b.index).to_numpy()
            if final:
                row["sufficient"] = {"metric": name, "kind": "mean_ra", **{k: {  # type: ignore[dict-item]
                    "n": len(y), "cross": float((y * xx).sum()),
                    "post": {"n": len(y), "sum": float(y.sum()), "sum_squares": float((y**2).sum())},
                    "pre": {"n": len(y), "sum": float(xx.sum()), "sum_squares": float((xx**2).sum())},
                } for k, y, xx in (("a", ya, xa), ("b", yb, xb))}}  # fmt: skip
            xs, ys = np.concatenate([xa, xb]), np.concatenate([ya, yb])
            theta = np.cov(xs, ys)[0, 1] / xs.var(ddof=1)
            ya, yb = ya - theta * xa, yb - theta * xb
        elif final:
            row["sufficient"] = {"metric": name, "kind": "mean", **{k: {  # type: ignore[dict-item]
                "n": len(y), "sum": float(y.sum()), "sum_squares": float((y**2).sum())} for k, y in (("a", ya), ("b", yb))}}  # fmt: skip
        cm = CompareMeans(DescrStatsW(yb), DescrStatsW(ya))
        est, se = yb.mean() - ya.mean(), cm.std_meandiff_separatevar
        va, vb = ya.var(ddof=1), yb.var(ddof=1)
        dof = _welch_dof(va, len(ya), vb, len(yb))
        if final:
            _, p, dof = ttest_ind(yb, ya, usevar="unequal")
            low, high = cm.tconfint_diff(alpha=alpha, usevar="unequal")
            row |= {"low": low, "high": high, "p": p}
    rel = est / mu_a
    rel_se = math.sqrt(vb / (mu_a**2 * len(b)) + mu_b**2 * va / (mu_a**4 * len(a)))
    tq = stats.t.ppf(1 - alpha / 2, dof)
    return row | {"mean_a": mu_a, "mean_b": mu_b, "estimate": est, "se": se, "relative": rel, "relative_se": rel_se,
                  "relative_low": rel - tq * rel_se, "relative_high": rel + tq * rel_se, "n": len(a) + len(b)}  # fmt: skip


def _final(d: _Data) -> dict[str, Any]:
    """The fixed-horizon readout at the last look: statsmodels tests, Holm, SRM, sufficient statistics."""
    vals = d.values(d.events[d.post], d.units.index)
    arms = {v: vals[vals.variant == v] for v in d.variants}
    members = {v: len(arms[v]) for v in d.variants}
    fixed, sufficient = {}, []
    for m in d.metrics:
        for t in d.treatments:
            row = _effect(d, m, arms[d.control], arms[t], final=True)
            sufficient.append(row.pop("sufficient") | {"variant": t})
            row["p_adjusted"] = row["p"]  # guardrails: non-inferiority, no correction
            fixed[(m["name"], t)] = row
    family = [k for k in fixed if k[0] not in d.guard]
    for k, p in zip(family, multipletests([fixed[k]["p"] for k in family], method="holm")[1], strict=True):
        fixed[k]["p_adjusted"] = p
    srm_p = float(stats.chisquare(np.array([members[v] for v in d.variants], float)).pvalue)
    return {"members": members, "srm_p": srm_p, "fixed": fixed, "sufficient": sufficient, "days": d.n_days}


def analyze_direct(plan: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The direct way: every daily look recomputes members' values from the rows up to then."""
    d = _Data(plan, directory)
    out = _final(d)
    looks: dict[tuple[str, str], dict[str, list[float]]] = {}
    for day in range(d.n_days):
        cut = d.start + (day + 1) * DAY
        members = d.units.index[d.units.t0 < cut]
        vals = d.values(d.events[d.post & (d.events.ts < cut)], members)
        arms = {v: vals[vals.variant == v] for v in d.variants}
        for m in d.metrics:
            for t in d.treatments:
                a, b = arms[d.control], arms[t]
                if len(a) < 2 or len(b) < 2:
                    continue
                e = _effect(d, m, a, b, final=False)
                low, high, p = _cs(e["estimate"], e["se"], e["n"], d.alpha, d.tuning)
                rlow, rhigh, _ = _cs(e["relative"], e["relative_se"], e["n"], d.alpha, d.tuning)
                seq = looks.setdefault((m["name"], t), {"day": [], "low": [], "high": [], "p": [], "relative_low": [], "relative_high": []})
                for k, v in (("day", day), ("low", low), ("high", high), ("p", p), ("relative_low", rlow), ("relative_high", rhigh)):
                    seq[k].append(v)
    out["sequential"] = {k: {f: np.asarray(v) for f, v in s.items()} for k, s in looks.items()}
    return out


def analyze(plan: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Marquee's algorithm ported to pandas: the daily looks from cumulated per member-day changes."""
    d = _Data(plan, directory)
    out = _final(d)
    e = d.events
    e["day"] = np.where(d.post, ((e.ts - d.start) // DAY).astype("int64"), -1)
    daily = e[d.post].groupby(["member_id", "day"], sort=True)[d.cols].sum()
    cols, is_any, variants = d.cols, d.is_any, d.variants
    cum = daily.groupby(level="member_id").cumsum()
    prev = cum - daily
    now = pd.DataFrame({c: (cum[c] > 0).astype(float) if is_any[c] else cum[c] for c in cols})
    was = pd.DataFrame({c: (prev[c] > 0).astype(float) if is_any[c] else prev[c] for c in cols})
    member = daily.index.get_level_values("member_id")
    pre_x = {c: d.pre[c].reindex(member).to_numpy() for c in d.cuped}
    changes = {}
    for c in cols:
        changes[("s", c)] = now[c] - was[c]
        changes[("q", c)] = now[c] ** 2 - was[c] ** 2
        if c in pre_x:
            changes[("xy", c)] = (now[c] - was[c]) * pre_x[c]
    for r in (m for m in d.metrics if "numerator" in m):
        changes[("c", r["numerator"], r["denominator"])] = now[r["numerator"]] * now[r["denominator"]] - was[r["numerator"]] * was[r["denominator"]]
    frame = pd.DataFrame(changes).reset_index(drop=True)
    frame.columns = ["|".join(k) for k in changes]
    frame["variant"] = d.units.variant.reindex(member).to_numpy()
    frame["day"] = daily.index.get_level_values("day")
    n_days = d.n_days
    grid = pd.MultiIndex.from_product([variants, range(n_days)], names=["variant", "day"])
    totals = frame.groupby(["variant", "day"]).sum().reindex(grid, fill_value=0.0).groupby(level="variant").cumsum()
    entry = d.units.assign(day=((d.units.t0 - d.start) // DAY).clip(0, n_days - 1).astype("int64"))
    for c in pre_x:
        entry["x|" + c] = d.pre[c]
        entry["xx|" + c] = d.pre[c] ** 2
    entry["n"] = 1.0
    entries = entry.drop(columns=["t0"]).groupby(["variant", "day"]).sum().reindex(grid, fill_value=0.0).groupby(level="variant").cumsum()
    cumul = pd.concat([totals, entries], axis=1)
    control, treatments, alpha, tuning, metrics = d.control, d.treatments, d.alpha, d.tuning, d.metrics

    # Daily looks: the confidence sequence from the cumulative totals.
    sequential: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for m in metrics:
        name = m["name"]
        for t in treatments:
            arm = {}
            for v in (control, t):
                tot = cumul.loc[v]
                n = tot["n"].to_numpy()
                if "numerator" in m:
                    num, den = m["numerator"], m["denominator"]
                    sn, qn, sd, qd = (tot[f"{k}|{c}"].to_numpy() for k, c in (("s", num), ("q", num), ("s", den), ("q", den)))
                    cr = tot[f"c|{num}|{den}"].to_numpy()
                    with np.errstate(divide="ignore", invalid="ignore"):
                        r, md_ = sn / sd, sd / n
                        vn, vd = (qn - sn**2 / n) / (n - 1), (qd - sd**2 / n) / (n - 1)
                        cov = (cr - sn * sd / n) / (n - 1)
                        var = (vn - 2 * r * cov + r**2 * vd) / md_**2
                    arm[v] = (n, r, var, None)
                else:
                    s, q = tot[f"s|{name}"].to_numpy(), tot[f"q|{name}"].to_numpy()
                    with np.errstate(divide="ignore", invalid="ignore"):
                        arm[v] = (n, s / n, (q - s**2 / n) / (n - 1), (s, q, tot.get(f"x|{name}"), tot.get(f"xx|{name}"), tot.get(f"xy|{name}")))
            (na, ma, va, ea), (nb, mb, vb, eb) = arm[control], arm[t]
            if name in pre_x:  # CUPED at every look, theta pooled over both arms
                with np.errstate(divide="ignore", invalid="ignore"):
                    def parts(n, ex):
                        s, q, xs_, xx, xy = (np.asarray(v, float) for v in ex)
                        return n, s, q, xs_, xx, xy

                    pa_, pb_ = parts(na, ea), parts(nb, eb)
                    n, s, q, xs_, xx, xy = (u + w for u, w in zip(pa_, pb_, strict=True))
                    theta = ((xy - s * xs_ / n) / (n - 1)) / ((xx - xs_**2 / n) / (n - 1))

                    def adjusted(p):
                        n, s, q, xs_, xx, xy = p
                        vy, vx, c = (q - s**2 / n) / (n - 1), (xx - xs_**2 / n) / (n - 1), (xy - s * xs_ / n) / (n - 1)
                        return s / n - theta * xs_ / n, vy + theta**2 * vx - 2 * theta * c

                    (ma_adj, va), (mb_adj, vb) = adjusted(pa_), adjusted(pb_)
                est = mb_adj - ma_adj
            else:
                est = mb - ma
            with np.errstate(divide="ignore", invalid="ignore"):
                se = np.sqrt(va / na + vb / nb)
                rel = est / ma
                rel_se = np.sqrt(vb / (ma**2 * nb) + mb**2 * va / (ma**4 * na))
            low, high, p = _cs(est, se, na + nb, alpha, tuning)
            rlow, rhigh, _ = _cs(rel, rel_se, na + nb, alpha, tuning)
            sequential[(name, t)] = {"low": low, "high": high, "p": p, "relative_low": rlow, "relative_high": rhigh}
    out["sequential"] = sequential
    return out
