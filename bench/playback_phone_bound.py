"""How many bytes could a scheme save on a phone at robustMPC's quality and rebuffering? The offline optimum's answer.

Issue 12's phone target asks for at least 25% fewer bytes than device-blind robustMPC, at equal or better mean
phone quality and no more rebuffering. This script asks whether that is possible at all on each phone network,
even for a scheme that knows the whole trace in advance.

For every price of data ``lam`` (quality points per MB) and price of stall ``mu`` (quality points per second), the
offline optimum (:class:`marquee.playback.OfflineOptimal`, its per-chunk utility overridden to the chunk's phone
quality minus ``lam`` times its megabytes, no smoothness term) finds the plan of each session that maximises
``V = Q - lam * B - mu * S``: quality points, megabytes and stall seconds summed over chunks 2..N. Two readings:

- **What the optimum saves**: among its plans over the grid of prices, the largest byte saving whose quality and
  stall are no worse than robustMPC's (``Q >= Q0``, ``S <= S0``). A scheme that knew the future could save that
  much; an online scheme less.
- **A certificate of impossibility** where no plan qualifies: any plan meeting the target (``Q >= Q0``,
  ``B <= 0.75 * B0``, ``S <= S0``) would score at least ``Q0 - 0.75 * lam * B0 - mu * S0``, so where the optimum's
  ``V`` is below that, no plan meets the target on that set. The largest such gap per chunk is reported (negative:
  no certificate). The DP merges states on a 0.5 s grid, which can lose a little of the optimum, so only a clearly
  positive gap counts.

Both schemes play the phone's ladder with the phone's quality model (:meth:`Device.ladder`) under Pensieve's player
conventions (:class:`SessionConfig` defaults: 60 s buffer, playback from the first chunk), the conventions under
which the DP is exact. The phone's own player (50 s buffer, 2.5 s to start, 5 s to resume) is not modelled by the
DP, so this is a bound for the phone's ladder and screen, not for its player.

Writes bench/results/playback_phone_bound.json and the ``playback-phone-bound`` section of BENCHMARKS.md.

    python bench/playback_phone_bound.py [--shared DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section

PRICES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # quality points per MB
STALL_PRICES = (10.0, 100.0)  # quality points per second of stall
TARGET_SAVING = 0.25


def sums(played, lam: float = 0.0, mu: float = 0.0) -> dict[str, float]:
    """Quality points, megabytes and stall seconds summed over chunks 2..N and sessions, and V."""
    q = played.quality[:, 1:].sum()
    mb = played.video.chunk_bytes[np.arange(1, played.rung.shape[1])[None, :], played.rung[:, 1:]].sum() / 1e6
    s = played.stall_s[:, 1:].sum()
    return {"quality": float(q), "mb": float(mb), "stall_s": float(s), "v": float(q - lam * mb - mu * s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "delivery" / "abr" / "traces")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from marquee import playback

    class PricedQuality(playback.OfflineOptimal):
        """The optimum of phone quality minus a price per megabyte (the stall price is the config's ``mu``)."""

        def __init__(self, price: float) -> None:
            super().__init__()
            self.price = price

        def utility(self, video):  # type: ignore[no-untyped-def]
            return video.quality - self.price * video.chunk_bytes / 1e6

    phone = playback.DEVICES["phone"]
    video = phone.ladder(playback.load_video("envivio"))
    started = time.perf_counter()
    out: dict[str, dict] = {}
    with threadpool_limits(1):
        for net in phone.networks:
            path = args.shared / f"{net}.tar.xz"
            traces = playback.load_traces(net) if not path.exists() else playback.read_traces(path, name=net)
            base = playback.simulate(traces, video, playback.RobustMPC())
            b0 = sums(base)
            n_chunks = (base.rung.shape[1] - 1) * base.n_sessions
            rows = []
            for mu in STALL_PRICES:
                cfg = playback.SessionConfig(rebuffer_penalty=mu, smooth_penalty=0.0)
                for lam in PRICES:
                    plan = playback.simulate(traces, video, PricedQuality(lam), cfg)
                    o = sums(plan, lam, mu)
                    need = b0["quality"] - (1 - TARGET_SAVING) * lam * b0["mb"] - mu * b0["stall_s"]
                    rows.append({
                        "lam": lam, "mu": mu, "v": o["v"], "bar": need, "gap_per_chunk": (need - o["v"]) / n_chunks,
                        "bytes_saved": 1 - o["mb"] / b0["mb"], "quality_delta_per_chunk": (o["quality"] - b0["quality"]) / n_chunks,
                        "stall_delta_s_per_session": (o["stall_s"] - b0["stall_s"]) / base.n_sessions,
                    })  # fmt: skip
                    print(f"{net} mu {mu:g} lam {lam:g}: saved {rows[-1]['bytes_saved']:+.1%}, quality "
                          f"{rows[-1]['quality_delta_per_chunk']:+.2f}/chunk, gap {rows[-1]['gap_per_chunk']:+.3f}", flush=True)  # fmt: skip
            best = max(rows, key=lambda r: r["gap_per_chunk"])
            ok = [r for r in rows if r["quality_delta_per_chunk"] >= 0 and r["stall_delta_s_per_session"] <= 0]
            most = max(ok, key=lambda r: r["bytes_saved"]) if ok else None
            out[net] = {"most_saved": most, "sessions": base.n_sessions, "chunks": base.rung.shape[1] - 1, "robustmpc": b0, "rows": rows, "best": best}
    res = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), "seconds": time.perf_counter() - started,
           "video": "envivio (phone ladder and quality)", "networks": out}  # fmt: skip
    table = report(res)
    print(table)
    if not args.no_write:
        (ROOT / "bench" / "results" / "playback_phone_bound.json").write_text(json.dumps(res, indent=2) + "\n")
        write_section("playback-phone-bound", "Playback: what the offline optimum saves on a phone (bench/playback_phone_bound.py)", table)


