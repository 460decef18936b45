"""The forecast of a day and its backtest: only what an operator knows the evening before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from twin.bikes.backtest import held_out_days, rolling_quotas, status_quo_supply
from twin.bikes.calendar import RAIN_FORECAST_ERROR, day_off, day_table
from twin.bikes.forecast import best_quota, day_quota, forecast_day, hit_probability, volume_model
from twin.bikes.model import need_from_pickups, precise_rate, within_tolerance


def _brute_hit(expected: float, quota: int) -> float:
    x = np.arange(int(expected * 4 + 200))
    return float((poisson.pmf(x, expected) * within_tolerance(quota, need_from_pickups(x))).sum())


def _days(n: int = 28, cells: int = 3000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A generator calendar and Poisson pick-ups / drop-offs driven by its ``actual``."""
    rng = np.random.default_rng(seed)
    days = day_table(n, "2016-08-01", rng)
    rate = rng.lognormal(np.log(20.0), 0.6, cells)
    pickups = rng.poisson(rate[None, :] * days["actual"].to_numpy()[:, None]).astype(float)
    dropoffs = rng.poisson(rate[::-1][None, :] * days["actual"].to_numpy()[:, None]).astype(float)
    return days, pickups, dropoffs


def test_hit_probability_is_the_poisson_mass_within_tolerance() -> None:
    for expected in (0.3, 3.0, 17.6, 44.0, 130.0):
        for quota in range(0, int(expected / 2) + 4):
            assert hit_probability(np.array([expected]), np.array([quota]))[0] == pytest.approx(
                _brute_hit(expected, quota), abs=1e-9)
    assert within_tolerance(12, 10) and within_tolerance(8, 10) and not within_tolerance(13, 10)
    assert hit_probability(np.array([40.0]), np.array([10]), sd=0.3)[0] < _brute_hit(40.0, 10)


def test_best_quota_is_the_argmax_over_all_quotas() -> None:
    expected = np.array([0.0, 0.5, 2.0, 7.0, 17.6, 23.0, 44.0, 90.0, 400.0])
    for e, q in zip(expected, best_quota(expected), strict=True):
        probs = [_brute_hit(e, k) for k in range(int(e / 2) + 6)]
        assert _brute_hit(e, int(q)) == pytest.approx(max(probs), abs=1e-9 if e < 300 else 1e-4)
    assert day_quota(np.array([400.0, 400.0]), 1.0, np.array([50.0, 1e9])).tolist()[0] == 50
    assert day_quota(np.array([400.0, 400.0]), 1.0, np.array([1e9, 1e9]), fleet=100).sum() <= 100


def test_the_floor_is_reported_separately() -> None:
    quota, need = np.array([3.0, 1.0, 12.0, 0.0]), np.array([2.0, 2.0, 10.0, 1.0])
    assert precise_rate(quota, need) == 1.0
    assert precise_rate(quota, need, floor=0.0) == pytest.approx(1 / 4)


def test_calendar_day_types_and_rain_forecast() -> None:
    dates = pd.DatetimeIndex(["2016-08-05", "2016-08-06", "2016-10-03", "2016-10-08", "2016-09-15"])
    assert day_off(dates).tolist() == [False, True, True, False, True]
    days = day_table(2000, "2016-01-01", np.random.default_rng(0))
    wrong = (days["rain"] != days["rain_forecast"]).mean()
    assert wrong == pytest.approx(RAIN_FORECAST_ERROR, abs=0.03)


def test_volume_model_learns_day_off_and_rain_from_past_days_only() -> None:
    days, pickups, _ = _days(60)
    model = volume_model(pickups.sum(axis=1), days)
    assert np.exp(model.day_off) == pytest.approx(0.8, abs=0.05)
    assert np.exp(model.rain) == pytest.approx(0.65, abs=0.06)
    # no rainy day in the past: rain is not forecast (no effect, whatever the forecast says)
    dry = days[~days["rain"]]
    model = volume_model(pickups[dry.index].sum(axis=1), dry)
    assert model.rain == 0.0
    assert model.forecast(day_off=False, rain_forecast=True) == model.forecast(
        day_off=False, rain_forecast=False)
    # a rain forecast lowers the volume; its possible error widens every forecast
    expected, sd, fitted = forecast_day(pickups[:21], days.iloc[:21], day_off=False, rain_forecast=True)
    dry_expected, dry_sd, _ = forecast_day(pickups[:21], days.iloc[:21], day_off=False,
                                           rain_forecast=False)
    assert expected.sum() < dry_expected.sum() and sd == dry_sd > fitted.residual_sd > 0


def test_the_forecast_never_sees_realised_day_factors() -> None:
    days, pickups, _ = _days()
    quotas, _ = rolling_quotas(pickups, days, 21, np.full(pickups.shape[1], 1e9), None)
    # the generator's realised factors, of every day: changed at will, nothing moves
    perturbed = days.assign(factor=days["factor"] * 1.7, actual=days["actual"][::-1].to_numpy())
    # the last day's observed rain is not known the evening before it
    perturbed.loc[len(days) - 1, "rain"] = not days["rain"].iat[-1]
    again, _ = rolling_quotas(pickups, perturbed, 21, np.full(pickups.shape[1], 1e9), None)
    np.testing.assert_array_equal(quotas, again)
    # ... while what is known the evening before does move it
    flipped = days.copy()
    flipped.loc[len(days) - 1, "rain_forecast"] = not days["rain_forecast"].iat[-1]
    moved, _ = rolling_quotas(pickups, flipped, 21, np.full(pickups.shape[1], 1e9), None)
    assert (moved[-1] != quotas[-1]).any() and (moved[:-1] == quotas[:-1]).all()
    # and the held-out day's own pick-ups are never an input of its quota
    later = pickups.copy()
    later[21:] *= 3
    np.testing.assert_array_equal(rolling_quotas(later, days, 21, np.full(pickups.shape[1], 1e9),
                                                 None)[0][0], quotas[0])


def test_status_quo_follows_last_weeks_dropoffs() -> None:
    days, pickups, dropoffs = _days()
    result = held_out_days(pickups, dropoffs, days, 21, np.full(pickups.shape[1], 1e9), 200_000)
    # the status quo supply of day d is the fleet spread like the drop-offs of d-7 .. d-1
    d = 24
    supply = status_quo_supply(dropoffs[d - 7:d], 200_000)
    assert supply.sum() == pytest.approx(200_000, rel=1e-3)
    need = need_from_pickups(pickups[d])
    assert result["status_quo"].iat[d - 21] == precise_rate(supply, need)
    assert result["status_quo_no_floor"].iat[d - 21] == precise_rate(supply, need, floor=0.0)
    # older drop-offs do not matter, last week's do
    older = dropoffs.copy()
    older[: d - 7] = older[: d - 7][:, ::-1]
    again = held_out_days(pickups, older, days, 21, np.full(pickups.shape[1], 1e9), 200_000)
    assert again["status_quo"].iat[d - 21] == result["status_quo"].iat[d - 21]
    recent = dropoffs.copy()
    recent[d - 7:d] = recent[d - 7:d][:, ::-1]
    moved = held_out_days(pickups, recent, days, 21, np.full(pickups.shape[1], 1e9), 200_000)
    assert moved["status_quo"].iat[d - 21] != result["status_quo"].iat[d - 21]
    # the same allocation scaled to our total is a separate figure; ours has the floor's twin
    assert (result["rate_no_floor"] <= result["rate"]).all()
    assert result["status_quo_days"].tolist() == [7] * 7
