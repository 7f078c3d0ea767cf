"""The Open Bandit Dataset sample: real ZOZOTOWN fashion-recommendation logs, with known propensities.

Yuta Saito, Shunsuke Aihara, Megumi Matsutani and Yusuke Narita. *Open Bandit Dataset and
Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation.* NeurIPS 2021 Datasets and
Benchmarks. ZOZO, Inc.; licensed CC BY 4.0. The same week of traffic was served by two policies
at once, uniform Random and Bernoulli Thompson Sampling (BTS), in three campaigns (all, men,
women); each chose 3 items for 3 slots and logged the propensity of each choice. The sample,
10,000 rows per campaign and policy, ships inside the ``obp`` wheel on PyPI: Marquee downloads
that wheel (no install, no dependencies, SHA-256-checked) and caches only its data files, plus
the published ZOZOTOWN prior of the BTS policy (``obp/policy/conf/prior_bts.yaml``) as JSON.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from marquee.data._wheel import cache_files, files_from_wheel
from marquee.data.dataset import dataset_dir
from marquee.data.feedback import LoggedFeedback
from marquee.errors import ConfigError, DataError, FetchError

__all__ = ["CAMPAIGNS", "NAME", "POLICIES", "fetch_open_bandit", "open_bandit_log", "parse_bts_prior", "summary_lines", "zozotown_prior"]

NAME = "open-bandit"
OBP_REQUIREMENT = "obp==0.4.1"
OBP_WHEEL = "obp-0.4.1-py3-none-any.whl"
OBP_WHEEL_SHA256 = "87dec9caf4283c25ab13036532e0a24566f1c7bdcad1653a8ded43b2f5ef8208"
DATA_PREFIX = "obp/dataset/obd/"
PRIOR_FILE = "obp/policy/conf/prior_bts.yaml"
CAMPAIGNS = ("all", "men", "women")
POLICIES = ("random", "bts")
CREDIT = (
    "Open Bandit Dataset (small sample), ZOZO, Inc. - Saito, Aihara, Matsutani & Narita, 'Open Bandit Dataset and "
    "Pipeline', NeurIPS 2021 Datasets and Benchmarks. Licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)."
)


def _log_noop(_msg: str) -> None:
    return None


def fetch_open_bandit(home: str | os.PathLike[str] | None = None, *, force: bool = False, log=_log_noop) -> Path:  # type: ignore[no-untyped-def]
    """Fetch and cache the Open Bandit Dataset sample; later calls return the cache offline.

    Returns:
        The cache directory (``$MARQUEE_HOME/datasets/open-bandit``), holding
        ``{random,bts}/{all,men,women}/{campaign}.csv`` and ``item_context.csv``,
        ``prior_bts.json`` and ``manifest.json`` (source, credit, licence, SHA-256 of each file).
    Raises:
        FetchError: the wheel could not be downloaded, or its checksum or contents are wrong.
    """
    target = dataset_dir(NAME, home)
    if not force and (target / "manifest.json").is_file():
        return target
    log(f"downloading the {OBP_REQUIREMENT} wheel (data files only are kept)")
    files = files_from_wheel(OBP_REQUIREMENT, OBP_WHEEL, OBP_WHEEL_SHA256, lambda n: _wanted(n))
    expected = {f"{p}/{c}/{name}" for p in POLICIES for c in CAMPAIGNS for name in (f"{c}.csv", "item_context.csv")}
    data = {n.removeprefix(DATA_PREFIX): b for n, b in files.items() if n.startswith(DATA_PREFIX)}
    missing = sorted(expected - set(data))
    if missing or PRIOR_FILE not in files:
        raise FetchError(f"the {OBP_WHEEL} wheel lacks {missing or [PRIOR_FILE]}")
    prior = parse_bts_prior(files[PRIOR_FILE].decode())
    manifest = {
        "name": NAME,
        "source": f"pypi:{OBP_REQUIREMENT} ({OBP_WHEEL}, sha256 {OBP_WHEEL_SHA256})",
        "credit": CREDIT,
        "licence": "CC BY 4.0",
    }
    kept = {rel: content for rel, content in sorted(data.items()) if rel in expected}
    cache_files(target, kept, manifest, extra={"prior_bts.json": (json.dumps(prior, indent=1) + "\n").encode()})
    log(f"cached at {target}")
    return target


def _wanted(name: str) -> bool:
    return name == PRIOR_FILE or (name.startswith(DATA_PREFIX) and name.endswith(".csv"))


def parse_bts_prior(text: str) -> dict[str, dict[str, list[float]]]:
    """Parse obp's ``prior_bts.yaml`` (campaign -> alpha/beta -> list of floats) without a YAML library.

    Raises:
        FetchError: the text is not in that shape, or alpha and beta differ in length.
    """
    prior: dict[str, dict[str, list[float]]] = {}
    campaign = key = None
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        item = line.strip()
        try:
            if indent == 0 and item.endswith(":"):
                campaign, key = item[:-1], None
                prior[campaign] = {}
            elif item.endswith(":") and campaign is not None:
                key = item[:-1]
                prior[campaign][key] = []
            elif item.startswith("- ") and campaign is not None and key is not None:
                prior[campaign][key].append(float(item[2:]))
            else:
                raise ValueError(item)
        except ValueError:
            raise FetchError(f"{PRIOR_FILE} line {i}: unexpected {raw.strip()!r}") from None
    for campaign, params in prior.items():
        if set(params) != {"alpha", "beta"} or len(params["alpha"]) != len(params["beta"]):
            raise FetchError(f"{PRIOR_FILE}: campaign {campaign!r} needs alpha and beta of equal length")
    return prior


def zozotown_prior(campaign: str, home: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Beta prior ``(alpha, beta)`` per item that ZOZOTOWN's BTS policy started the week with
    (published with obp as ``prior_bts.yaml``), fetched with the dataset.

    Returns:
        ``(alpha, beta)``: (n_items,) float64 each.
    """
    _check_choice("campaign", campaign, CAMPAIGNS)
    prior = json.loads((fetch_open_bandit(home) / "prior_bts.json").read_text())
    return np.asarray(prior[campaign]["alpha"], np.float64), np.asarray(prior[campaign]["beta"], np.float64)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _read(directory: Path, rel: str, digests: dict[str, str]) -> pa.Table:
    content = (directory / rel).read_bytes()
    if hashlib.sha256(content).hexdigest() != digests.get(rel):
        raise DataError("does not match the manifest's checksum; fetch again with `marquee data fetch open-bandit --force`", source=str(directory / rel))
    return pacsv.read_csv(io.BytesIO(content))


