import math

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.scale.capacity import erlang_c, replicas_needed, response_quantile, simulate


def test_erlang_c_known_values():
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: an arrival waits with probability rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 3.0) == 1.0


def test_mm1_response_quantile_is_exponential():
    lam, mu = 60.0, 100.0
    assert response_quantile(1, lam, mu, 0.99) == pytest.approx(-math.log(0.01) / (mu - lam), rel=1e-6)
    assert response_quantile(1, 100.0, 100.0) == math.inf


@pytest.mark.parametrize(("c", "lam"), [(3, 2.4), (8, 7.0)])
def test_the_simulated_queue_agrees_with_the_closed_form(c, lam):
    times = simulate(c, lam, 1000.0, requests=400_000, seed=1)  # mean service 1 s: mu = 1
    mean = 1000 * (erlang_c(c, lam) / (c - lam) + 1.0)  # Little's law on the M/M/c queue
    assert times.mean() == pytest.approx(mean, rel=0.04)
    # The tail of a queue at 80-90% load converges slowly: a looser check.
    assert np.percentile(times, 99) == pytest.approx(1000 * response_quantile(c, lam, 1.0, 0.99), rel=0.12)


def test_replicas_needed_is_the_fewest_that_fit():
    plan = replicas_needed(10_000, 2_000, 50.0)
    assert plan.replicas >= 6 and plan.quantile_ms <= 50.0 and plan.utilisation < 1
    assert response_quantile(plan.replicas - 1, 10_000, 2_000, 0.99) * 1000 > 50.0
    assert replicas_needed(20_000, 2_000, 50.0).replicas > plan.replicas
    with pytest.raises(ConfigError, match="no number of replicas"):
        replicas_needed(100, 50, 20.0)  # one request alone takes 92 ms at the 99th percentile
    with pytest.raises(ConfigError, match="need peak_rps"):
        replicas_needed(0, 1, 1)


def test_measured_service_times_are_resampled():
    times = simulate(2, 10.0, np.array([5.0, 5.0, 5.0]), requests=1000, seed=0)
    assert times.min() >= 5.0 and np.median(times) == pytest.approx(5.0)
