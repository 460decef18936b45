"""The hit-maximising quota: predictive probability, the decision, the held-out-day backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from twin.bikes.backtest import held_out_days
from twin.bikes.forecast import best_quota, day_quota, hit_probability, pickup_rate, shock_sd
from twin.bikes.model import need_from_pickups, precise_rate, within_tolerance


def _brute_hit(expected: float, quota: int) -> float:
    x = np.arange(int(expected * 4 + 200))
    return float((poisson.pmf(x, expected) * within_tolerance(quota, need_from_pickups(x))).sum())


def test_hit_probability_is_the_poisson_mass_within_tolerance() -> None:
    for expected in (0.3, 3.0, 17.6, 44.0, 130.0):
        for quota in range(0, int(expected / 2) + 4):
            assert hit_probability(np.array([expected]), np.array([quota]))[0] == pytest.approx(
                _brute_hit(expected, quota), abs=1e-9)
    # band edges are inclusive (0.2 × 10 = 2 bikes), as in precise_rate
    assert within_tolerance(12, 10) and within_tolerance(8, 10) and not within_tolerance(13, 10)
    # a day shock spreads the need: the best quota hits less often
    assert hit_probability(np.array([40.0]), np.array([10]), sd=0.3)[0] < _brute_hit(40.0, 10)


def test_best_quota_is_the_argmax_over_all_quotas() -> None:
    expected = np.array([0.0, 0.5, 2.0, 7.0, 17.6, 23.0, 44.0, 90.0, 400.0])
    chosen = best_quota(expected)
    for e, q in zip(expected, chosen, strict=True):
        probs = [_brute_hit(e, k) for k in range(int(e / 2) + 6)]
        # every integer is tried up to ~100 bikes; beyond, a near-best one
        assert _brute_hit(e, int(q)) == pytest.approx(max(probs), abs=1e-9 if e < 300 else 1e-4)
    # capped by parking capacity, then scaled to the fleet
    assert day_quota(np.array([400.0, 400.0]), 1.0, np.array([50.0, 1e9])).tolist()[0] == 50
    assert day_quota(np.array([400.0, 400.0]), 1.0, np.array([1e9, 1e9]), fleet=100).sum() <= 100


def test_rate_and_shock_from_the_fitting_days() -> None:
    pickups = np.array([[10.0, 0.0], [4.0, 2.0]])
    assert pickup_rate(pickups, np.array([1.0, 0.4])) == pytest.approx([10.0, 2 / 1.4])
    rng = np.random.default_rng(0)
    steady = rng.poisson(np.full((20, 500), 50.0)).astype(float)
    assert shock_sd(steady, np.ones(20)) < 0.01
    shocked = rng.poisson(50.0 * np.exp(rng.normal(0, 0.2, 20))[:, None] * np.ones(500)).astype(float)
    assert shock_sd(shocked, np.ones(20)) == pytest.approx(0.2, abs=0.08)


def test_held_out_days_beat_the_mean_rule_and_not_the_truth() -> None:
    """On Poisson days around known rates: deployed ≥ mean rule, ≤ the quota knowing the rates."""
    rng = np.random.default_rng(3)
    rate = rng.lognormal(np.log(20.0), 0.6, 8_000)  # ~5 bikes a cell, as at res 9
    factor = np.array([1.0, 1.0, 0.8, 1.0, 0.9, 1.0, 0.8, 1.0, 1.0, 0.8])
    pickups = rng.poisson(rate[None, :] * factor[:, None]).astype(float)
    days = pd.DataFrame({"date": pd.date_range("2016-08-01", periods=10), "weekend": factor < 1,
                         "rain": False, "factor": factor})
    result = held_out_days(pickups, days, 6, np.full(len(rate), 1e9), None)
    assert len(result) == 4
    deployed, mean_rule = result["precise_rate"].mean(), result["mean_rule_rate"].mean()
    truth = np.mean([precise_rate(best_quota(rate * factor[d]), need_from_pickups(pickups[d]))
                     for d in range(6, 10)])
    assert mean_rule < deployed <= truth + 0.005
