"""Deterministic allocation of members to experiment variants, with layers and holdouts.

Every draw is a hash, never a random number, so any process — the service, a batch job, this
library in five years — gives a member the same variant:

``bucket(member, salt) = int(SHA-256(utf8(salt + "\\x1f" + str(member)))[:8], big-endian) / 2**64``

a number in [0, 1) that depends only on the salt and the member id's text form (``42`` and
``"42"`` are the same member). Python's ``hash()`` is salted per process and is never used.

* A :class:`Layer` owns one slice of traffic. Its experiments take consecutive, non-overlapping
  ranges of the layer's bucket (hashed with the layer's salt), so they are mutually exclusive;
  experiments in different layers use different salts and so are independent of each other
  (overlapping experiments, Tang et al., KDD 2010).
* Inside an experiment a second hash (the experiment's salt) picks the variant by weight, so
  resizing an experiment's traffic does not reshuffle the members already in it.
* A :class:`Holdout` keeps a fixed fraction of members out of every experiment in its layers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from marquee.errors import ConfigError
from marquee.experiment import _checks

__all__ = ["Allocator", "Assignment", "Experiment", "Holdout", "Layer", "MemberAssignments", "Variant", "bucket"]

MemberId = int | str


def bucket(member_id: MemberId, salt: str) -> float:
    """The member's position in [0, 1) under ``salt`` (SHA-256; see the module docstring)."""
    digest = hashlib.sha256(f"{salt}\x1f{member_id}".encode()).digest()
    # 53 bits: the largest integer a float holds exactly, so the value is the same everywhere.
    return (int.from_bytes(digest[:8], "big") >> 11) * 2.0**-53


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = math.fsum(weights)
    return [math.fsum(weights[: i + 1]) / total for i in range(len(weights))]


def _pick(u: float, edges: Sequence[float]) -> int:
    for i, edge in enumerate(edges):
        if u < edge:
            return i
    return len(edges) - 1


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment and its share of the experiment's members (weights are relative)."""

    name: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        _checks.name(self.name, "Variant")
        _checks.require(_checks.is_number(self.weight) and self.weight > 0, f"Variant({self.name!r})", "weight", "> 0", self.weight)


def _variants(value: Any, owner: str) -> tuple[Variant, ...]:
    """Normalise ``["a", "b"]``, ``{"a": 1, "b": 1}`` or ``[{"name": "a", "weight": 1}]`` to variants."""
    if isinstance(value, dict):
        value = [{"name": k, "weight": v} for k, v in value.items()]
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise ConfigError(f"{owner}.variants must list at least two variants (control first), got {value!r}")
    out = []
    for v in value:
        if isinstance(v, Variant):
            out.append(v)
        elif isinstance(v, str):
            out.append(Variant(v))
        elif isinstance(v, dict):
            _checks.known_keys(v, {"name", "weight"}, f"{owner}.variants[{len(out)}]")
            out.append(Variant(v.get("name"), v.get("weight", 1.0)))  # type: ignore[arg-type]
        else:
            raise ConfigError(f"{owner}.variants[{len(out)}] must be a name or {{name, weight}}, got {v!r}")
    _checks.unique([v.name for v in out], owner, "variants")
    return tuple(out)


