"""Capacity-constrained assignment of pupils to schools, exact (min-cost flow).

The problem is a transportation problem: each home supplies its pupils of one level,
each school takes at most its capacity, the cost of a pupil is the walking distance
(metres, rounded). It is solved exactly with OR-Tools' min-cost flow (network simplex
on integers): the flow polytope is integral, so the integer optimum equals the LP bound.
A home's pupils may be split between schools (a block on a district border); a dummy
"no place" node with a large cost takes the pupils beyond total capacity, so shortfalls
show where they are rather than making the problem infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

__all__ = ["Assignment", "assign", "UNASSIGNED_COST_M"]

UNASSIGNED_COST_M = 1_000_000


@dataclass
class Assignment:
    """Result of :func:`assign`.

    Attributes
    ----------
    flows : numpy.ndarray
        (n_homes, n_schools) pupils of each home at each school.
    unassigned : numpy.ndarray
        Pupils of each home without a place.
    cost_m : float
        Total walking distance of assigned pupils (pupil-metres).
    """

    flows: np.ndarray
    unassigned: np.ndarray
    cost_m: float

    @property
    def main_school(self) -> np.ndarray:
        """Index of the school taking most of each home's pupils (-1 if none)."""
        out = self.flows.argmax(axis=1)
        out[self.flows.sum(axis=1) == 0] = -1
        return out


def assign(demand: np.ndarray, capacity: np.ndarray, distance_m: np.ndarray) -> Assignment:
    """Exact minimum-total-distance assignment under school capacities.

    Parameters
    ----------
    demand : numpy.ndarray
        Pupils per home (int, >= 0).
    capacity : numpy.ndarray
        Places per school (int, >= 0).
    distance_m : numpy.ndarray
        (n_homes, n_schools) walking distance; ``inf`` where unreachable.

    Returns
    -------
    Assignment
    """
    demand = np.asarray(demand, dtype=np.int64)
    capacity = np.asarray(capacity, dtype=np.int64)
    n_h, n_s = distance_m.shape
    source, sink, nobody = n_h + n_s, n_h + n_s + 1, n_h + n_s + 2
    reach = np.isfinite(distance_m) & (demand[:, None] > 0)
    hi, si = np.nonzero(reach)
    costs = np.round(distance_m[hi, si]).astype(np.int64)
    total = int(demand.sum())
    tails = np.concatenate([np.full(n_h, source), hi, np.arange(n_h), n_h + np.arange(n_s), [nobody]])
    heads = np.concatenate([np.arange(n_h), n_h + si, np.full(n_h, nobody), np.full(n_s, sink), [sink]])
    caps = np.concatenate([demand, demand[hi], demand, capacity, [total]])
    unit = np.concatenate([np.zeros(n_h, np.int64), costs, np.full(n_h, UNASSIGNED_COST_M),
                           np.zeros(n_s, np.int64), [0]])
    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32),
                                                     caps, unit)
    flow.set_nodes_supplies(np.array([source, sink], dtype=np.int32),
                            np.array([total, -total], dtype=np.int64))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    values = flow.flows(arcs)
    k = len(hi)
    flows = np.zeros((n_h, n_s), dtype=np.int64)
    flows[hi, si] = values[n_h: n_h + k]
    unassigned = values[n_h + k: n_h + k + n_h]
    cost = float((flows * np.where(np.isfinite(distance_m), np.round(distance_m), 0)).sum())
    return Assignment(flows=flows, unassigned=unassigned, cost_m=cost)
