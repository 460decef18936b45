"""Fixed-time signal timing plans for signalized intersections, in the project's one
plan format.

**Format** (one plan per junction; the ``signals`` layer holds it, ``twin build
--signal-plans FILE.json`` takes real plans in it, the green-wave planner reads it)::

    {"cycle_s": 120.0, "offset_s": 37.5,
     "phases": [{"name": "main",
                 "movements": [{"from": 8756689000, "to": 9704194001, "turn": "through"}, ...],
                 "green_s": 62.0, "yellow_s": 3.0, "all_red_s": 2.0,
                 "min_green_s": 12.4, "ped_clearance_s": 10.4}, ...]}

``movements`` name the approach and exit roads by their stable road feature ids (the
``road_id`` edge attribute; derived from OSM way ids); ``turn`` is ``through``, ``left``,
``right`` or ``uturn``. Phases run in order from ``offset_s`` on the plan clock; each
phase is green, then yellow, then all-red. Phases also carry ``approaches`` (the
incoming edges ``[u, v, key]`` their movements start on, resolved for this graph).

**Generated plans** (``timing_source = "synthetic"``), per signalized node:

1. **Approaches and volumes.** Every incoming edge is an approach with the bearing of its
   last segment. Its peak-hour volume is estimated from its road class and lanes
   (:data:`LANE_FLOW_VPH` per lane; no counts are available), its saturation flow is
   :data:`SATURATION_FLOW_VPHPL` per lane.
2. **Phases.** Approaches are grouped into two axes: the axis of the heaviest approach
   (bearings within ±45° of it, in either direction) and the cross axis (the rest). A
   junction whose approaches all lie on one axis (a mid-block pedestrian crossing) gets
   the vehicle phase plus a pedestrian phase that serves no vehicle.
3. **Pedestrian clearance and minimum green.** Pedestrians walk beside each vehicle
   phase across the other axis: crossing length = lanes across that axis ×
   :data:`LANE_WIDTH_M`, clearance = length ÷ :data:`PED_SPEED_MPS`. The phase's minimum
   green holds the walk interval plus the clearance not covered by yellow + all-red, and
   never less than :data:`MIN_GREEN_S`.
4. **Cycle and splits (Webster).** Critical flow ratio of a phase ``y`` = max volume /
   saturation flow of its approaches; ``C = (1.5 L + 5) / (1 - Y)`` with ``L`` the lost
   time (yellow + all-red per phase), ``Y = Σ y`` (capped at :data:`MAX_FLOW_RATIO`),
   clamped to [:data:`MIN_CYCLE_S`, :data:`MAX_CYCLE_S`]; the green time is split in
   proportion to ``y``, then every phase is raised to its minimum green (lengthening the
   cycle if needed).
5. **Offset.** One-way progression along the main axis: the travel time from the
   network's centroid to the junction, projected on its main-axis bearing, at
   :data:`PROGRESSION_KPH`, modulo the cycle.

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
    "LANE_FLOW_VPH",
    "SATURATION_FLOW_VPHPL",
    "MAX_FLOW_RATIO",
    "MIN_CYCLE_S",
    "MAX_CYCLE_S",
    "YELLOW_S",
    "ALL_RED_S",
    "MIN_GREEN_S",
    "PED_WALK_S",
    "PED_SPEED_MPS",
    "LANE_WIDTH_M",
    "PROGRESSION_KPH",
    "PLAN_METHOD",
    "PLAN_COLUMNS",
    "build_signal_plans",
    "approach_bearing",
    "turn_of",
]

CLASS_WEIGHT: dict[str, float] = {
    "motorway": 4.0, "trunk": 3.5, "primary": 3.0, "secondary": 2.2, "tertiary": 1.6,
    "unclassified": 1.0, "residential": 1.0, "living_street": 0.6, "service": 0.6,
}
#: Estimated peak-hour volume per lane by road class (veh/h/lane).
LANE_FLOW_VPH: dict[str, float] = {
    "motorway": 900.0, "trunk": 750.0, "primary": 650.0, "secondary": 520.0,
    "tertiary": 400.0, "unclassified": 250.0, "residential": 220.0, "living_street": 100.0,
    "service": 100.0, "road": 220.0,
}
SATURATION_FLOW_VPHPL = 1800.0
MAX_FLOW_RATIO = 0.85
MIN_CYCLE_S = 60.0
MAX_CYCLE_S = 180.0
YELLOW_S = 3.0
ALL_RED_S = 2.0
MIN_GREEN_S = 10.0
PED_WALK_S = 7.0
PED_SPEED_MPS = 1.2
LANE_WIDTH_M = 3.5
PED_GREEN_S = 20.0
PROGRESSION_KPH = 40.0
PLAN_METHOD = ("Webster cycle and splits from class-estimated volumes, two-axis phases, "
               "pedestrian clearance at 1.2 m/s, offsets for main-axis progression")
#: Columns of the ``signals`` layer (besides ``node`` and the geometry).
PLAN_COLUMNS = ["cycle_s", "offset_s", "phases", "n_phases", "n_approaches", "main_bearing",
                "plan_method", "timing_source"]
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


def turn_of(in_bearing: float, out_bearing: float) -> str:
    """The turn from an approach to an exit, by the change of bearing (right-hand traffic).

    Parameters
    ----------
    in_bearing, out_bearing : float
        Bearing of travel on the approach (at its end) and on the exit (at its start).

    Returns
    -------
    str
        ``through`` (within ±30°), ``right``, ``left`` or ``uturn`` (beyond ±150°).
    """
    delta = (out_bearing - in_bearing + 180.0) % 360.0 - 180.0
    if abs(delta) <= 30.0:
        return "through"
    if abs(delta) >= 150.0:
        return "uturn"
    return "right" if delta > 0 else "left"


def _exit_bearing(graph: nx.MultiDiGraph, u: int, v: int, key: int) -> float:
    data = graph.edges[u, v, key]
    geom = data.get("geometry")
    if geom is not None and len(geom.coords) >= 2:
        (x0, y0), (x1, y1) = geom.coords[0], geom.coords[1]
    else:
        x0, y0 = graph.nodes[u]["x"], graph.nodes[u]["y"]
        x1, y1 = graph.nodes[v]["x"], graph.nodes[v]["y"]
    dx = (x1 - x0) * math.cos(math.radians((y0 + y1) / 2))
    return math.degrees(math.atan2(dx, y1 - y0)) % 360.0


def _road_id(data: dict, u: int, v: int, key: int) -> int | list[int]:
    rid = data.get("road_id")
    return int(rid) if rid is not None else [int(u), int(v), int(key)]


def _exits(graph: nx.MultiDiGraph, node: int) -> list[dict]:
    """The edges leaving ``node``, each with its bearing at the start (computed once)."""
    return [{"to": int(w), "key": int(k), "data": data,
             "bearing": _exit_bearing(graph, node, w, k)}
            for _, w, k, data in graph.out_edges(node, keys=True, data=True) if w != node]


def _movements(graph: nx.MultiDiGraph, node: int, approach: dict, exits: list[dict]
               ) -> list[dict]:
    u, _, key = approach["edge"]
    from_id = _road_id(graph.edges[u, node, key], u, node, key)
    out = []
    for e in exits:
        turn = turn_of(approach["bearing"], e["bearing"])
        if e["to"] == u and turn != "uturn":
            turn = "uturn"
        out.append({"from": from_id, "to": _road_id(e["data"], node, e["to"], e["key"]),
                    "turn": turn})
    return out


def _crossing_lanes(approaches: list[dict], exits: list[dict], axis_bearing: float) -> int:
    """Lanes a pedestrian crosses on one leg of the axis (both directions)."""
    lanes = sum(a["lanes"] for a in approaches
                if _axis_gap(a["exact_bearing"], axis_bearing) <= 45.0)
    lanes += sum(float(e["data"].get("lanes", 1) or 1) for e in exits
                 if _axis_gap(e["bearing"], axis_bearing) <= 45.0)
    return max(1, int(math.ceil(lanes / 2.0)))  # one leg: half the lanes of the two legs


def _ped_timing(crossed_lanes: int) -> tuple[float, float]:
    """``(pedestrian clearance, minimum green)`` of a phase whose walkers cross that many lanes."""
    if crossed_lanes <= 0:
        return 0.0, MIN_GREEN_S
    clearance = crossed_lanes * LANE_WIDTH_M / PED_SPEED_MPS
    min_green = max(MIN_GREEN_S, PED_WALK_S + clearance - YELLOW_S - ALL_RED_S)
    return round(clearance, 1), round(min_green, 1)


def _flow_ratio(approaches: list[dict]) -> float:
    return max((LANE_FLOW_VPH.get(a["class"], 220.0) / SATURATION_FLOW_VPHPL
                for a in approaches), default=0.0)


def _webster(ratios: list[float], min_greens: list[float]) -> tuple[float, list[float]]:
    """Cycle and green times: Webster's optimum, then every phase at least its minimum."""
    lost = len(ratios) * (YELLOW_S + ALL_RED_S)
    total_y = min(sum(ratios), MAX_FLOW_RATIO)
    cycle = float(np.clip((1.5 * lost + 5.0) / (1.0 - total_y), MIN_CYCLE_S, MAX_CYCLE_S))
    y = np.asarray(ratios, dtype=float)
    shares = y / y.sum() if y.sum() > 0 else np.full(len(y), 1.0 / len(y))
    greens = np.maximum(shares * (cycle - lost), min_greens)
    cycle = max(cycle, float(greens.sum()) + lost)
    spare = cycle - lost - greens.sum()
    greens = greens + spare * shares  # a lengthened cycle keeps the Webster proportions
    return round(cycle, 1), [round(float(g), 1) for g in greens]


