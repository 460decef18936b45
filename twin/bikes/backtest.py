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
  (:data:`TEST_SHARE` held out). Each model of :mod:`twin.bikes.gridmodel` (covariates
  only; the neighbours' observed demand only; both) is fitted, with its bandwidth and
  ridge chosen by cross-validation, on the other cells only; the need of a held-out cell
  (the turnover rule on its starts scaled to the model's daily volume: share of the
  starts × trips a day ÷ :data:`~twin.bikes.model.TURNOVER`, rounded up) is predicted
  from its covariates and its known neighbours and compared with the need from its real
  starts, same tolerance. Reported per model at ±20 % (the metric), ±30 %, ±50 % and the
  median absolute relative error, on the seeded split and as the mean over
  :data:`SPLITS` random splits (67 held-out cells make one split's rate uncertain by
  about ±0.06). Ceilings: the covariate model and the headline model scored in-sample
  (every cell known but the cell itself); the need from a cell's
  own trip *ends* against the need from its starts (the same cells' activity measured a
  second way); two random halves of the starts (binomial thinning) against each other;
  and the Poisson ceiling, the expected rate of a perfect model of each cell's expected
  starts given that the observed count is one Poisson draw.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from twin.bikes.forecast import best_quota, day_quota, hit_probability, pickup_rate, shock_sd
from twin.bikes.gridmodel import MODELS, predict_cells
from twin.bikes.model import (
    TOLERANCE,
    base_need,
    need_from_pickups,
    precise_rate,
    quotas,
)

__all__ = ["TEST_SHARE", "SPLITS", "HEADLINE_MODEL", "TOLERANCES", "held_out_days",
           "held_out_period", "held_out_grid", "agreement"]

TEST_SHARE = 0.2
#: Random splits averaged for the stable estimate of the grid hold-out.
SPLITS = 10
#: The model whose held-out rate is the reported 精准投放率 of the grid hold-out.
HEADLINE_MODEL = "covariates + spatial lag"
#: Tolerances reported beside the metric's own.
TOLERANCES = (TOLERANCE, 0.3, 0.5)


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


def agreement(predicted: np.ndarray, need: np.ndarray) -> dict[str, float]:
    """Shares within each of :data:`TOLERANCES` and the median absolute relative error.

    Examples
    --------
    >>> agreement(np.array([10.0, 13.0, 20.0]), np.array([10.0, 10.0, 10.0]))
    {'within_20': 0.3333, 'within_30': 0.6667, 'within_50': 0.6667, 'median_abs_error': 0.3}
    """
    out = {f"within_{round(t * 100)}": round(precise_rate(predicted, need, t), 4)
           for t in TOLERANCES}
    rel = np.abs(predicted - need) / np.maximum(need, 1)
    return {**out, "median_abs_error": round(float(np.median(rel)), 4)}


def _split(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < TEST_SHARE


def held_out_grid(grid: gpd.GeoDataFrame, trips_per_day: float, *, seed: int = 0,
                  splits: int = SPLITS) -> dict[str, Any]:
    """Precise rate of need predictions on held-out real grid cells, per model.

    Parameters
    ----------
    grid : geopandas.GeoDataFrame
        Real grid cells with ``start_count``, ``end_count`` and the covariates.
    trips_per_day : float
        Daily volume the starts are scaled to.
    seed : int
        Seed of the reported split (split ``k`` of the mean uses ``seed + k``).
    splits : int
        Random splits averaged in ``within_20_mean_of_splits``.

    Returns
    -------
    dict
        ``precise_rate`` and ``median_abs_error`` of :data:`HEADLINE_MODEL` on the seeded
        split, ``model``, ``cells_fit``, ``cells_held_out``, ``in_sample_rate``
        (covariates, fitted and scored on every cell), ``in_sample_rate_headline`` (the
        headline model fitted on every cell, each cell's lag from all the others),
        ``models`` (per model: :func:`agreement` on the seeded split,
        ``within_20_mean_of_splits`` over ``splits`` splits, the chosen ``bandwidth_m``
        and ``ridge``) and ``ceilings`` (``ends_vs_starts``, ``split_half``:
        :func:`agreement`;
        ``poisson``: a share).
    """
    y = grid["start_count"].to_numpy(float)
    scale = trips_per_day / y.sum()
    need = need_from_pickups(y * scale)
    test = _split(len(y), seed)

    def scores(known: np.ndarray, model: str, held: np.ndarray) -> tuple[dict[str, float], Any]:
        fitted = predict_cells(grid, known, model, seed=seed)
        return agreement(need_from_pickups(fitted.expected * scale)[held], need[held]), fitted

    models: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        result, fitted = scores(~test, model, test)
        rates = [result["within_20"]]
        for k in range(1, splits):
            held = _split(len(y), seed + k)
            rates.append(scores(~held, model, held)[0]["within_20"])
        models[model] = {**result, "within_20_mean_of_splits": round(float(np.mean(rates)), 4),
                         "bandwidth_m": fitted.bandwidth_m, "ridge": fitted.ridge}
    everything = np.ones(len(y), bool)
    headline = models[HEADLINE_MODEL]
    return {"precise_rate": headline["within_20"], "model": HEADLINE_MODEL,
            "median_abs_error": headline["median_abs_error"],
            "cells_fit": int((~test).sum()), "cells_held_out": int(test.sum()),
            "in_sample_rate": scores(everything, "covariates", everything)[0]["within_20"],
            "in_sample_rate_headline": scores(everything, HEADLINE_MODEL, everything)[0]["within_20"],
            "models": models, "ceilings": _ceilings(grid, scale, need, seed)}


def _ceilings(grid: gpd.GeoDataFrame, scale: float, need: np.ndarray, seed: int) -> dict[str, Any]:
    """How far the real data agree with themselves (see the module docstring)."""
    y = grid["start_count"].to_numpy(float)
    ends = need_from_pickups(grid["end_count"].to_numpy(float) * scale)
    half = np.random.default_rng(seed).binomial(y.astype(np.int64), 0.5)
    expected = y * scale
    perfect = hit_probability(expected, best_quota(expected))
    return {"ends_vs_starts": agreement(ends, need),
            "split_half": agreement(need_from_pickups(2 * half * scale),
                                    need_from_pickups(2 * (y - half) * scale)),
            "poisson": round(float(perfect.mean()), 4)}
