"""Capacity planning: how many replicas of a tier a peak load needs to keep its latency budget.

Each replica is a server that completes ``replica_rps`` requests a second at saturation (measured:
``bench/scale.py`` measures the heavy tier's); requests arrive as a Poisson stream and wait for the first free
replica (a load balancer with one queue). That is the M/M/c queue, whose waiting time has a closed form
(Erlang's C formula; Kleinrock, *Queueing Systems* vol. 1, §3.5):

    P(wait > t) = C(c, a) · exp(-(c μ - λ) t),   a = λ / μ,

and the response time is the wait plus the service (exponential, mean ``1/μ``). :func:`replicas_needed` finds
the fewest replicas whose response-time quantile fits the budget; :func:`simulate` checks it by simulating the
queue with the service times given (e.g. measured ones, not exponential), because the closed form assumes what a
real tier only approximates. This machine cannot show a real cluster: the plan is only as good as the measured
per-replica throughput and the assumption that replicas do not share cores.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from marquee.errors import ConfigError
from marquee.random import SeedLike, as_generator

__all__ = ["Plan", "erlang_c", "replicas_needed", "response_quantile", "simulate"]


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits, for ``c`` servers offered ``a = λ/μ`` erlangs (``a < c``)."""
    if a >= c:
        return 1.0
    # Erlang B by its stable recursion, then C from B.
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


def _response_tail(t: float, c: int, lam: float, mu: float) -> float:
    """P(response > t) in M/M/c: the exponential service convolved with the wait's exponential tail."""
    pw = erlang_c(c, lam / mu)
    theta = c * mu - lam  # the wait's tail rate
    if abs(theta - mu) < 1e-12:
        conv = math.exp(-mu * t) * (1 + mu * t)
    else:
        conv = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1 - pw) * math.exp(-mu * t) + pw * conv


def response_quantile(c: int, lam: float, mu: float, q: float = 0.99) -> float:
    """The ``q``-quantile of the response time (seconds) of M/M/c; ``inf`` when ``λ >= c μ``."""
    if lam >= c * mu:
        return math.inf
    hi = 1.0 / mu
    while _response_tail(hi, c, lam, mu) > 1 - q:
        hi *= 2
    return brentq(lambda t: _response_tail(t, c, lam, mu) - (1 - q), 0.0, hi, xtol=1e-9)


@dataclass(frozen=True)
class Plan:
    """The replicas a tier needs and what the queue predicts for them.

    Attributes:
        replicas: the fewest replicas whose response-time quantile fits the budget.
        utilisation: ``λ / (c μ)`` at the peak.
        quantile_ms: the predicted response-time quantile (ms).
        p_wait: the probability a request queues at all.
    """

    replicas: int
    utilisation: float
    quantile_ms: float
    p_wait: float


def replicas_needed(peak_rps: float, replica_rps: float, budget_ms: float, *, q: float = 0.99, max_replicas: int = 100_000) -> Plan:
    """The fewest replicas (each completing ``replica_rps`` a second) that keep the ``q``-quantile of the
    response time within ``budget_ms`` at ``peak_rps``.

    Raises:
        ConfigError: a non-positive rate or budget, ``q`` outside (0, 1), or a budget even one idle replica
            cannot meet (its service alone is longer).
    """
    if not (peak_rps > 0 and replica_rps > 0 and budget_ms > 0 and 0 < q < 1):
        raise ConfigError(f"need peak_rps, replica_rps, budget_ms > 0 and 0 < q < 1; got {peak_rps}, {replica_rps}, {budget_ms}, {q}")
    mu, budget = replica_rps, budget_ms / 1000.0
    if -math.log(1 - q) / mu > budget:
        raise ConfigError(f"one replica's own service takes {1000 * -math.log(1 - q) / mu:.1f} ms at the {q:.0%} quantile, over the "
                          f"{budget_ms:g} ms budget: no number of replicas meets it; make the tier faster")  # fmt: skip
    c = max(1, math.ceil(peak_rps / mu))
    while c <= max_replicas:
        t = response_quantile(c, peak_rps, mu, q)
        if t <= budget:
            return Plan(c, peak_rps / (c * mu), 1000 * t, erlang_c(c, peak_rps / mu))
        c += 1
    raise ConfigError(f"more than {max_replicas} replicas needed")


def simulate(
    replicas: int, arrival_rps: float, service_ms: np.ndarray | float, *, requests: int = 200_000, seed: SeedLike = 0
) -> np.ndarray:
    """Response times (ms) of ``requests`` Poisson arrivals at ``arrival_rps`` served first come, first served by
    ``replicas`` servers; service times drawn from ``service_ms`` (an array of measured times, resampled) or
    exponential with that mean (a float). A plain event loop: the queue's state is the replicas' next free times."""
    if replicas < 1 or arrival_rps <= 0 or requests < 1:
        raise ConfigError(f"need replicas >= 1, arrival_rps > 0, requests >= 1; got {replicas}, {arrival_rps}, {requests}")
    rng = as_generator(seed)
    arrivals = np.cumsum(rng.exponential(1000.0 / arrival_rps, requests))
    if np.isscalar(service_ms):
        service = rng.exponential(float(service_ms), requests)
    else:
        samples = np.asarray(service_ms, np.float64)
        service = samples[rng.integers(0, samples.size, requests)]
    free = [0.0] * replicas  # a heap of when each replica is next free
    out = np.empty(requests)
    for i in range(requests):
        start = max(arrivals[i], free[0])
        done = start + service[i]
        heapq.heapreplace(free, done)
        out[i] = done - arrivals[i]
    return out