def _approaches(graph: nx.MultiDiGraph, node: int) -> list[dict]:
    approaches = []
    for u, _, key, data in graph.in_edges(node, keys=True, data=True):
        if u == node:
            continue
        road_class = _class(data)
        lanes = float(data.get("lanes", 1) or 1)
        bearing = approach_bearing(graph, u, node, key)
        approaches.append({"edge": [int(u), int(node), int(key)], "bearing": round(bearing, 1),
                           "exact_bearing": bearing, "lanes": lanes,
                           "road": data.get("name"), "class": road_class,
                           "weight": lanes * CLASS_WEIGHT.get(road_class, 1.0)})
    return approaches


def _plan(graph: nx.MultiDiGraph, node: int, centroid: tuple[float, float]) -> dict:
    approaches, exits = _approaches(graph, node), _exits(graph, node)
    main_bearing = max(approaches, key=lambda a: a["weight"])["bearing"] if approaches else 0.0
    main = [a for a in approaches if _axis_gap(a["bearing"], main_bearing) <= 45.0]
    cross = [a for a in approaches if _axis_gap(a["bearing"], main_bearing) > 45.0]
    main_lanes = _crossing_lanes(approaches, exits, main_bearing)
    if cross:
        cross_lanes = _crossing_lanes(approaches, exits, (main_bearing + 90.0) % 360.0)
        groups = [("main", main, cross_lanes), ("cross", cross, main_lanes)]
    else:  # a mid-block crossing: walkers cross the one road in their own phase
        groups = [("main", main, 0), ("pedestrian", [], main_lanes)]
    peds = [_ped_timing(lanes) for _, _, lanes in groups]
    ratios = [_flow_ratio(members) for _, members, _ in groups]
    if not cross:
        ratios[1] = ratios[0] * PED_GREEN_S / max(MIN_CYCLE_S - PED_GREEN_S, 1.0)
    cycle, greens = _webster(ratios, [p[1] for p in peds])
    phases = [
        {"name": name, "movements": [m for a in members for m in _movements(graph, node, a, exits)],
         "approaches": [a["edge"] for a in members],
         "bearings": [a["bearing"] for a in members],
         "roads": sorted({a["road"] for a in members if isinstance(a["road"], str)}),
         "green_s": g, "yellow_s": YELLOW_S, "all_red_s": ALL_RED_S,
         "min_green_s": ped[1], "ped_clearance_s": ped[0], "flow_ratio": round(y, 3)}
        for (name, members, _), g, ped, y in zip(groups, greens, peds, ratios, strict=True)
    ]
    # offset: progression along the main axis from the network centroid
    x, y = graph.nodes[node]["x"], graph.nodes[node]["y"]
    dx = (x - centroid[0]) * 111_320 * math.cos(math.radians(y))
    dy = (y - centroid[1]) * 110_540
    along = dx * math.sin(math.radians(main_bearing)) + dy * math.cos(math.radians(main_bearing))
    offset = (along / (PROGRESSION_KPH / 3.6)) % cycle
    return {"cycle_s": cycle, "offset_s": round(float(offset), 1), "phases": json.dumps(
        phases, ensure_ascii=False), "n_phases": len(phases), "n_approaches": len(approaches),
        "main_bearing": round(main_bearing, 1), "plan_method": PLAN_METHOD,
        "timing_source": "synthetic"}