@dataclass(frozen=True)
class Experiment:
    """An experiment's arms and how much of its layer it takes.

    Attributes:
        name: unique across the allocator.
        variants: at least two; the first is the control by convention.
        salt: hashing salt for the variant draw; defaults to ``name``. Change it to re-randomise.
        traffic: fraction of the layer's members who enter, in (0, 1].
    """

    name: str
    variants: tuple[Variant, ...]
    salt: str | None = None
    traffic: float = 1.0

    def __post_init__(self) -> None:
        _checks.name(self.name, "Experiment")
        raw = self.variants if isinstance(self.variants, dict) else list(self.variants)
        object.__setattr__(self, "variants", _variants(raw, f"Experiment({self.name!r})"))
        owner = f"Experiment({self.name!r})"
        _checks.require(self.salt is None or (isinstance(self.salt, str) and self.salt != ""), owner, "salt", "a non-empty string or None", self.salt)
        _checks.require(_checks.is_number(self.traffic) and 0 < self.traffic <= 1, owner, "traffic", "in (0, 1]", self.traffic)

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    def variant_for(self, member_id: MemberId) -> str:
        """The variant this member gets once inside the experiment (ignores layer and traffic)."""
        edges = _cumulative([v.weight for v in self.variants])
        return self.variants[_pick(bucket(member_id, self.salt or self.name), edges)].name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "variants": [{"name": v.name, "weight": v.weight} for v in self.variants]}
        if self.salt is not None:
            out["salt"] = self.salt
        out["traffic"] = self.traffic
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        _checks.known_keys(data, {"name", "variants", "salt", "traffic"}, f"experiment {data.get('name', '?')!r}" if isinstance(data, dict) else "experiment")
        return cls(data.get("name"), _variants(data.get("variants"), f"Experiment({data.get('name')!r})"), data.get("salt"), data.get("traffic", 1.0))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Layer:
    """Mutually exclusive experiments sharing one slice of traffic.

    Experiment ``i`` takes the range ``[sum(traffic[:i]), sum(traffic[:i+1]))`` of the layer's
    bucket, in the order listed: append new experiments at the end (or give the layer a new
    salt) so that running ones keep their members.
    """

    name: str
    experiments: tuple[Experiment, ...]
    salt: str | None = None

    def __post_init__(self) -> None:
        _checks.name(self.name, "Layer")
        owner = f"Layer({self.name!r})"
        object.__setattr__(self, "experiments", tuple(self.experiments))
        if not self.experiments or not all(isinstance(e, Experiment) for e in self.experiments):
            raise ConfigError(f"{owner}.experiments must be a non-empty sequence of Experiment, got {self.experiments!r}")
        _checks.unique([e.name for e in self.experiments], owner, "experiments")
        total = math.fsum(e.traffic for e in self.experiments)
        if total > 1 + 1e-12:
            raise ConfigError(f"{owner}: the experiments' traffic adds up to {total:g} > 1; lower some traffic or move an experiment to another layer")

    def ranges(self) -> list[tuple[Experiment, float, float]]:
        out, start = [], 0.0
        for i, e in enumerate(self.experiments):
            end = math.fsum(x.traffic for x in self.experiments[: i + 1])
            out.append((e, start, end))
            start = end
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "experiments": [e.to_dict() for e in self.experiments]}
        if self.salt is not None:
            out["salt"] = self.salt
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layer:
        _checks.known_keys(data, {"name", "experiments", "salt"}, "layer")
        exps = data.get("experiments")
        if not isinstance(exps, list):
            raise ConfigError(f"layer {data.get('name')!r}: experiments must be a list of tables, got {exps!r}")
        return cls(data.get("name"), tuple(Experiment.from_dict(e) for e in exps), data.get("salt"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Holdout:
    """A fraction of members kept out of every experiment in ``layers`` (``None``: all layers)."""

    name: str
    fraction: float
    salt: str | None = None
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _checks.name(self.name, "Holdout")
        owner = f"Holdout({self.name!r})"
        _checks.require(_checks.is_number(self.fraction) and 0 < self.fraction < 1, owner, "fraction", "in (0, 1)", self.fraction)
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))

    def holds(self, member_id: MemberId) -> bool:
        return bucket(member_id, self.salt or f"holdout:{self.name}") < self.fraction

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "fraction": self.fraction}
        if self.salt is not None:
            out["salt"] = self.salt
        if self.layers is not None:
            out["layers"] = list(self.layers)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Holdout:
        _checks.known_keys(data, {"name", "fraction", "salt", "layers"}, "holdout")
        layers = data.get("layers")
        return cls(data.get("name"), data.get("fraction"), data.get("salt"), tuple(layers) if layers is not None else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Assignment:
    """A member's place in one experiment."""

    experiment: str
    layer: str
    variant: str


@dataclass(frozen=True)
class MemberAssignments:
    """Everything the allocator decided for one member: at most one experiment per layer."""

    member_id: MemberId
    assignments: tuple[Assignment, ...] = ()
    holdouts: tuple[str, ...] = field(default=())

    def variant(self, experiment: str) -> str | None:
        """The member's variant in ``experiment``, or ``None`` when not in it."""
        for a in self.assignments:
            if a.experiment == experiment:
                return a.variant
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "assignments": [{"experiment": a.experiment, "layer": a.layer, "variant": a.variant} for a in self.assignments],
            "holdouts": list(self.holdouts),
        }


