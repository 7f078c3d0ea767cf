"""A synthetic streaming experiment with known effects: for demos, tests and the benchmark.

Each member has a latent engagement ``λ ~ Gamma(shape, 1/shape)`` (mean 1), which drives their
sessions both before and after their first exposure — that shared ``λ`` is what makes the
pre-period a useful CUPED covariate. Per day a member has ``Poisson(rate·λ·lift)`` sessions;
a session has ``1 + Poisson(1.5)`` plays of ``Gamma(2, 20)`` minutes; a play rebuffers with
probability ``p·harm``. ``lift`` and ``harm`` are 1 in the control. Members are first exposed
uniformly over the first ``ramp_days`` and are logged again on later sessions, as a real
exposure log would.

Tables (the analysis's default column names):

* exposures: ``member_id`` int64, ``variant`` string, ``timestamp`` timestamp[ms, UTC]
* events: ``member_id``, ``event`` (``session`` | ``play`` | ``rebuffer``), ``value`` (minutes for
  plays, else 1.0), ``timestamp``
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marquee.errors import ConfigError
from marquee.random import SeedLike, as_generator

__all__ = ["demo_config", "simulate", "write_demo"]

DAY = 86400.0
DEFAULT_START = 1_735_689_600.0  # 2025-01-01 00:00 UTC


def simulate(
    n_members: int = 20_000,
    *,
    variants: Mapping[str, float] | Sequence[str] = ("control", "treatment"),
    lift: Mapping[str, float] | None = None,
    harm: Mapping[str, float] | None = None,
    days: int = 14,
    ramp_days: int = 7,
    pre_period_days: int = 14,
    sessions_per_day: float = 0.6,
    rebuffer_rate: float = 0.05,
    engagement_shape: float = 2.0,
    lost_share: Mapping[str, float] | None = None,
    start: float = DEFAULT_START,
    seed: SeedLike = 0,
) -> tuple[pa.Table, pa.Table]:
    """Generate ``(exposures, events)`` for one experiment.

    Args:
        n_members: members assigned (each one is exposed).
        variants: names (equal weights) or ``{name: weight}``; the first is the control.
        lift: relative change of the session rate per variant, e.g. ``{"treatment": 0.03}``.
        harm: relative change of the rebuffer probability per variant.
        days, ramp_days, pre_period_days: experiment length, enrolment period, history before.
        lost_share: share of a variant's members whose exposures are lost (a sample-ratio bug).
        seed: every draw comes from it.
    """
    if not isinstance(n_members, int) or n_members < 2:
        raise ConfigError(f"n_members must be an int >= 2, got {n_members!r}")
    if not 1 <= ramp_days <= days:
        raise ConfigError(f"ramp_days must be in [1, days={days}], got {ramp_days!r}")
    rng = as_generator(seed)
    weights = dict(variants) if isinstance(variants, Mapping) else {v: 1.0 for v in variants}
    names = list(weights)
    for key, mapping in (("lift", lift), ("harm", harm), ("lost_share", lost_share)):
        unknown = sorted(set(mapping or {}) - set(names))
        if unknown:
            raise ConfigError(f"{key} names unknown variant {unknown[0]!r}; variants are {names}")
    p = np.array([weights[v] for v in names], np.float64)
    arm = rng.choice(len(names), size=n_members, p=p / p.sum())
    lift_a = np.array([1 + (lift or {}).get(v, 0.0) for v in names])[arm]
    harm_a = np.array([1 + (harm or {}).get(v, 0.0) for v in names])[arm]
    members = np.arange(1, n_members + 1, dtype=np.int64) * 7 + 1000  # sparse ids, not row numbers
    engagement = rng.gamma(engagement_shape, 1 / engagement_shape, n_members)
    t0 = start + rng.uniform(0, ramp_days * DAY, n_members)
    end = start + days * DAY

    # Sessions: pre-period at the base rate, post-exposure at the lifted rate.
    pre_days = float(pre_period_days)
    post_days = (end - t0) / DAY
    n_pre = rng.poisson(sessions_per_day * engagement * pre_days)
    n_post = rng.poisson(sessions_per_day * engagement * lift_a * post_days)
    who = np.concatenate([np.repeat(np.arange(n_members), n_pre), np.repeat(np.arange(n_members), n_post)])
    lo = np.concatenate([np.repeat(t0 - pre_days * DAY, n_pre), np.repeat(t0, n_post)])
    hi = np.concatenate([np.repeat(t0, n_pre), np.repeat(np.maximum(t0, end - 1), n_post)])  # everything inside [start, end)
    session_t = lo + rng.uniform(0, 1, who.size) * (hi - lo)
    post = np.concatenate([np.zeros(n_pre.sum(), bool), np.ones(n_post.sum(), bool)])

    plays = 1 + rng.poisson(1.5, who.size)
    play_who = np.repeat(who, plays)
    play_t = np.repeat(session_t, plays) + rng.uniform(0, 1800, play_who.size)
    play_post = np.repeat(post, plays)
    play_t = np.where(play_post, np.minimum(play_t, end - 1), np.minimum(play_t, np.repeat(t0[who], plays) - 1e-3))
    minutes = rng.gamma(2.0, 20.0, play_who.size)
    rebuffer = rng.random(play_who.size) < rebuffer_rate * harm_a[play_who]

    ev_who = np.concatenate([who, play_who, play_who[rebuffer]])
    ev_t = np.concatenate([session_t, play_t, play_t[rebuffer]])
    ev_kind = np.concatenate([np.zeros(who.size, np.int8), np.ones(play_who.size, np.int8), np.full(int(rebuffer.sum()), 2, np.int8)])
    ev_value = np.concatenate([np.ones(who.size), minutes, np.ones(int(rebuffer.sum()))])
    events = pa.table({
        "member_id": members[ev_who],
        "event": pa.DictionaryArray.from_arrays(pa.array(ev_kind), pa.array(["session", "play", "rebuffer"])).cast(pa.string()),
        "value": ev_value,
        "timestamp": pa.array((ev_t * 1000).astype(np.int64), pa.timestamp("ms", tz="UTC")),
    })  # fmt: skip

    # Exposures: the first at t0, then again on some later sessions; some lost for an SRM demo.
    keep = np.ones(n_members, bool)
    for v, share in (lost_share or {}).items():
        idx = np.flatnonzero(arm == names.index(v))
        keep[idx[rng.random(idx.size) < share]] = False
    again = post[: who.size] & (rng.random(who.size) < 0.5) & keep[who]
    x_who = np.concatenate([np.flatnonzero(keep), who[again]])
    x_t = np.concatenate([t0[keep], session_t[again]])
    names_arr = pa.array(names)
    exposures = pa.table({
        "member_id": members[x_who],
        "variant": pa.DictionaryArray.from_arrays(pa.array(arm[x_who].astype(np.int32)), names_arr).cast(pa.string()),
        "timestamp": pa.array((x_t * 1000).astype(np.int64), pa.timestamp("ms", tz="UTC")),
    })  # fmt: skip
    return exposures, events


def demo_config(
    name: str = "demo-row-order", variants: Sequence[str] = ("control", "treatment"), *, sequential: bool = True
) -> dict[str, object]:
    """The analysis plan matching :func:`simulate`'s tables: five metrics (one a ratio), one guardrail."""
    return {
        "name": name,
        "variants": list(variants),
        "primary": "watch_minutes",
        "alpha": 0.05,
        "correction": "holm",
        "sequential": sequential,
        "pre_period_days": 14,
        "exposures": {"path": "exposures.parquet"},
        "events": {"path": "events.parquet"},
        "metrics": [
            {"name": "watch_minutes", "events": ["play"], "aggregate": "sum", "cuped": True},
            {"name": "sessions", "events": ["session"], "aggregate": "count", "cuped": True},
            {"name": "plays", "events": ["play"], "aggregate": "count"},
            {"name": "rebuffers", "events": ["rebuffer"], "aggregate": "count", "higher_is_better": False},
            {"name": "rebuffer_rate", "numerator": "rebuffers", "denominator": "plays", "higher_is_better": False},
        ],
        "guardrails": [{"metric": "rebuffer_rate", "margin": 0.05}],
    }


def write_demo(
    directory: str | os.PathLike[str],
    n_members: int = 20_000,
    *,
    variants: Sequence[str] = ("control", "treatment"),
    lift: Mapping[str, float] | None = None,
    harm: Mapping[str, float] | None = None,
    days: int = 14,
    seed: SeedLike = 0,
) -> Path:
    """Write ``exposures.parquet``, ``events.parquet`` and ``experiment.json`` into ``directory``; return the config's path."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    exposures, events = simulate(n_members, variants=variants, lift=lift, harm=harm, days=days, seed=seed)
    pq.write_table(exposures, out / "exposures.parquet")
    pq.write_table(events, out / "events.parquet")
    config = out / "experiment.json"
    config.write_text(json.dumps(demo_config(variants=variants), indent=2) + "\n")
    return config