def _one_hot(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    blocks, names = [], []
    for name, values in columns.items():
        cats, codes = np.unique(values, return_inverse=True)
        blocks.append(np.eye(cats.size)[codes])
        names += [f"{name}={c}" for c in cats.tolist()]
    return (np.hstack(blocks) if blocks else np.zeros((0, 0))), names


def open_bandit_log(campaign: str, policy: str, home: str | os.PathLike[str] | None = None) -> LoggedFeedback:
    """One campaign's log under one logging policy, as :class:`LoggedFeedback`, in time order.

    Columns become: ``action`` = item id; ``position`` = slot - 1 (0 = left); ``reward`` =
    click; ``propensity`` = the logged propensity score; ``context`` = the four categorical user
    features, one-hot (named ``user_feature_j=<hash>``); ``affinity`` = the user-item affinity
    columns (past clicks of the user on each item); ``action_features`` = item features
    (``item_feature_0`` numeric, the others one-hot); ``timestamp`` = unix microseconds.
    Fetches the sample on first use.
    """
    _check_choice("campaign", campaign, CAMPAIGNS)
    _check_choice("policy", policy, POLICIES)
    directory = fetch_open_bandit(home)
    digests = json.loads((directory / "manifest.json").read_text())["files"]
    rel = f"{policy}/{campaign}/{campaign}.csv"
    table = _read(directory, rel, digests)
    items = _read(directory, f"{policy}/{campaign}/item_context.csv", digests)
    source = str(directory / rel)
    required = ["timestamp", "item_id", "position", "click", "propensity_score"]
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DataError(f"missing columns {missing}; the file is not an Open Bandit log", source=source)
    ts = table.column("timestamp")
    if not pa.types.is_timestamp(ts.type):
        ts = pc.strptime(ts, format="%Y-%m-%d %H:%M:%S.%f%z", unit="us")
    micros = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    order = np.argsort(micros, kind="stable")
    col = lambda name: table.column(name).to_numpy(zero_copy_only=False)[order]  # noqa: E731
    n_items = items.num_rows
    user_cols = sorted(c for c in table.column_names if c.startswith("user_feature_"))
    context, names = _one_hot({c: col(c).astype(str) for c in user_cols})
    affinity_cols = [f"user-item_affinity_{j}" for j in range(n_items)]
    absent = [c for c in affinity_cols if c not in table.column_names]
    if absent:
        raise DataError(f"expected one affinity column per item ({n_items}); missing {absent[:3]}", source=source)
    affinity = np.column_stack([col(c).astype(np.float64) for c in affinity_cols])
    item_order = np.argsort(items.column("item_id").to_numpy())
    item_cat = {c: items.column(c).to_numpy(zero_copy_only=False)[item_order].astype(str) for c in ("item_feature_1", "item_feature_2", "item_feature_3")}
    item_onehot, _ = _one_hot(item_cat)
    item_num = items.column("item_feature_0").to_numpy()[item_order].astype(np.float64)[:, None]
    return LoggedFeedback(
        context=context,
        action=col("item_id"),
        reward=col("click").astype(np.float64),
        propensity=col("propensity_score").astype(np.float64),
        n_actions=n_items,
        policy=policy,
        position=col("position") - 1,
        action_features=np.hstack([item_num, item_onehot]),
        affinity=affinity,
        timestamp=micros[order],
        context_names=tuple(names),
        source=source,
    )



def summary_lines(home: str | os.PathLike[str] | None = None, *, force: bool = False, log=_log_noop) -> list[str]:  # type: ignore[no-untyped-def]
    """Fetch (or find) the sample; one line per log (rows, items, clicks, click rate), the cache and the credit."""
    directory = fetch_open_bandit(home, force=force, log=log)
    lines = []
    for policy in POLICIES:
        for campaign in CAMPAIGNS:
            fb = open_bandit_log(campaign, policy, home)
            lines.append(
                f"{policy:>6}/{campaign:<5}  {len(fb):,} rows  {fb.n_actions} items  {fb.n_positions} slots  "
                f"{int(fb.reward.sum())} clicks  click rate {fb.mean_reward:.4f}"
            )
    return [*lines, f"cached at {directory}", CREDIT]
