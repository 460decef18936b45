"""Default fixed-time signal plans for signalized intersections.

Method (applied to each signalized node of the road graph):

1. **Approaches.** Every incoming edge ``(u, node, key)`` is an approach, with the bearing
   of its last segment and a weight = lanes × road-class weight (:data:`CLASS_WEIGHT`).
2. **Phases.** Approaches are grouped into two axes: the axis of the heaviest approach
   (bearings within ±45° of it, in either direction) and the cross axis (the rest).
   A two-axis junction gets two phases (main, cross); a junction whose approaches all lie
   on one axis (a mid-block pedestrian crossing) gets the vehicle phase plus a
   pedestrian phase that serves no vehicle approach.
3. **Cycle.** 60 s for one-axis crossings, 90 s for a two-axis junction of minor roads,
   120 s when both axes carry a primary or larger road, 140 s for five or more
   approaches; clamped to [:data:`MIN_CYCLE_S`, :data:`MAX_CYCLE_S`].
4. **Splits.** Each phase loses :data:`YELLOW_S` + :data:`ALL_RED_S`; the remaining green is
   split in proportion to each axis's critical weight (its heaviest approach), with at
   least :data:`MIN_GREEN_S` per phase (pedestrian phase: :data:`PED_GREEN_S`).
5. **Offset.** One-way progression along the main axis: the offset is the travel time
   from the network's centroid to the junction, projected on the junction's main-axis
   bearing, at :data:`PROGRESSION_KPH`, modulo the cycle (a green wave for normal
   traffic along arterials).

Only networkx, numpy and pandas are needed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import networkx as nx
import numpy as np
import pandas as pd

__all__ = [
    "CLASS_WEIGHT",
    "MIN_CYCLE_S",
    "MAX_CYCLE_S",
    "YELLOW_S",
    "ALL_RED_S",
    "MIN_GREEN_S",
    "PED_GREEN_S",
    "PROGRESSION_KPH",
    "PLAN_METHOD",
    "build_signal_plans",
    "approach_bearing",
]

CLASS_WEIGHT: dict[str, float] = {
    "motorway": 4.0, "trunk": 3.5, "primary": 3.0, "secondary": 2.2, "tertiary": 1.6,
    "unclassified": 1.0, "residential": 1.0, "living_street": 0.6, "service": 0.6,
}
MIN_CYCLE_S = 60.0
MAX_CYCLE_S = 160.0
YELLOW_S = 3.0
ALL_RED_S = 2.0
MIN_GREEN_S = 15.0
PED_GREEN_S = 20.0
PROGRESSION_KPH = 40.0
PLAN_METHOD = "two-axis fixed time, splits by lanes x class, offsets for main-axis progression"
_MAJOR = {"motorway", "trunk", "primary"}


def _class(data: dict) -> str:
    hw = data.get("highway", "road")
    hw = hw[0] if isinstance(hw, list) else hw
    return str(hw).replace("_link", "")


def approach_bearing(graph: nx.MultiDiGraph, u: int, v: int, key: int) -> float:
    """Bearing (degrees from north, clockwise) of the last segment of edge ``u -> v``.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Road graph in WGS84 with ``x``/``y`` on nodes and optional ``geometry`` on edges.
    u, v, key : int
        The edge.

    Returns
    -------
    float
        Bearing in [0, 360): the direction a vehicle travels when it reaches ``v``.
    """
    data = graph.edges[u, v, key]
    geom = data.get("geometry")
    if geom is not None and len(geom.coords) >= 2:
        (x0, y0), (x1, y1) = geom.coords[-2], geom.coords[-1]
    else:
        x0, y0 = graph.nodes[u]["x"], graph.nodes[u]["y"]
        x1, y1 = graph.nodes[v]["x"], graph.nodes[v]["y"]
    dx = (x1 - x0) * math.cos(math.radians((y0 + y1) / 2))
    dy = y1 - y0
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _axis_gap(a: float, b: float) -> float:
    """Angle between two bearings as undirected axes, in [0, 90]."""
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def _plan(graph: nx.MultiDiGraph, node: int, centroid: tuple[float, float]) -> dict:
    approaches = []
    for u, _, key, data in graph.in_edges(node, keys=True, data=True):
        if u == node:
            continue
        road_class = _class(data)
        weight = float(data.get("lanes", 1) or 1) * CLASS_WEIGHT.get(road_class, 1.0)
        approaches.append({"edge": [int(u), int(node), int(key)],
                           "bearing": round(approach_bearing(graph, u, node, key), 1),
                           "road": data.get("name"), "class": road_class, "weight": weight})
    if not approaches:
        main_bearing = 0.0
        main, cross = [], []
    else:
        heaviest = max(approaches, key=lambda a: a["weight"])
        main_bearing = heaviest["bearing"]
        main = [a for a in approaches if _axis_gap(a["bearing"], main_bearing) <= 45.0]
        cross = [a for a in approaches if _axis_gap(a["bearing"], main_bearing) > 45.0]
    lost = YELLOW_S + ALL_RED_S
    if cross:
        major_both = ({a["class"] for a in main} & _MAJOR) and ({a["class"] for a in cross} & _MAJOR)
        cycle = 140.0 if len(approaches) >= 5 else 120.0 if major_both else 90.0
        cycle = float(np.clip(cycle, MIN_CYCLE_S, MAX_CYCLE_S))
        w_main = max(a["weight"] for a in main)
        w_cross = max(a["weight"] for a in cross)
        green_total = cycle - 2 * lost
        g_main = max(MIN_GREEN_S, green_total * w_main / (w_main + w_cross))
        g_main = min(g_main, green_total - MIN_GREEN_S)
        greens = [("main", main, g_main), ("cross", cross, green_total - g_main)]
    else:
        cycle = MIN_CYCLE_S
        greens = [("main", main, cycle - 2 * lost - PED_GREEN_S), ("pedestrian", [], PED_GREEN_S)]
    phases = [
        {"name": name, "approaches": [a["edge"] for a in members],
         "bearings": [a["bearing"] for a in members],
         "roads": sorted({a["road"] for a in members if isinstance(a["road"], str)}),
         "green_s": round(float(g), 1), "yellow_s": YELLOW_S, "all_red_s": ALL_RED_S}
        for name, members, g in greens
    ]
    # offset: progression along the main axis from the network centroid
    x, y = graph.nodes[node]["x"], graph.nodes[node]["y"]
    dx = (x - centroid[0]) * 111_320 * math.cos(math.radians(y))
    dy = (y - centroid[1]) * 110_540
    along = dx * math.sin(math.radians(main_bearing)) + dy * math.cos(math.radians(main_bearing))
    offset = (along / (PROGRESSION_KPH / 3.6)) % cycle
    return {"cycle_s": cycle, "offset_s": round(float(offset), 1), "phases": json.dumps(
        phases, ensure_ascii=False), "n_phases": len(phases), "n_approaches": len(approaches),
        "main_bearing": round(main_bearing, 1), "plan_method": PLAN_METHOD}


def build_signal_plans(
    graph: nx.MultiDiGraph, signal_nodes: Iterable[int], *, seed: int = 0
) -> pd.DataFrame:
    """Default fixed-time plans for the signalized nodes of ``graph``.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Road graph (WGS84) with ``lanes`` and ``highway`` on edges.
    signal_nodes : iterable of int
        The signalized nodes.
    seed : int
        Unused (plans are deterministic); kept so that every build step takes a seed.

    Returns
    -------
    pandas.DataFrame
        Indexed by node id: ``cycle_s``, ``offset_s``, ``phases`` (JSON list of
        ``{name, approaches: [[u, v, key], ...], bearings, roads, green_s, yellow_s,
        all_red_s}`` in the order they run from the start of the cycle), ``n_phases``,
        ``n_approaches``, ``main_bearing``, ``plan_method``. The phase sequence starts at
        ``offset_s`` seconds after time 0 of the plan clock.
    """
    nodes = list(dict.fromkeys(int(n) for n in signal_nodes))
    xs = [d["x"] for _, d in graph.nodes(data=True)]
    ys = [d["y"] for _, d in graph.nodes(data=True)]
    centroid = (float(np.mean(xs)), float(np.mean(ys))) if xs else (0.0, 0.0)
    rows = [_plan(graph, n, centroid) for n in nodes]
    frame = pd.DataFrame(rows, index=pd.Index(nodes, name="node"))
    if frame.empty:
        frame = pd.DataFrame(columns=["cycle_s", "offset_s", "phases", "n_phases",
                                      "n_approaches", "main_bearing", "plan_method"],
                             index=pd.Index([], name="node"))
    return frame
