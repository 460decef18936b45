"""Quotas (合理投放量), parking fences (电子围栏), rebalancing and their metrics.

* **need** of a cell on a day: bikes that must stand there at dawn so that no pick-up
  finds it empty = max(ceil(pick-ups / :data:`TURNOVER`), the largest cumulative deficit
  of pick-ups over drop-offs during the day).
* **quota** = the mean need over the fitting days × (1 + :data:`BUFFER`), capped by the
  cell's parking capacity (:data:`BIKES_PER_ROAD_M` per metre of road + :data:`BIKES_PER_SHOP`
  per shop + :data:`BASE_PARKING`), scaled down to the citywide fleet when needed.
* **精准投放率**: the share of active cells whose quota is within ±20 % of the need of a
  held-out day.
* **乱停乱放率**: in a simulation of a held-out day, a drop-off is disorderly when its cell
  is already full (parking capacity without fences; fence capacity with fences, where a
  rider may walk to a fence with space in the six neighbouring cells). Without quotas the
  fleet starts spread evenly; with quotas it starts at the quotas.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

__all__ = ["TURNOVER", "BUFFER", "daily_needs", "quotas", "precise_rate", "simulate_parking",
           "rebalance", "parking_capacity"]

TURNOVER = 4.0
BUFFER = 0.1
BIKES_PER_ROAD_M = 0.02
BIKES_PER_SHOP = 2.0
BASE_PARKING = 5.0


def parking_capacity(cells: pd.DataFrame) -> np.ndarray:
    """Sidewalk parking per cell from road length and shops."""
    return (BASE_PARKING + BIKES_PER_ROAD_M * cells["road_m"].to_numpy()
            + BIKES_PER_SHOP * cells["shops"].to_numpy())


def daily_needs(trips: pd.DataFrame, cell_ids: np.ndarray) -> pd.DataFrame:
    """Need per (day, cell) from ingested trips (rows: days, columns: cell positions)."""
    pos = pd.Index(cell_ids)
    out = {}
    for day, group in trips.groupby("day"):
        s = pos.get_indexer(group["start_cell"])
        e = pos.get_indexer(group["end_cell"])
        flow = np.zeros((24, len(pos)))
        np.add.at(flow, (group["start_hour"].to_numpy()[s >= 0], s[s >= 0]), 1)
        pickups = flow.sum(axis=0)
        np.add.at(flow, (group["end_hour"].to_numpy()[e >= 0], e[e >= 0]), -1)
        deficit = np.cumsum(flow, axis=0).max(axis=0).clip(min=0)
        out[day] = np.ceil(np.maximum(pickups / TURNOVER, deficit))
    return pd.DataFrame(out).T


def quotas(needs: pd.DataFrame, capacity: np.ndarray, *, fleet: int | None = None) -> np.ndarray:
    """Quota per cell from the needs of the fitting days."""
    quota = np.minimum(np.ceil(needs.mean(axis=0).to_numpy() * (1 + BUFFER)), np.floor(capacity))
    if fleet is not None and quota.sum() > fleet:
        quota = np.floor(quota * fleet / quota.sum())
    return quota


def precise_rate(quota: np.ndarray, need: np.ndarray, *, tolerance: float = 0.2) -> float:
    """Share of active cells (need or quota > 0) with |quota - need| <= tolerance × need."""
    active = (need > 0) | (quota > 0)
    ok = np.abs(quota - need) <= tolerance * np.maximum(need, 1)
    return float(ok[active].mean()) if active.any() else 1.0


def simulate_parking(trips: pd.DataFrame, cells: pd.DataFrame, start_bikes: np.ndarray,
                     capacity: np.ndarray, *, neighbours: bool) -> float:
    """Share of drop-offs that are disorderly on one day (see module docstring)."""
    pos = pd.Index(cells["cell"].to_numpy())
    bikes = start_bikes.astype(float).copy()
    ring = None
    if neighbours:
        index = {c: i for i, c in enumerate(cells["h3"])}
        ring = [[index[n] for n in h3.grid_ring(c, 1) if n in index] for c in cells["h3"]]
    events = pd.concat([
        pd.DataFrame({"t": trips["start_hour"] * 2, "cell": pos.get_indexer(trips["start_cell"]),
                      "kind": 0}),
        pd.DataFrame({"t": trips["end_hour"] * 2 + 1, "cell": pos.get_indexer(trips["end_cell"]),
                      "kind": 1})]).sort_values("t", kind="stable")
    disorderly = drops = 0
    riding = 0
    for cell, kind in zip(events["cell"].to_numpy(), events["kind"].to_numpy(), strict=True):
        if cell < 0:
            continue
        if kind == 0:
            if bikes[cell] >= 1:
                bikes[cell] -= 1
                riding += 1
            continue
        if riding == 0:
            continue
        riding -= 1
        drops += 1
        if bikes[cell] < capacity[cell]:
            bikes[cell] += 1
            continue
        spot = next((n for n in (ring[cell] if ring else []) if bikes[n] < capacity[n]), None)
        if spot is not None:
            bikes[spot] += 1
        else:
            disorderly += 1
            bikes[cell] += 1
    return disorderly / drops if drops else 0.0


def rebalance(surplus: np.ndarray, cells: pd.DataFrame) -> pd.DataFrame:
    """Moves from surplus to deficit cells minimising bike-metres (min-cost flow, exact)."""
    give = np.flatnonzero(surplus > 0)
    take = np.flatnonzero(surplus < 0)
    if not len(give) or not len(take):
        return pd.DataFrame(columns=["from", "to", "bikes", "distance_m"])
    xy = cells[["lon", "lat"]].to_numpy()
    scale = np.array([111_320 * np.cos(np.radians(xy[:, 1].mean())), 110_540.0])
    d = np.hypot(*((xy[give][:, None, :] - xy[take][None, :, :]) * scale).transpose(2, 0, 1))
    supply = surplus[give].astype(np.int64)
    demand = (-surplus[take]).astype(np.int64)
    moved = int(min(supply.sum(), demand.sum()))
    flow = min_cost_flow.SimpleMinCostFlow()
    src, snk = len(give) + len(take), len(give) + len(take) + 1
    gi, ti = np.meshgrid(np.arange(len(give)), np.arange(len(take)), indexing="ij")
    tails = np.concatenate([np.full(len(give), src), gi.ravel(), len(give) + np.arange(len(take))])
    heads = np.concatenate([np.arange(len(give)), len(give) + ti.ravel(), np.full(len(take), snk)])
    caps = np.concatenate([supply, np.full(gi.size, moved), demand])
    costs = np.concatenate([np.zeros(len(give)), np.round(d.ravel()), np.zeros(len(take))])
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32),
                                                     caps.astype(np.int64), costs.astype(np.int64))
    flow.set_nodes_supplies(np.array([src, snk], dtype=np.int32), np.array([moved, -moved]))
    flow.solve()
    values = flow.flows(arcs)[len(give): len(give) + gi.size].reshape(gi.shape)
    rows = [{"from": cells["h3"].iat[give[i]], "to": cells["h3"].iat[take[j]],
             "bikes": int(values[i, j]), "distance_m": round(float(d[i, j]), 1)}
            for i, j in zip(*np.nonzero(values), strict=True)]
    return pd.DataFrame(rows)
