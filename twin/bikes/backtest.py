"""The two backtests of 精准投放率.

* **held-out days**: quotas fitted on the first days of trips (the factor-1 pick-up rate
  and the day-shock spread, :mod:`twin.bikes.forecast`) are set for each later day from
  its forecast factor (the quota most likely to be within tolerance of that day's need)
  and compared with that day's realised need. Nothing of a held-out day is used but its
  date type and weather forecast. Reported per day (strict: one day's realised need,
  Poisson noise included) and for the held-out period as a whole
  (:func:`held_out_period`: the factor-1 quota against the mean factor-1 need of the
  held-out days, the requirement an operator would plan a period for).
* **held-out real grid cells**: the real 1 km Mobike cells are split at random
  (:data:`TEST_SHARE` held out). A Poisson regression (log link, IRLS, light ridge) of the
  real trip starts on the grid covariates (log road, bicycle-lane, land-use areas, counts
  of stations, bus stops, crossroads, shops, and the distance to the city centre
  :data:`CENTRE`) is fitted on the other cells only; the need of a
  held-out cell (bikes for a day at the model's volume: its share of the starts × trips a
  day ÷ :data:`~twin.bikes.model.TURNOVER`, rounded up) is predicted from its covariates
  alone and compared with the need from its real starts, same tolerance. The same model's
  in-sample rate (fitted and scored on every cell) is reported as the ceiling of what the
  covariates can explain.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.bikes.forecast import day_quota, pickup_rate, shock_sd
from twin.bikes.model import TURNOVER, base_need, need_from_pickups, precise_rate, quotas

__all__ = ["TEST_SHARE", "GRID_FEATURES", "CENTRE", "held_out_days", "held_out_period",
           "held_out_grid"]

TEST_SHARE = 0.2
GRID_FEATURES = ["road_length", "bicycle_lane_length", "residential_area", "commercial_area",
                 "industrial_area", "railway_station_count", "bus_station_count",
                 "crossroad_count", "shop_count"]
#: People's Square (lon, lat), the centre for the distance covariate.
CENTRE = (121.4737, 31.2304)


def held_out_days(pickups: np.ndarray, days: pd.DataFrame, fit_days: int, capacity: np.ndarray,
                  fleet: int | None) -> pd.DataFrame:
    """Precise rate on each day after the first ``fit_days``.

    Parameters
    ----------
    pickups : numpy.ndarray
        ``(n_days, n_cells)`` realised pick-ups (need = ``ceil(pick-ups / TURNOVER)``).
    days : pandas.DataFrame
        ``date``, ``weekend``, ``rain``, ``factor`` per day (aligned with ``pickups``).
    fit_days : int
        Days used to fit.
    capacity : numpy.ndarray
        Parking capacity per cell.
    fleet : int, optional
        Citywide fleet.

    Returns
    -------
    pandas.DataFrame
        One row per held-out day: ``date``, ``weekend``, ``rain``, ``factor``,
        ``precise_rate`` (the deployed, hit-maximising quota of
        :mod:`twin.bikes.forecast`), ``mean_rule_rate`` (the reference rule
        round(mean need ÷ factor × factor), :func:`twin.bikes.model.quotas`),
        ``below_need_share`` (active cells whose quota < need).
    """
    needs = need_from_pickups(pickups)
    factors = days["factor"].to_numpy(float)
    fit = slice(0, fit_days)
    rate, sd = pickup_rate(pickups[fit], factors[fit]), shock_sd(pickups[fit], factors[fit])
    base = base_need(needs[fit], factors[fit])
    rows = []
    for d in range(fit_days, len(needs)):
        quota = day_quota(rate, factors[d], capacity, sd=sd, fleet=fleet)
        active = (needs[d] > 0) | (quota > 0)
        rows.append({**days.iloc[d][["date", "weekend", "rain", "factor"]].to_dict(),
                     "precise_rate": precise_rate(quota, needs[d]),
                     "mean_rule_rate": precise_rate(quotas(base, factors[d], capacity, fleet=fleet),
                                                    needs[d]),
                     "below_need_share": float((quota < needs[d])[active].mean())})
    return pd.DataFrame(rows)


def held_out_period(pickups: np.ndarray, factors: np.ndarray, fit_days: int, capacity: np.ndarray,
                    fleet: int | None) -> float:
    """Precise rate of the factor-1 quota against the held-out days' mean factor-1 need."""
    factors = np.asarray(factors, float)
    fit = slice(0, fit_days)
    quota = day_quota(pickup_rate(pickups[fit], factors[fit]), 1.0, capacity,
                      sd=shock_sd(pickups[fit], factors[fit]), fleet=fleet)
    return precise_rate(quota, base_need(need_from_pickups(pickups[fit_days:]), factors[fit_days:]))


def _features(grid: gpd.GeoDataFrame) -> np.ndarray:
    x = np.log1p(grid[GRID_FEATURES].fillna(0.0).to_numpy(float))
    b = grid.total_bounds
    lat = np.radians((b[1] + b[3]) / 2)
    centres = shapely.centroid(grid.geometry.to_numpy())
    dx = (shapely.get_x(centres) - CENTRE[0]) * 111_320 * np.cos(lat)
    dy = (shapely.get_y(centres) - CENTRE[1]) * 110_540
    x = np.column_stack([x, np.log(np.hypot(dx, dy) + 500.0)])
    return np.column_stack([np.ones(len(grid)), (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)])


def _poisson_fit(x: np.ndarray, y: np.ndarray, *, ridge: float = 1.0, iters: int = 50) -> np.ndarray:
    """Poisson regression with a log link by iteratively reweighted least squares."""
    beta = np.zeros(x.shape[1])
    beta[0] = np.log(y.mean() + 1e-9)
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iters):
        mu = np.exp(np.clip(x @ beta, -20, 20))
        z = x @ beta + (y - mu) / mu
        step = np.linalg.solve(x.T @ (mu[:, None] * x) + penalty, x.T @ (mu * z))
        if np.allclose(step, beta, atol=1e-8):
            return step
        beta = step
    return beta


def held_out_grid(grid: gpd.GeoDataFrame, trips_per_day: float, *, seed: int = 0) -> dict[str, Any]:
    """Precise rate of covariate-only need predictions on held-out real grid cells.

    Returns
    -------
    dict
        ``precise_rate``, ``cells_fit``, ``cells_held_out``, ``median_abs_error`` (relative),
        ``in_sample_rate``.
    """
    y = grid["start_count"].to_numpy(float)
    x = _features(grid)
    test = np.random.default_rng(seed).random(len(grid)) < TEST_SHARE
    scale = trips_per_day / y.sum()
    need = np.ceil(y * scale / TURNOVER)

    def predict(fit: np.ndarray) -> np.ndarray:
        return np.round(np.exp(x @ _poisson_fit(x[fit], y[fit])) * scale / TURNOVER)

    predicted = predict(~test)
    rel = np.abs(predicted[test] - need[test]) / np.maximum(need[test], 1)
    return {"precise_rate": round(precise_rate(predicted[test], need[test]), 4),
            "cells_fit": int((~test).sum()), "cells_held_out": int(test.sum()),
            "median_abs_error": round(float(np.median(rel)), 4),
            "in_sample_rate": round(precise_rate(predict(np.ones(len(y), bool)), need), 4)}
