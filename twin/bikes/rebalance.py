"""Rebalancing plan: moves between cells before a peak, by exact min-cost flow (OR-Tools)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow
from scipy.spatial import cKDTree

__all__ = ["NEAREST", "rebalance"]


#: Each surplus cell may send bikes to its this many nearest deficit cells.
NEAREST = 25


def rebalance(surplus: np.ndarray, cells: pd.DataFrame, *, nearest: int = NEAREST) -> pd.DataFrame:
    """Moves from surplus to deficit cells minimising bike-metres.

    An exact min-cost max-flow (OR-Tools) on the graph whose arcs join every surplus cell
    to its ``nearest`` deficit cells (straight-line metres between centres), so that the
    problem stays small at fine resolutions; as many bikes as possible are moved.

    Returns
    -------
    pandas.DataFrame
        ``from``, ``to`` (H3 ids), ``bikes``, ``distance_m``.
    """
    give = np.flatnonzero(surplus > 0)
    take = np.flatnonzero(surplus < 0)
    if not len(give) or not len(take):
        return pd.DataFrame(columns=["from", "to", "bikes", "distance_m"])
    xy = cells[["lon", "lat"]].to_numpy()
    scale = np.array([111_320 * np.cos(np.radians(xy[:, 1].mean())), 110_540.0])
    k = min(nearest, len(take))
    dist, near = cKDTree(xy[take] * scale).query(xy[give] * scale, k=k)
    dist, near = dist.reshape(len(give), k), near.reshape(len(give), k)
    supply = surplus[give].astype(np.int64)
    demand = (-surplus[take]).astype(np.int64)
    n_give, n_take = len(give), len(take)
    src, snk = n_give + n_take, n_give + n_take + 1
    gi = np.repeat(np.arange(n_give), k)
    tails = np.concatenate([np.full(n_give, src), gi, n_give + np.arange(n_take)])
    heads = np.concatenate([np.arange(n_give), n_give + near.ravel(), np.full(n_take, snk)])
    caps = np.concatenate([supply, supply[gi], demand])
    costs = np.concatenate([np.zeros(n_give), np.round(dist.ravel()), np.zeros(n_take)])
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32),
                                                     caps.astype(np.int64), costs.astype(np.int64))
    most = int(min(supply.sum(), demand.sum()))
    flow.set_nodes_supplies(np.array([src, snk], dtype=np.int32), np.array([most, -most]))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    values = flow.flows(arcs)[n_give: n_give + gi.size]
    used = np.flatnonzero(values)
    return pd.DataFrame({"from": cells["h3"].to_numpy()[give[gi[used]]],
                         "to": cells["h3"].to_numpy()[take[near.ravel()[used]]],
                         "bikes": values[used].astype(int),
                         "distance_m": np.round(dist.ravel()[used], 1)})