class Allocator:
    """Assigns members to the experiments of several layers, honouring holdouts.

    Args:
        layers: layers with distinct names (and distinct experiment names across layers).
        holdouts: holdouts; a member in any holdout that covers a layer gets none of its experiments.

    Example::

        allocator = Allocator([Layer("home", (Experiment("row-order", (Variant("control"), Variant("new"))),))])
        allocator.assign([42])[0].variant("row-order")   # the same answer in every process
    """

    def __init__(self, layers: Sequence[Layer], holdouts: Sequence[Holdout] = ()) -> None:
        self.layers = tuple(layers)
        self.holdouts = tuple(holdouts)
        if not all(isinstance(x, Layer) for x in self.layers):
            raise ConfigError("Allocator.layers must be Layer objects")
        if not all(isinstance(h, Holdout) for h in self.holdouts):
            raise ConfigError("Allocator.holdouts must be Holdout objects")
        _checks.unique([x.name for x in self.layers], "Allocator", "layers")
        _checks.unique([e.name for x in self.layers for e in x.experiments], "Allocator", "experiments")
        _checks.unique([h.name for h in self.holdouts], "Allocator", "holdouts")
        salts = [x.salt or f"layer:{x.name}" for x in self.layers]
        _checks.unique(salts, "Allocator", "layer salts")
        names = {x.name for x in self.layers}
        for h in self.holdouts:
            for name in h.layers or ():
                if name not in names:
                    raise ConfigError(f"Holdout({h.name!r}).layers names unknown layer {name!r}; layers are {sorted(names)}")
        self._where = {e.name: (layer, e, lo, hi) for layer in self.layers for e, lo, hi in layer.ranges()}

    def experiment(self, name: str) -> Experiment:
        try:
            return self._where[name][1]
        except KeyError:
            raise ConfigError(f"unknown experiment {name!r}; known: {sorted(self._where)}") from None

    def _held(self, member_id: MemberId, layer: Layer) -> list[str]:
        return [h.name for h in self.holdouts if (h.layers is None or layer.name in h.layers) and h.holds(member_id)]

    def assign(self, member_ids: Iterable[MemberId]) -> list[MemberAssignments]:
        """Every layer's decision for each member, in input order."""
        out = []
        for m in member_ids:
            assignments, held = [], set()
            for layer in self.layers:
                h = self._held(m, layer)
                if h:
                    held.update(h)
                    continue
                u = bucket(m, layer.salt or f"layer:{layer.name}")
                for e, lo, hi in layer.ranges():
                    if lo <= u < hi:
                        assignments.append(Assignment(e.name, layer.name, e.variant_for(m)))
                        break
            out.append(MemberAssignments(m, tuple(assignments), tuple(sorted(held))))
        return out

    def variants(self, member_ids: Iterable[MemberId], experiment: str) -> list[str | None]:
        """Each member's variant in one experiment (``None``: outside its traffic or held out)."""
        self.experiment(experiment)  # a clear error for an unknown name
        layer, exp, lo, hi = self._where[experiment]
        salt = layer.salt or f"layer:{layer.name}"
        edges = _cumulative([v.weight for v in exp.variants])
        out: list[str | None] = []
        for m in member_ids:
            if self._held(m, layer) or not (lo <= bucket(m, salt) < hi):
                out.append(None)
            else:
                out.append(exp.variants[_pick(bucket(m, exp.salt or exp.name), edges)].name)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [x.to_dict() for x in self.layers], "holdouts": [h.to_dict() for h in self.holdouts]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Allocator:
        """Build from ``{"layers": [...], "holdouts": [...]}`` (e.g. read by :func:`marquee.config.load_config_file`)."""
        _checks.known_keys(data, {"layers", "holdouts"}, "allocation config")
        layers, holdouts = data.get("layers", []), data.get("holdouts", [])
        if not isinstance(layers, list) or not layers:
            raise ConfigError("allocation config needs a non-empty [[layers]] list")
        if not isinstance(holdouts, list):
            raise ConfigError("allocation config: holdouts must be a list of tables")
        return cls([Layer.from_dict(x) for x in layers], [Holdout.from_dict(h) for h in holdouts])