def build_signal_plans(
    graph: nx.MultiDiGraph, signal_nodes: Iterable[int], *, seed: int = 0
) -> pd.DataFrame:
    """Generated fixed-time plans for the signalized nodes of ``graph``.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Road graph (WGS84) with ``lanes`` and ``highway`` on edges, and ``road_id`` (the
        stable road feature id) where known.
    signal_nodes : iterable of int
        The signalized nodes.
    seed : int
        Unused (plans are deterministic); kept so that every build step takes a seed.

    Returns
    -------
    pandas.DataFrame
        Indexed by node id, columns :data:`PLAN_COLUMNS`: ``phases`` is the JSON list of
        phases in the format of the module docstring, in the order they run from
        ``offset_s``; ``timing_source`` is ``"synthetic"``.
    """
    nodes = list(dict.fromkeys(int(n) for n in signal_nodes))
    xs = [d["x"] for _, d in graph.nodes(data=True)]
    ys = [d["y"] for _, d in graph.nodes(data=True)]
    centroid = (float(np.mean(xs)), float(np.mean(ys))) if xs else (0.0, 0.0)
    rows = [_plan(graph, n, centroid) for n in nodes]
    frame = pd.DataFrame(rows, index=pd.Index(nodes, name="node"))
    if frame.empty:
        frame = pd.DataFrame(columns=PLAN_COLUMNS, index=pd.Index([], name="node"))
    return frame
