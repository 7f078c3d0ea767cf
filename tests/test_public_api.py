"""The curated public surface: what users import stays put (change it on purpose)."""

import subprocess
import sys

import marquee.bandit
import marquee.data
import marquee.evaluate
import marquee.metrics
import marquee.ope
import marquee.rank


def test_exported_names():
    assert set(marquee.data.__all__) == {
        "INTERACTION_SCHEMA", "ArtworkLog", "ArtworkVariants", "Catalog", "Dataset", "Holdout", "IdIndex", "Interactions", "LoggedFeedback",
        "Members", "Split", "dataset_dir", "generate_variants", "global_temporal", "leave_one_out", "open_dataset", "tie_keys",
    }  # fmt: skip
    assert {"EASE", "ItemKNN", "MostPopular", "ALS", "BPR", "SASRec", "Recommender", "Recommendations", "RANKERS"} <= set(marquee.rank.__all__)
    assert {"evaluate", "run_protocol", "tune", "Leaderboard", "write_html_report"} <= set(marquee.evaluate.__all__)
    assert {"ndcg", "hit_rate", "mrr", "coverage", "bootstrap_mean", "paired_comparison", "harrell_c", "uno_c", "brier_scores",
            "integrated_brier_score", "concordance_interval", "integrated_brier_interval", "calibration_table", "CalibrationTable"} <= set(marquee.metrics.__all__)
    assert {"IPS", "SNIPS", "DirectMethod", "DoublyRobust", "SelfNormalizedDR", "SwitchDR", "DRShrinkage", "RewardModel", "Estimate", "evaluate", "compare", "FeatureRewardModel"} <= set(marquee.ope.__all__)
    assert {"EpsilonGreedy", "LinUCB", "LinearTS", "BernoulliTS", "OffPolicyLearner", "Policy", "Decider", "DecisionSink", "InMemoryDecisionLog",
            "CandidateLinUCB", "CandidateLinearTS", "CandidateEpsilonGreedy", "SQLiteDecisionLog"} <= set(marquee.bandit.__all__)
    for module in (marquee.data, marquee.rank, marquee.evaluate, marquee.metrics, marquee.ope, marquee.bandit):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_import_marquee_is_cheap():
    code = "import sys, marquee; heavy = [m for m in ('torch', 'implicit', 'matplotlib', 'duckdb') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_rankers_registry_is_lazy():
    code = "import sys, marquee.rank as r; a = 'torch' in sys.modules; cls = r.RANKERS['sasrec']; print(a, 'torch' in sys.modules, cls.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False True SASRec"


def test_library_never_imports_the_cli():
    code = "import sys, marquee.evaluate, marquee.rank, marquee.data; print([m for m in sys.modules if m.startswith('marquee.cli')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_experiment_exports_and_stays_light():
    import marquee.experiment

    assert set(marquee.experiment.__all__) == {
        "CUPED", "AdjustedStats", "CovariateTable", "corrected_alpha", "fixed_intervals", "minimum_detectable_effect",
        "Allocator", "Assignment", "Comparison", "Decision", "EventTable", "Experiment",
        "ExperimentConfig", "Exposure", "ExposureSink", "ExposureTable", "Guardrail", "GuardrailResult", "GuardrailStatus",
        "Holdout", "Layer", "MeanStats", "MemberAssignments", "MemorySink", "Metric", "ParquetSink", "RatioStats", "Readout",
        "SampleRatio", "SequencePoint", "Totals", "Variant", "Verdict", "Welch", "adjust", "adjust_p_values", "aggregate",
        "always_valid_p_value", "analyze", "bucket", "check_guardrail", "compare", "confidence_sequence", "decide",
        "fieller_interval", "log_exposures", "pooled_theta", "read_totals", "relative_lift", "sample_ratio_test", "simulate",
        "welch", "write_demo", "write_html_report",
    }  # fmt: skip
    for name in marquee.experiment.__all__:
        assert hasattr(marquee.experiment, name), f"marquee.experiment.{name}"
    code = "import sys, marquee.experiment; print(sorted(m for m in sys.modules if m in ('duckdb', 'matplotlib', 'torch') or m.startswith('marquee.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_sim_exports_the_world():
    import marquee.sim

    assert {
        "World", "WorldConfig", "Sessions", "Responses", "Engagement", "Calibration", "calibrate", "SyntheticBandit",
        "ABTest", "ab_test", "context_policy", "ranker_policy", "interleave", "members_for_power", "online_value",
    } <= set(marquee.sim.__all__)  # fmt: skip
    assert {"team_draft", "interleaving_test", "Interleaved", "InterleavingTest", "replay", "ReplayEstimate"} <= set(marquee.evaluate.__all__)
    assert {"ContextReranker", "ContextRerankerConfig", "ContextStage"} <= set(marquee.rank.__all__)
    for name in marquee.sim.__all__:
        assert hasattr(marquee.sim, name), f"marquee.sim.{name}"
    code = "import sys, marquee.sim; print(sorted(m for m in sys.modules if m in ('torch', 'implicit', 'duckdb') or m.startswith('marquee.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
