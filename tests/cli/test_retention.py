"""``marquee retention fit|score|plan|simulate``: files written, plans within budget, and bad input refused with
exit code 3 and one line on stderr naming the file, row and column."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from marquee.cli.main import app
from tests.retention.test_hazard import simulate

runner = CliRunner()


def retention(*args):
    return runner.invoke(app, ["retention", *map(str, args)])


def history(n: int = 400, seed: int = 0) -> pa.Table:
    """Members from a known discrete-time hazard (tests/retention/test_hazard.py), with an id column."""
    table = simulate(n, seed)[0].table
    return pa.table({"member_id": [f"m{i}" for i in range(n)], **{c: table.column(c) for c in table.column_names}})


def trial(n: int = 600, seed: int = 0) -> pa.Table:
    """A randomised trial: arm 'a' helps members with x1 > 0, arm 'b' helps in proportion to x2."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.random(n)
    plan = rng.choice(["basic", "plus", "max"], n)
    arm = rng.choice(["control", "a", "b"], n)
    lift = np.where(arm == "a", 0.8 * (x1 > 0), 0.0) + np.where(arm == "b", 0.6 * x2, 0.0)
    retained = (rng.random(n) < expit(0.5 + 0.5 * x1 + lift)).astype(np.int64)
    ids = [f"t{i}" for i in range(n)]
    return pa.table({"member_id": ids, "x1": x1, "x2": x2, "plan": plan, "arm": arm, "retained": retained})


