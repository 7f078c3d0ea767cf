"""The playback surface is pinned, and the subpackage stays beside ranking and serving."""

import subprocess
import sys

import marquee.playback


def test_exported_names():
    assert {
        "Trace", "TraceSet", "Video", "SessionConfig", "Sessions", "simulate", "Scheme", "Observation",
        "RateBased", "BBA", "BOLA", "RobustMPC", "HarmonicMean", "load_traces", "load_video", "read_traces",
        "read_video", "SCHEMES",
    } <= set(marquee.playback.__all__)  # fmt: skip
    for name in marquee.playback.__all__:
        assert hasattr(marquee.playback, name), name
    assert set(marquee.playback.SCHEMES) == {"rb", "bba", "bola", "robustmpc", "optimal", "marquee"}


def test_imports_nothing_of_ranking_serving_evaluation_or_cli():
    code = (
        "import sys, marquee.playback; "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('marquee.') and m.count('.') >= 1}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['errors', 'playback']"


def test_a_user_scheme_is_a_few_lines():
    import numpy as np

    from marquee import playback

    class AlwaysLowest(playback.Scheme):
        name = "lowest"

        def choose(self, obs: playback.Observation) -> np.ndarray:
            return np.zeros(obs.n_sessions, dtype=np.int64)

    s = playback.simulate(playback.load_traces("fcc_pensieve88")[:5], playback.load_video("envivio"), AlwaysLowest())
    assert s.scheme == "lowest"
    assert (s.rung[:, 1:] == 0).all() and (s.rung[:, 0] == 1).all()
    assert "lowest" not in playback.SCHEMES  # registering is opt-in
