"""Regenerate the example files made from ``variants.csv``: ``variants.parquet`` (the same table
as Parquet) and ``decisions.sqlite``, an example decision log.

The log holds 300 decisions of an epsilon-greedy artwork policy, made by the component the service runs
(:class:`marquee.serve.artwork.Artwork`) for simulated members whose click probabilities are
known (:class:`marquee.sim.ArtworkMembers`); every tenth decision got no feedback. Everything is
seeded, and decision ids and times are counted, so the same code writes the same log.

    python examples/artwork/make_examples.py [DIR]   # default: beside this file
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
from pathlib import Path

import numpy as np

from marquee.bandit import SQLiteDecisionLog
from marquee.bandit.artwork import CandidateEpsilonGreedy, context_features
from marquee.data.artwork import ArtworkVariants
from marquee.serve.artwork import Artwork
from marquee.sim import ArtworkMembers

HERE = Path(__file__).resolve().parent
N_DECISIONS = 300


def write_parquet(out: Path) -> Path:
    """``variants.csv`` as Parquet, at ``out``."""
    return ArtworkVariants.read(HERE / "variants.csv").write(out)


def write_log(out: Path, n: int = N_DECISIONS) -> Path:
    """Write the example log to ``out`` (replacing it) and return its path."""
    out.unlink(missing_ok=True)
    variants = ArtworkVariants.read(HERE / "variants.csv")
    members = ArtworkMembers(n_features=len(variants.feature_names), seed=0)
    rng = np.random.default_rng(0)
    ids = (f"example-{i:04d}" for i in itertools.count())
    times = (1_700_000_000_000_000 + 60_000_000 * i for i in itertools.count())  # one a minute
    log = SQLiteDecisionLog(out)
    artwork = Artwork(variants, CandidateEpsilonGreedy(epsilon=0.2), log, seed=0, clock=lambda: next(times), new_id=lambda: next(ids))
    for i in range(n):
        member, title, ctx = 1 + int(rng.integers(50)), int(rng.choice(variants.title_ids)), members.draw_context(rng)
        decision = artwork.decide(member, title, ctx["device"], ctx["local_hour"])
        q = members.click_probability(member, context_features(ctx["device"], ctx["local_hour"]), variants.of(title).features)
        click = float(rng.random() < q[decision.action])
        if i % 10 != 9:
            artwork.feedback(decision.decision_id, click)
    log.close()
    db = sqlite3.connect(out)  # one self-contained file: no write-ahead log beside it
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("VACUUM")
    finally:
        db.close()
    return out


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    print(write_parquet(where / "variants.parquet"))
    print(write_log(where / "decisions.sqlite"))
