"""Parking capacity, fence sizing and the disorderly-parking simulation (乱停乱放率).

Capacity (from covariates every cell has, the 1 km grid's road length and shops):

* **sidewalk capacity** of a cell = :data:`PARKABLE_SHARE` of its road length has a
  kerbside strip where bikes may stand, :data:`BIKES_PER_M` bikes per metre
  (perpendicular parking, ~0.65 m a bike), plus :data:`BIKES_PER_SHOP` at each shop
  front. It caps the quota and the fences.
* **bays**: before fences, the orderly places are painted kerbside bays, a
  :data:`BAY_SHARE` of the sidewalk capacity.
* **fence capacity** of a cell = the quota plus the expected peak accumulation (the
  :data:`FENCE_QUANTILE` of the largest cumulative net inflow over the fitting days), less
  the bays, within the sidewalk capacity.

Simulation of one held-out day, hour by hour (pick-ups, then drop-offs, of the real
trips of that day): a pick-up takes a bike if the cell has one (else the trip is lost and
its drop-off scaled away); a drop-off is **disorderly** when the orderly places of its cell
are full at that moment (stock ≥ orderly capacity). Two scenarios on the same trips:

* *status quo*, without fences and quotas: orderly places = bays; the whole fleet starts
  where last week's riders left their bikes (spread like the cells' drop-offs of the last
  7 days, :func:`twin.bikes.backtest.status_quo_supply`; no quotas, no total control);
  riders park where they arrive.
* *with*: orderly places = bays + fences; the quotas are deployed (the bikes of the fleet
  beyond them stay in depots); when the
  destination's places are full the app (入栏结算) sends the rider to a fence with room in
  one of the six neighbouring cells (~300 m at res 9), else the drop-off is disorderly.

The rate is the share of drop-offs that are disorderly, counted over the cells where the
street network (and so the fence polygons) exists.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd

from twin.bikes.model import Flows, peak_deficit

__all__ = ["PARKABLE_SHARE", "BIKES_PER_M", "BIKES_PER_SHOP", "BAY_SHARE", "FENCE_QUANTILE",
           "parking_capacity", "peak_inflow", "fence_capacity", "neighbours_of", "simulate_parking"]

PARKABLE_SHARE = 0.10
BIKES_PER_M = 1.5
BIKES_PER_SHOP = 2.0
BAY_SHARE = 0.10
FENCE_QUANTILE = 0.9


def parking_capacity(cells: pd.DataFrame) -> np.ndarray:
    """Sidewalk parking capacity per cell (bikes), from road metres and shops."""
    return (PARKABLE_SHARE * BIKES_PER_M * cells["road_m"].to_numpy(float)
            + BIKES_PER_SHOP * cells["shops"].to_numpy(float))


def peak_inflow(flows: Flows) -> np.ndarray:
    """The :data:`FENCE_QUANTILE` of each cell's largest cumulative net inflow over the days."""
    inflow = peak_deficit(flows.dropoffs, flows.pickups)
    return np.quantile(inflow, FENCE_QUANTILE, axis=0)


def fence_capacity(quota: np.ndarray, inflow: np.ndarray, capacity: np.ndarray, *,
                   bay_share: float = BAY_SHARE) -> np.ndarray:
    """Bikes the fences of each cell must hold (module docstring)."""
    bays = bay_share * capacity
    return np.clip(np.ceil(quota + inflow - bays), 0, np.floor(capacity - bays))


def neighbours_of(h3_ids: pd.Series) -> list[np.ndarray]:
    """Positions of the ring-1 neighbours of each cell that are in ``h3_ids``."""
    index = {c: i for i, c in enumerate(h3_ids)}
    return [np.array([index[n] for n in h3.grid_ring(c, 1) if n in index], dtype=np.int64)
            for c in h3_ids]


def simulate_parking(pickups: np.ndarray, dropoffs: np.ndarray, start: np.ndarray,
                     orderly: np.ndarray, *, neighbours: list[np.ndarray] | None = None,
                     counted: np.ndarray | None = None) -> float:
    """Share of disorderly drop-offs on one day (module docstring).

    Parameters
    ----------
    pickups, dropoffs : numpy.ndarray
        ``(24, n_cells)`` counts of the day.
    start : numpy.ndarray
        Bikes per cell at dawn.
    orderly : numpy.ndarray
        Orderly parking places per cell.
    neighbours : list of numpy.ndarray, optional
        Ring-1 neighbours of each cell where a full destination may redirect riders.
    counted : numpy.ndarray of bool, optional
        Cells whose drop-offs are counted (default all).
    """
    stock = start.astype(float).copy()
    counted = np.ones(len(stock), bool) if counted is None else counted
    disorderly = drops_total = 0.0
    for hour in range(24):
        served = np.minimum(pickups[hour], np.floor(stock))
        stock -= served
        wanted = pickups[hour].sum()
        drops = dropoffs[hour] * (served.sum() / wanted if wanted else 1.0)
        room = np.clip(orderly - stock, 0, None)
        orderly_drops = np.minimum(drops, room)
        stock += drops
        over = drops - orderly_drops
        if neighbours is not None:
            over = _redirect(over, stock, orderly, neighbours)
        disorderly += over[counted].sum()
        drops_total += drops[counted].sum()
    return float(disorderly / drops_total) if drops_total else 0.0


def _redirect(over: np.ndarray, stock: np.ndarray, orderly: np.ndarray,
              neighbours: list[np.ndarray]) -> np.ndarray:
    """Move overflowing drop-offs to neighbouring fences with room; the rest stays over."""
    left = over.copy()
    for cell in np.flatnonzero(over > 0):
        for n in neighbours[cell]:
            take = min(left[cell], max(orderly[n] - stock[n], 0.0))
            if take > 0:
                stock[n] += take
                stock[cell] -= take
                left[cell] -= take
            if left[cell] <= 0:
                break
    return left
