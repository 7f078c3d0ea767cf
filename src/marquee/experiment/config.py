"""An experiment's analysis plan: tables and their columns, variants, metrics, guardrails, alpha.

Written once as a TOML or JSON file and validated here, at the edge; every later step trusts it.
A misspelled key is an error, not ignored. Relative table paths are read from the config file's
directory. Tables are Parquet or CSV (``.csv``, ``.tsv``, optionally ``.gz``): a file, a directory
of them or a glob. ``examples/experiment/`` has a working plan of every kind. Example::

    name = "home-row-order"
    variants = [{name = "control", weight = 1}, {name = "new-order", weight = 1}]
    primary = "watch_minutes"
    alpha = 0.05
    correction = "holm"          # holm | bh | none, across success metrics x variants
    sequential = true            # anytime-valid: safe to look every day

    [exposures]
    path = "exposures.parquet"   # a file, a directory of parts or a glob
    member_id = "member_id"      # your column names
    variant = "variant"
    timestamp = "timestamp"

    [events]
    path = "events.parquet"
    event = "event"
    value = "value"

    [[metrics]]
    name = "watch_minutes"
    events = ["play"]
    aggregate = "sum"            # sum of value | count of events | any (0/1)
    cuped = true

    [[metrics]]
    name = "minutes_per_session"
    numerator = "watch_minutes"
    denominator = "sessions"

    [[guardrails]]
    metric = "rebuffers"
    margin = 0.05

A **wide** event table has one row per member and time and one numeric column per measure (the
shape of most exports); each metric then names its ``column`` (default: the metric's name) and
aggregates it over the member's rows (``sum``, the default for wide tables; ``count`` of rows where
it is not 0; ``any``)::

    [events]
    path = "daily.csv"
    layout = "wide"
    timestamp = "date"

    [[metrics]]
    name = "watch_minutes"       # reads the column watch_minutes

A **covariate table** (one row per member) gives CUPED a pre-period metric computed elsewhere; a
metric names its column with ``covariate`` (which turns CUPED on for it; members without a row
count as 0)::

    [covariates]
    path = "pre_period.parquet"
    member_id = "member_id"

    [[metrics]]
    name = "watch_minutes"
    covariate = "minutes_before"
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from marquee.config import load_config_file
from marquee.errors import ConfigError
from marquee.experiment import _checks
from marquee.experiment.assignment import Variant, _variants
from marquee.experiment.guardrails import Guardrail

__all__ = ["CovariateTable", "EventTable", "ExperimentConfig", "ExposureTable", "Metric"]

Aggregate = Literal["sum", "count", "any"]
Layout = Literal["long", "wide"]


@dataclass(frozen=True)
class ExposureTable:
    """Where exposures live and which column holds each field (``experiment``: optional filter column)."""

    path: str | None = None
    member_id: str = "member_id"
    variant: str = "variant"
    timestamp: str = "timestamp"
    experiment: str | None = None

    def __post_init__(self) -> None:
        for f in ("member_id", "variant", "timestamp"):
            _checks.name(getattr(self, f), "exposures", f)


@dataclass(frozen=True)
class EventTable:
    """Where events live and their columns.

    ``layout = "long"`` (default): one row per event, with its name in ``event`` and, for ``sum``
    metrics, its amount in ``value``. ``layout = "wide"``: one row per member and time with one
    numeric column per measure, which metrics name with ``column``; ``event`` and ``value`` are
    then unused.
    """

    path: str | None = None
    member_id: str = "member_id"
    event: str = "event"
    timestamp: str = "timestamp"
    value: str | None = "value"
    layout: Layout = "long"

    def __post_init__(self) -> None:
        for f in ("member_id", "event", "timestamp"):
            _checks.name(getattr(self, f), "events", f)
        _checks.require(self.layout in ("long", "wide"), "events", "layout", "'long' (one row per event) or 'wide' (one column per measure)", self.layout)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if v is not None}
        if self.layout == "long":
            del out["layout"]
        else:
            out.pop("event"), out.pop("value", None)
        return out


@dataclass(frozen=True)
class CovariateTable:
    """Per-member CUPED covariates computed elsewhere: one row per member, one numeric column per covariate."""

    path: str | None = None
    member_id: str = "member_id"

    def __post_init__(self) -> None:
        _checks.name(self.member_id, "covariates", "member_id")


@dataclass(frozen=True)
class Metric:
    """A per-member metric, or a ratio of two of them.

    Attributes:
        name: how the metric is called in reports.
        events: event names that count towards it (a plain metric).
        aggregate: per member, ``"sum"`` of the value column, ``"count"`` of events, or ``"any"``
            (1 if the member had at least one such event).
        column: with a wide event table, the column it reads instead of ``events`` (``sum``: its
            total; ``count``: rows where it is not 0; ``any``: 1 if any such row).
        numerator, denominator: names of two plain metrics; the metric is then
            ``Σ numerator / Σ denominator`` per variant, its variance by the delta method.
        cuped: adjust with a pre-period covariate (plain metrics only): the same metric over the
            ``pre_period_days`` before each member's first exposure, or ``covariate``. The
            comparison then also reports the analysis without CUPED, untested: one quantity, one test.
        covariate: a column of the covariate table to adjust with instead of the pre-period window
            (turns ``cuped`` on).
        higher_is_better: the direction of "better", for decisions and guardrails.
    """

    name: str
    events: tuple[str, ...] = ()
    aggregate: Aggregate = "count"
    numerator: str | None = None
    denominator: str | None = None
    cuped: bool = False
    higher_is_better: bool = True
    column: str | None = None
    covariate: str | None = None

    def __post_init__(self) -> None:
        _checks.name(self.name, "Metric")
        owner = f"Metric({self.name!r})"
        if isinstance(self.events, str):
            object.__setattr__(self, "events", (self.events,))
        object.__setattr__(self, "events", tuple(self.events))
        for e in self.events:
            _checks.name(e, owner, "events")
        _checks.require(self.aggregate in ("sum", "count", "any"), owner, "aggregate", "'sum', 'count' or 'any'", self.aggregate)
        _checks.require(isinstance(self.cuped, bool), owner, "cuped", "true or false", self.cuped)
        _checks.require(isinstance(self.higher_is_better, bool), owner, "higher_is_better", "true or false", self.higher_is_better)
        for f in ("column", "covariate"):
            if getattr(self, f) is not None:
                _checks.name(getattr(self, f), owner, f)
        if self.is_ratio:
            if not (self.numerator and self.denominator):
                raise ConfigError(f"{owner}: a ratio metric needs both numerator and denominator (names of other metrics)")
            if self.events or self.column is not None:
                raise ConfigError(f"{owner}: give either events or a column (a plain metric) or numerator/denominator (a ratio), not both")
            if self.cuped or self.covariate is not None:
                raise ConfigError(f"{owner}: cuped applies to plain metrics; set cuped on the numerator's metric instead")
        elif self.events and self.column is not None:
            raise ConfigError(f"{owner}: give either events (a long event table) or column (a wide one), not both")
        elif not self.events and self.column is None:
            raise ConfigError(f"{owner} needs events = [...] (the event names it counts) or numerator/denominator (a ratio), or with a wide event table a column")
        if self.covariate is not None:
            object.__setattr__(self, "cuped", True)

    @property
    def is_ratio(self) -> bool:
        return self.numerator is not None or self.denominator is not None

    @property
    def sources(self) -> tuple[str, ...]:
        """What a plain metric aggregates: its event names (long table) or its one column (wide table)."""
        return self.events if self.column is None else (self.column,)

    def describe(self) -> str:
        """The quantity measured, e.g. ``sum of 'play'`` or ``'rebuffers' / 'plays'``."""
        if self.is_ratio:
            return f"{self.numerator!r} / {self.denominator!r}"
        what = ", ".join(repr(s) for s in sorted(self.sources))
        return f"{self.aggregate} of {'column ' if self.column is not None else ''}{what}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.is_ratio:
            out |= {"numerator": self.numerator, "denominator": self.denominator}
        else:
            out |= {"events": list(self.events)} if self.column is None else {"column": self.column}
            out |= {"aggregate": self.aggregate, "cuped": self.cuped}
            if self.covariate is not None:
                out["covariate"] = self.covariate
        return out | {"higher_is_better": self.higher_is_better}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, layout: Layout = "long") -> Metric:
        """Build from a ``[[metrics]]`` table; with a ``wide`` event table a plain metric reads the
        column named like itself unless it names another, and ``sum`` is its default aggregate."""
        _checks.known_keys(data, {f.name for f in fields(cls)}, f"metric {data.get('name', '?')!r}" if isinstance(data, dict) else "metric")
        if "name" not in data:
            raise ConfigError(f"a [[metrics]] table has no name: {data}")
        events = data.get("events", ())
        d = data | {"events": (events,) if isinstance(events, str) else tuple(events)}
        plain = "numerator" not in d and "denominator" not in d
        if layout == "wide" and plain and not d["events"]:
            d.setdefault("column", d["name"])
            d.setdefault("aggregate", "sum")
        return cls(**d)


def _timestamp(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if _checks.is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    raise ConfigError(f"{what} must be unix seconds or an ISO-8601 date/time (naive = UTC), got {value!r}")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything the analysis needs, validated at construction; round-trips through :meth:`to_dict`.

    Attributes:
        name: the experiment (also the filter value when ``exposures.experiment`` is set).
        variants: arms with their designed weights (for the sample-ratio check); control first
            unless ``control`` names another.
        metrics: every metric to analyse; ``primary`` names the one that decides shipping. Each
            quantity once: a CUPED metric also reports its analysis without CUPED.
        exposures, events, covariates: the tables (``covariates``: optional per-member CUPED covariates).
        guardrails: non-inferiority margins on some metrics.
        alpha: error rate of every interval and test.
        correction: multiplicity correction over success metrics × treatments: ``"holm"`` (FWER),
            ``"bh"`` (FDR) or ``"none"``.
        sequential: decide on anytime-valid confidence sequences (safe to look daily) instead of
            fixed-horizon Welch tests (valid only when read once at the planned size).
        tuning: members (all arms) at which the confidence sequence is tightest.
        srm_alpha: sample-ratio-mismatch threshold (chi-square p-value).
        pre_period_days: length of the CUPED covariate window before each first exposure.
        start, end: analysis window (unix seconds); default: the data's own span.
        relative_interval: ``"delta"`` or ``"fieller"`` for the relative-lift interval.
    """

    name: str
    variants: tuple[Variant, ...]
    metrics: tuple[Metric, ...]
    primary: str
    exposures: ExposureTable = field(default_factory=ExposureTable)
    events: EventTable = field(default_factory=EventTable)
    guardrails: tuple[Guardrail, ...] = ()
    covariates: CovariateTable = field(default_factory=CovariateTable)
    control: str | None = None
    alpha: float = 0.05
    correction: Literal["holm", "bh", "none"] = "holm"
    sequential: bool = False
    tuning: float = 5000.0
    srm_alpha: float = 0.001
    pre_period_days: float = 14.0
    start: float | None = None
    end: float | None = None
    relative_interval: Literal["delta", "fieller"] = "delta"

    def __post_init__(self) -> None:
        _checks.name(self.name, "ExperimentConfig")
        owner = "ExperimentConfig"
        raw = self.variants if isinstance(self.variants, dict) else list(self.variants)
        object.__setattr__(self, "variants", _variants(raw, owner))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "guardrails", tuple(self.guardrails))
        names = [v.name for v in self.variants]
        if self.control is None:
            object.__setattr__(self, "control", names[0])
        elif self.control not in names:
            raise ConfigError(f"{owner}.control {self.control!r} is not a variant; variants are {names}")
        if not self.metrics:
            raise ConfigError(f"{owner}.metrics is empty; add at least one [[metrics]] table")
        _checks.unique([m.name for m in self.metrics], owner, "metrics")
        by_name = {m.name: m for m in self.metrics}
        for m in self.metrics:
            for part in (m.numerator, m.denominator):
                if part is not None and (part not in by_name or by_name[part].is_ratio):
                    raise ConfigError(f"Metric({m.name!r}) refers to {part!r}, which is not a plain metric; plain metrics are {[x.name for x in self.metrics if not x.is_ratio]}")
        self._check_sources()
        if self.primary not in by_name:
            raise ConfigError(f"{owner}.primary {self.primary!r} is not a metric; metrics are {list(by_name)}")
        _checks.unique([g.metric for g in self.guardrails], owner, "guardrails")
        for g in self.guardrails:
            if g.metric not in by_name:
                raise ConfigError(f"guardrail metric {g.metric!r} is not a metric; metrics are {list(by_name)}")
            if g.metric == self.primary:
                raise ConfigError(f"the primary metric {g.metric!r} cannot also be a guardrail")
        _checks.require(_checks.is_number(self.alpha) and 0 < self.alpha < 0.5, owner, "alpha", "in (0, 0.5)", self.alpha)
        _checks.require(_checks.is_number(self.srm_alpha) and 0 < self.srm_alpha < 0.5, owner, "srm_alpha", "in (0, 0.5)", self.srm_alpha)
        _checks.require(self.correction in ("holm", "bh", "none"), owner, "correction", "'holm', 'bh' or 'none'", self.correction)
        _checks.require(isinstance(self.sequential, bool), owner, "sequential", "true or false", self.sequential)
        _checks.require(_checks.is_number(self.tuning) and self.tuning > 0, owner, "tuning", "> 0 (members)", self.tuning)
        _checks.require(_checks.is_number(self.pre_period_days) and self.pre_period_days >= 0, owner, "pre_period_days", ">= 0", self.pre_period_days)
        _checks.require(self.relative_interval in ("delta", "fieller"), owner, "relative_interval", "'delta' or 'fieller'", self.relative_interval)
        object.__setattr__(self, "start", _timestamp(self.start, f"{owner}.start"))
        object.__setattr__(self, "end", _timestamp(self.end, f"{owner}.end"))
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ConfigError(f"{owner}.end must come after start, got start={self.start} end={self.end}")

    def _check_sources(self) -> None:
        """Metrics read what the event table holds, and each quantity is analysed (and tested) once."""
        wide = self.events.layout == "wide"
        for m in self.metrics:
            if m.is_ratio:
                continue
            if wide and m.events:
                raise ConfigError(
                    f"Metric({m.name!r}) names events, but the event table is wide (one column per measure): "
                    f"give column = \"...\" instead (default: the metric's name), or set [events].layout = \"long\""
                )
            if not wide and m.column is not None:
                raise ConfigError(
                    f"Metric({m.name!r}) names column {m.column!r}, which applies to a wide event table: "
                    "set [events].layout = \"wide\", or give events = [...]"
                )
        seen: dict[tuple[Any, ...], str] = {}
        for m in self.metrics:
            key = ("ratio", m.numerator, m.denominator) if m.is_ratio else ("plain", frozenset(m.sources), m.aggregate)
            if key in seen:
                raise ConfigError(
                    f"metrics {seen[key]!r} and {m.name!r} measure the same quantity ({m.describe()}); analyse it once: "
                    "a metric with cuped = true also reports its analysis without CUPED, and only one of the two is "
                    "tested (two names would count it twice in the multiplicity correction)"
                )
            seen[key] = m.name

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise ConfigError(f"unknown metric {name!r}; metrics are {[m.name for m in self.metrics]}")

    @property
    def treatments(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants if v.name != self.control)

    @property
    def weights(self) -> dict[str, float]:
        return {v.name: v.weight for v in self.variants}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "variants": [{"name": v.name, "weight": v.weight} for v in self.variants],
            "control": self.control,
            "primary": self.primary,
            "metrics": [m.to_dict() for m in self.metrics],
            "guardrails": [g.to_dict() for g in self.guardrails],
            "exposures": {k: v for k, v in vars(self.exposures).items() if v is not None},
            "events": self.events.to_dict(),
        }
        if self.covariates != CovariateTable() or any(m.covariate is not None for m in self.metrics):
            out["covariates"] = {k: v for k, v in vars(self.covariates).items() if v is not None}
        for f in ("alpha", "correction", "sequential", "tuning", "srm_alpha", "pre_period_days", "start", "end", "relative_interval"):
            if getattr(self, f) is not None:
                out[f] = getattr(self, f)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: str | os.PathLike[str] | None = None) -> ExperimentConfig:
        """Build from a mapping (a parsed file); relative table paths are resolved against ``base_dir``."""
        allowed = {f.name for f in fields(cls)}
        _checks.known_keys(data, allowed, "experiment config")
        for key in ("name", "variants", "metrics", "primary"):
            if key not in data:
                raise ConfigError(f"experiment config is missing {key!r}")
        d = dict(data)
        metrics = d.pop("metrics")
        if not isinstance(metrics, list):
            raise ConfigError("experiment config: metrics must be a list of [[metrics]] tables")
        guardrails = d.pop("guardrails", [])
        if not isinstance(guardrails, list):
            raise ConfigError("experiment config: guardrails must be a list of [[guardrails]] tables")
        tables: dict[str, Any] = {}
        for key, kind in (("exposures", ExposureTable), ("events", EventTable), ("covariates", CovariateTable)):
            spec = d.pop(key, {})
            _checks.known_keys(spec, {f.name for f in fields(kind)}, f"[{key}]")
            if key == "events" and spec.get("layout") == "wide" and ("event" in spec or "value" in spec):
                raise ConfigError(
                    "[events]: event and value name the columns of a long table (one row per event); a wide table "
                    "(layout = \"wide\") has one column per measure, which each metric names with column = \"...\""
                )
            path = spec.get("path")
            if path is not None:
                if not isinstance(path, str) or not path:
                    raise ConfigError(f"[{key}].path must be a file, directory or glob, got {path!r}")
                if base_dir is not None and not Path(path).is_absolute():
                    path = str(Path(base_dir) / path)
            tables[key] = kind(**(spec | {"path": path}))
        layout = tables["events"].layout
        return cls(
            metrics=tuple(Metric.from_dict(m, layout=layout) for m in metrics),
            guardrails=tuple(Guardrail.from_dict(g) for g in guardrails),
            **tables,
            **d,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ExperimentConfig:
        """Read a TOML or JSON plan; errors name the file."""
        p = Path(path)
        data = load_config_file(p)
        try:
            return cls.from_dict(data, base_dir=p.resolve().parent)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None