def report(res: dict) -> str:
    m = res["machine"]
    lines = [
        (f"Envivio on the phone's ladder and quality model, Pensieve's player conventions; the offline optimum of phone "
         f"quality minus a price of data ({', '.join(f'{p:g}' for p in PRICES)} points per MB) and of stall "
         f"({', '.join(f'{p:g}' for p in STALL_PRICES)} points per second). The certificate is the largest gap, per chunk, "
         "between what a plan meeting the target would score and what the optimum scores: positive means no plan, "
         f"however clairvoyant, saves {TARGET_SAVING:.0%} of robustMPC's bytes at its quality and rebuffering. "
         f"Ran {res['generated']} in {res['seconds']:.0f} s on {m['cpu']} ({m['cores']} cores, load {m['load_average']})."),
        "",
        "| network | sessions | robustMPC MB/session | robustMPC quality/chunk | the optimum at robustMPC's quality and stall: bytes saved (price, stall price) | its quality/chunk, stall s/session vs robustMPC | certificate (points/chunk) |",
        "|---|---:|---:|---:|---|---|---:|",
    ]  # fmt: skip
    for net, r in res["networks"].items():
        b, n = r["best"], r["sessions"]
        q0 = r["robustmpc"]["quality"] / (n * r["chunks"])
        m = r["most_saved"]
        saved = "none of the grid's plans" if m is None else f"**{m['bytes_saved']:+.1%}** ({m['lam']:g}, {m['mu']:g})"
        delta = "-" if m is None else f"{m['quality_delta_per_chunk']:+.2f}, {m['stall_delta_s_per_session']:+.2f}"
        lines.append(f"| {net} | {n} | {r['robustmpc']['mb'] / n:.1f} | {q0:.2f} | {saved} | {delta} | {b['gap_per_chunk']:+.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