def write(table: pa.Table, path):
    pacsv.write_csv(table, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("retention-cli")
    t = trial()
    targets = t.slice(0, 200).drop_columns(["arm", "retained"])
    targets = targets.set_column(0, "member_id", pa.array([f"g{i}" for i in range(200)]))
    (d / "costs.csv").write_text("intervention,cost\na,1.0\nb,2.5\n")
    return {"dir": d, "history": write(history(), d / "history.csv"), "trial": write(t, d / "trial.csv"),
            "targets": write(targets, d / "targets.csv"), "costs": d / "costs.csv"}  # fmt: skip


@pytest.fixture(scope="module")
def model(files):
    d = files["dir"]
    result = retention("fit", files["history"], "--exclude", "member_id", "--models", "discrete,cox,km", "--draws",
                       "50", "--segment", "plan", "--out", d / "model", "--report", d / "fit.html")  # fmt: skip
    assert result.exit_code == 0, result.output
    return d / "model", result


def test_fit_saves_the_model_and_writes_a_report(model, files):
    path, result = model
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["class"] == "marquee.retention.DiscreteHazard"
    assert manifest["duration"] == "duration" and manifest["members"] == 400 and manifest["bands"]["n_draws"] == 50
    assert (path / "arrays.safetensors").is_file()
    page = (files["dir"] / "fit.html").read_text()
    assert "<img" in page
    for name in ("discrete", "cox", "km", "Harrell's C"):
        assert name in result.stdout
    assert "400 members" in result.stderr and "covariates: x1, x2, plan" in result.stderr


def test_score_writes_probability_and_band(model, files):
    from marquee.retention import ChurnBands

    out = files["dir"] / "scores.csv"
    result = retention("score", model[0], files["history"], "--id-column", "member_id", "--out", out)
    assert result.exit_code == 0, result.output
    scores = pacsv.read_csv(out)
    assert scores.column_names == ["member_id", "probability", "low", "high"]
    assert scores.num_rows == 400 and scores.column("member_id").to_pylist()[:2] == ["m0", "m1"]
    p, low, high = (scores.column(c).to_numpy() for c in ("probability", "low", "high"))
    assert np.all((low >= 0) & (low <= high) & (high <= 1)) and np.all((p >= 0) & (p <= 1))
    assert np.mean((low <= p) & (p <= high)) > 0.99
    # the same as the Python API, from each member's tenure (the model's duration column)
    bands, _ = ChurnBands.load(model[0])
    table = pacsv.read_csv(files["history"])
    expected = bands.score(table, 3, start=table.column("duration").to_numpy().astype(float))
    np.testing.assert_allclose(p, expected.probability, rtol=1e-12)
    parquet = files["dir"] / "scores.parquet"
    result = retention("score", model[0], files["history"], "--horizon", "6", "--tenure", "duration", "--out", parquet)
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    six = pq.read_table(parquet)
    assert six.column_names == ["probability", "low", "high"]
    assert np.all(six.column("probability").to_numpy() >= p - 1e-12)  # six months hold at least the first three


def test_plan_stays_within_budget_and_writes_a_report(files):
    d = files["dir"]
    out, page = d / "plan.csv", d / "plan.html"
    result = retention("plan", files["trial"], files["targets"], "--budget", "60", "--costs", files["costs"],
                       "--id-column", "member_id", "--out", out, "--report", page)  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = pacsv.read_csv(out)
    assert plan.column_names == ["member_id", "intervention", "estimated_gain", "cost"]
    assert plan.num_rows == 200
    given = np.asarray(plan.column("intervention").to_pylist())
    assert set(given) <= {"none", "a", "b"} and (given != "none").any()
    cost = plan.column("cost").to_numpy()
    assert cost.sum() <= 60 + 1e-9
    np.testing.assert_array_equal(cost[given == "a"], 1.0)
    np.testing.assert_array_equal(cost[given == "b"], 2.5)
    np.testing.assert_array_equal(cost[given == "none"], 0.0)
    assert "<img" in page.read_text()
    assert "budget" in result.stdout and "600 members" in result.stderr


def test_per_member_cost_columns_take_precedence(files):
    d = files["dir"]
    targets = pacsv.read_csv(files["targets"]).append_column("cost_a", pa.array(np.full(200, 10.0)))
    result = retention("plan", files["trial"], write(targets, d / "priced.csv"), "--budget", "30", "--costs",
                       files["costs"], "--id-column", "member_id", "--out", d / "priced-plan.csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    plan = pacsv.read_csv(d / "priced-plan.csv")
    given = np.asarray(plan.column("intervention").to_pylist())
    np.testing.assert_array_equal(plan.column("cost").to_numpy()[given == "a"], 10.0)
    assert plan.column("cost").to_numpy().sum() <= 30 + 1e-9


# ---- the bad-input contract ----------------------------------------------------------------------


def edit_csv(path, out, row: int, column: str, value: str):
    """A copy of ``path`` with data row ``row`` (1-based) of ``column`` set to the raw text ``value``."""
    lines = path.read_text().splitlines()
    header = [h.strip('"') for h in lines[0].split(",")]
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    out.write_text("\n".join(lines) + "\n")
    return out


def assert_one_line(result, code: int, *parts: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("duration", "-2", "is -2, a negative duration"),
        ("event", "2", "is 2; an event flag is 1 (left) or 0"),
        ("event", "maybe", "is 'maybe'; an event flag is 1/0, true/false or yes/no"),
        ("duration", "", "is missing"),
    ],
)
def test_fit_refuses_bad_rows(files, tmp_path, column, value, message):
    bad = edit_csv(files["history"], tmp_path / "bad.csv", 7, column, value)
    result = retention("fit", bad, "--exclude", "member_id", "--out", tmp_path / "model")
    assert_one_line(result, 3, "DataError", str(bad), "row 7", f"column '{column}'", message)
    assert not (tmp_path / "model").exists()


def test_yes_no_events_are_accepted(files, tmp_path):
    table = pacsv.read_csv(files["history"])
    flags = np.where(table.column("event").to_numpy() == 1, "Yes", "No")
    table = table.set_column(table.column_names.index("event"), "event", pa.array(flags.tolist()))
    result = retention("fit", write(table, tmp_path / "yes.csv"), "--exclude", "member_id", "--models", "discrete")
    assert result.exit_code == 0, result.output


def test_fit_refuses_unreadable_or_tiny_tables_and_bad_options(files, tmp_path):
    missing = tmp_path / "nope.csv"
    assert_one_line(retention("fit", missing), 3, str(missing), "no such file")
    tiny = write(pacsv.read_csv(files["history"]).slice(0, 10), tmp_path / "tiny.csv")
    assert_one_line(retention("fit", tiny, "--exclude", "member_id"), 3, str(tiny), "fitting needs at least 20 and 5")
    assert_one_line(retention("fit", files["history"], "--test-share", "1.5"), 2, "--test-share must be in (0, 1)")
    assert_one_line(retention("fit", files["history"], "--models", "discrete,forest"), 2, "unknown model 'forest'")
    absent = retention("fit", files["history"], "--covariates", "x1,age")
    assert_one_line(absent, 3, str(files["history"]), "column 'age'", "has no column 'age'")


@pytest.mark.parametrize(
    "case",
    [
        "absent",
        "null",
        "unseen",
        "tenure",
    ],
)
def test_score_refuses_bad_members(model, files, tmp_path, case):
    table = pacsv.read_csv(files["history"])
    if case == "absent":
        bad, parts = table.drop_columns(["x2"]), ["column 'x2'", "has no column 'x2'"]
    elif case == "null":
        values = table.column("x2").to_pylist()
        values[4] = None
        bad, parts = table.set_column(2, "x2", pa.array(values, pa.float64())), ["row 5", "column 'x2'", "is missing"]
    elif case == "unseen":
        values = table.column("plan").to_pylist()
        values[8] = "family"
        i = table.column_names.index("plan")
        bad, parts = table.set_column(i, "plan", pa.array(values)), ["row 9", "column 'plan'", "never saw"]
    else:
        values = table.column("duration").to_numpy().copy()
        values[2] = -1
        i = table.column_names.index("duration")
        bad, parts = table.set_column(i, "duration", pa.array(values)), ["row 3", "column 'duration'", "is negative"]
    path = write(bad, tmp_path / "members.csv")
    result = retention("score", model[0], path, "--out", tmp_path / "s.csv")
    assert_one_line(result, 3, "DataError", str(path), *parts)
    assert not (tmp_path / "s.csv").exists()


def test_score_refuses_a_damaged_model(model, files, tmp_path):
    import shutil

    copy = shutil.copytree(model[0], tmp_path / "model")
    raw = bytearray((copy / "arrays.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (copy / "arrays.safetensors").write_bytes(bytes(raw))
    result = retention("score", copy, files["history"], "--out", tmp_path / "s.csv")
    assert_one_line(result, 6, "ArtifactError", "fails its checksum")


@pytest.mark.parametrize(
    ("costs", "parts"),
    [
        ("intervention,cost\na,1.0\nb,\n", ["row 2", "column 'cost'", "intervention 'b' has no cost"]),
        ("intervention,cost\na,1.0\n", ["column 'cost'", "intervention 'b' has no cost: add a row 'b,<cost>'"]),
        ("cost\n1.0\n", ["column 'intervention'", "a costs table has columns intervention,cost"]),
        ("intervention,cost\na,1.0\nb,-1\n", ["row 2", "column 'cost'", "negative"]),
    ],
    ids=["null-cost", "no-cost-row", "no-intervention-column", "negative-cost"],
)
def test_plan_refuses_bad_costs(files, tmp_path, costs, parts):
    path = tmp_path / "costs.csv"
    path.write_text(costs)
    result = retention("plan", files["trial"], files["targets"], "--budget", "60", "--costs", path, "--id-column",
                       "member_id", "--out", tmp_path / "p.csv")  # fmt: skip
    assert_one_line(result, 3, "DataError", str(path), *parts)
    assert not (tmp_path / "p.csv").exists()


def test_plan_names_the_targets_file_for_a_bad_cost_column(files, tmp_path):
    targets = pacsv.read_csv(files["targets"])
    targets = targets.append_column("cost_a", pa.array([1.0] * 199 + [-1.0]))
    path = write(targets, tmp_path / "targets.csv")
    result = retention("plan", files["trial"], path, "--budget", "60", "--costs", files["costs"], "--id-column",
                       "member_id", "--out", tmp_path / "p.csv")  # fmt: skip
    assert_one_line(result, 3, "DataError", str(path), "row 200", "column 'cost_a'", "negative")


def test_plan_refuses_bad_trials(files, tmp_path):
    t = pacsv.read_csv(files["trial"])
    flags = t.column("retained").to_pylist()
    flags[3] = 2
    bad = write(t.set_column(t.column_names.index("retained"), "retained", pa.array(flags)), tmp_path / "t.csv")
    common = ["--budget", "60", "--costs", files["costs"], "--id-column", "member_id", "--out", tmp_path / "p.csv"]
    assert_one_line(retention("plan", bad, files["targets"], *common), 3, str(bad), "row 4", "column 'retained'")
    no_control = t.set_column(t.column_names.index("arm"), "arm", pa.array(["a"] * t.num_rows))
    path = write(no_control, tmp_path / "nc.csv")
    assert_one_line(retention("plan", path, files["targets"], *common), 3, str(path), "needs a 'control' arm")
    targets = pacsv.read_csv(files["targets"]).drop_columns(["x1"])
    path = write(targets, tmp_path / "g.csv")
    assert_one_line(retention("plan", files["trial"], path, *common), 3, str(path), "column 'x1'", "has no column")
    assert_one_line(retention("plan", files["trial"], files["targets"], *common, "--holdout", "1"), 2, "--holdout")


def test_simulate_needs_a_thousand_members(tmp_path):
    result = retention("simulate", "--members", "999", "--out", tmp_path / "sim")
    assert_one_line(result, 2, "--members must be at least 1000, got 999")
    assert not (tmp_path / "sim").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_simulate_writes_tables_the_other_commands_take(tmp_path, ml100k, marquee_home):
    out = tmp_path / "sim"
    result = retention("simulate", "--members", "1000", "--out", out, "--home", marquee_home)
    assert result.exit_code == 0, result.output
    tables = {name: pacsv.read_csv(out / f"{name}.csv") for name in ("history", "trial", "targets", "costs", "truth")}
    assert tables["history"].num_rows == 1000
    assert {"duration", "event", "plan", "rec_fit"} <= set(tables["history"].column_names)
    assert set(tables["trial"].column("arm").to_pylist()) == {"control", "reengage", "discount", "ads_offer"}
    assert tables["trial"].num_rows + tables["targets"].num_rows == tables["history"].column(
        "event"
    ).to_numpy().size - (tables["history"].column("event").to_numpy().sum())
    assert tables["costs"].column("intervention").to_pylist() == ["reengage", "discount", "ads_offer"]
    p = tables["truth"].column("churn_probability").to_numpy()
    assert np.all((p > 0) & (p < 1)) and tables["truth"].num_rows == tables["targets"].num_rows
    result = retention("plan", out / "trial.csv", out / "targets.csv", "--id-column", "member_id", "--budget", "100",
                       "--learner", "t", "--out", out / "plan.csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pacsv.read_csv(out / "plan.csv").column("cost").to_numpy().sum() <= 100 + 1e-9
