"""Hourly flows, need and quotas per H3 cell (合理投放量), and 精准投放率.

Definitions (an operator's, every constant below is an explicit choice):

* **flows**: pick-ups and drop-offs per (day, hour, cell), counted with one vectorized
  ``bincount`` (no per-row Python); net flow = drop-offs − pick-ups (the tide).
* **need** of a cell on a day (合理投放量 by the usual turnover rule, 投放量 = 骑行需求 ÷
  周转率) = ceil(pick-ups / :data:`TURNOVER`): a bike serves about :data:`TURNOVER` trips
  a day, so this stock keeps a bike within reach of the cell's riders through the day.
  The tidal deficit of a peak (the largest cumulative excess of pick-ups over drop-offs,
  :func:`peak_deficit`) is not part of the standing stock: it is the job of the
  rebalancing plan (:mod:`twin.bikes.rebalance`), and the difference of two large counts
  varies too much from day to day to be a deployment target.
* **quota** (deployed supply) of a cell for a day: the integer most likely to be within
  tolerance of that day's need under the forecast made the evening before from the past
  days (:func:`twin.bikes.forecast.forecast_day`: Poisson pick-ups around the cell's share
  of the past pick-ups × the forecast day volume from the calendar and the rain forecast,
  see :mod:`twin.bikes.calendar`), capped by the cell's parking capacity
  (:func:`twin.bikes.parking.parking_capacity`) and scaled down proportionally when the
  total exceeds the citywide fleet (:func:`cap_quota`). The ±20 % band is symmetric in
  need, not in quota (a quota q accepts needs from q/1.2 to q/0.8), and a realised need
  is a rounded-up Poisson count: the hit-maximising quota differs from the rounded mean.
  An upper quantile (the asymmetric cost of a shortfall) would bias every cell upwards
  and out of the band; a shortfall is not a stock-out, since the turnover rule already
  leaves most bikes idle most of the day (the backtest reports the share of cells below
  need). The mean rule, round(mean over the fitting days of need ÷ day factor × the
  day's factor) (:func:`quotas`), is kept as the reference.
* **精准投放率** (precise deployment rate): the share of active cells (need or quota > 0)
  whose quota is within the tolerance of the day's need: ±20 % of the need, but at least
  ±:data:`MIN_TOLERANCE` bike (a cell needing 2 bikes and given 3 is not an operational
  error: one bike is the smallest unit that can be deployed). The floor decides most
  small cells (below 5 bikes ±20 % is less than a bike), so every figure is also given
  without it (``floor=0``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TURNOVER", "TOLERANCE", "MIN_TOLERANCE", "Flows", "hourly_flows",
           "need_from_pickups", "daily_needs", "peak_deficit", "base_need", "cap_quota",
           "quotas", "within_tolerance", "precise_rate"]

TURNOVER = 4.0
TOLERANCE = 0.2
MIN_TOLERANCE = 1.0


class Flows:
    """Pick-ups and drop-offs per (day, hour, cell).

    Attributes
    ----------
    days : pandas.DatetimeIndex
        The days, in order.
    pickups, dropoffs : numpy.ndarray
        ``(n_days, 24, n_cells)`` counts.
    """

    def __init__(self, days: pd.DatetimeIndex, pickups: np.ndarray, dropoffs: np.ndarray) -> None:
        self.days, self.pickups, self.dropoffs = days, pickups, dropoffs

    def select(self, rows: np.ndarray | slice) -> Flows:
        """The flows of some days (positions)."""
        return Flows(self.days[rows], self.pickups[rows], self.dropoffs[rows])

    def mean_hourly(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean pick-ups and drop-offs per (hour, cell) over the days."""
        return self.pickups.mean(axis=0), self.dropoffs.mean(axis=0)


def hourly_flows(trips: pd.DataFrame, cell_ids: np.ndarray) -> Flows:
    """Count ingested trips (:func:`twin.bikes.trips.ingest_trips`) per day, hour and cell.

    Trips whose end lies outside ``cell_ids`` count at the other end only.
    """
    pos = pd.Index(cell_ids)
    days = pd.DatetimeIndex(np.unique(trips["day"].to_numpy()))
    d = days.get_indexer(trips["day"])
    n_cells = len(pos)
    size = len(days) * 24 * n_cells

    def count(cells: pd.Series, hours: pd.Series) -> np.ndarray:
        c = pos.get_indexer(cells)
        ok = c >= 0
        flat = (d[ok] * 24 + hours.to_numpy()[ok]) * n_cells + c[ok]
        return np.bincount(flat, minlength=size).reshape(len(days), 24, n_cells).astype(np.float64)

    return Flows(days, count(trips["start_cell"], trips["start_hour"]),
                 count(trips["end_cell"], trips["end_hour"]))


def need_from_pickups(pickups: np.ndarray) -> np.ndarray:
    """Need from a day's pick-ups: ``ceil(pick-ups / TURNOVER)`` (the turnover rule)."""
    return np.ceil(np.asarray(pickups, float) / TURNOVER)


def daily_needs(flows: Flows) -> np.ndarray:
    """Need per (day, cell), see the module docstring."""
    return need_from_pickups(flows.pickups.sum(axis=1))


def peak_deficit(pickups: np.ndarray, dropoffs: np.ndarray) -> np.ndarray:
    """Largest cumulative excess of pick-ups over drop-offs per cell (``(..., 24, n)`` in)."""
    return np.cumsum(pickups - dropoffs, axis=-2).max(axis=-2).clip(min=0)


def base_need(needs: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """The mean need per cell on a day of factor 1 (a dry weekday)."""
    return np.mean(needs / np.asarray(factors, float)[:, None], axis=0)


def cap_quota(quota: np.ndarray, capacity: np.ndarray, *, fleet: int | None = None) -> np.ndarray:
    """Cap quotas by parking capacity, then scale down to the citywide fleet."""
    quota = np.minimum(quota, np.floor(capacity))
    if fleet is not None and quota.sum() > fleet:
        quota = np.floor(quota * fleet / quota.sum())
    return quota


def quotas(base: np.ndarray, factor: float, capacity: np.ndarray, *,
           fleet: int | None = None) -> np.ndarray:
    """Mean-rule quota per cell for a day of ``factor``: round(base need × factor), capped.

    The service deploys the hit-maximising quota of :mod:`twin.bikes.forecast` instead;
    this rule is the simple reference (and the one the aggregation benchmark times).
    """
    return cap_quota(np.round(base * factor), capacity, fleet=fleet)


def within_tolerance(quota: np.ndarray, need: np.ndarray, tolerance: float = TOLERANCE, *,
                     floor: float = MIN_TOLERANCE) -> np.ndarray:
    """Whether each quota is within ``max(tolerance × need, floor)`` of the need.

    ``floor=0`` is the strict ±20 % band without the one-bike floor.
    """
    return np.abs(quota - need) <= np.maximum(tolerance * need, floor)


def precise_rate(quota: np.ndarray, need: np.ndarray, tolerance: float = TOLERANCE, *,
                 floor: float = MIN_TOLERANCE) -> float:
    """Share of active cells whose quota is within tolerance of the need (module docstring).

    Examples
    --------
    >>> q, n = np.array([3, 1, 12]), np.array([2, 2, 10])
    >>> precise_rate(q, n), precise_rate(q, n, floor=0)
    (1.0, 0.3333333333333333)
    """
    active = (need > 0) | (quota > 0)
    ok = within_tolerance(quota, need, tolerance, floor=floor)
    return float(ok[active].mean()) if active.any() else 1.0
