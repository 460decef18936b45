"""Generated fire and ambulance stations, sited the way the standards plan them.

No open source lists the fire stations or ambulance bases of the cities the twin builds,
so they are generated (``source = "synthetic"``) — but sited by the planning rules a
city uses, not spread at random:

* **Fire stations** follow 《城市消防站建设标准》(建标 152-2017): an urban fire
  station's district (辖区) should not exceed :data:`FIRE_AREA_PER_STATION_KM2` (7 km²),
  so that a crew reaches the edge of its district within 5 minutes of the call — about
  1 minute to turn out and :data:`FIRE_TRAVEL_S` (4 minutes) of driving. The count starts
  at ``ceil(built-up area / 7 km²)`` and grows until :data:`COVERAGE_TARGET` of the road
  length lies within that drive, up to one station per :data:`FIRE_MIN_AREA_KM2`.
* **Ambulance bases** (急救分站) are planned for an urban service radius of about
  3–5 km: here a drive of :data:`AMBULANCE_TRAVEL_S` (8 minutes) to
  :data:`COVERAGE_TARGET` of the road length, at least one base per
  :data:`AMBULANCE_AREA_PER_STATION_KM2`.

Sites are chosen by greedy maximal covering: each new station goes to the junction on
a main road (primary to tertiary) that brings the most uncovered road length within the
drive. Drive times are planned conservatively, at peak-hour traffic speeds
(:mod:`routing.profiles`, :data:`PLANNING_HOUR`): the response must hold when traffic
cannot make way, without counting on signal priority. The area served is the concave
hull of the road junctions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra

from routing.profiles import Profile

__all__ = [
    "FIRE_AREA_PER_STATION_KM2",
    "FIRE_MIN_AREA_KM2",
    "FIRE_TRAVEL_S",
    "AMBULANCE_TRAVEL_S",
    "AMBULANCE_AREA_PER_STATION_KM2",
    "COVERAGE_TARGET",
    "BUILT_UP_BUFFER_M",
    "HULL_RATIO",
    "PLANNING_HOUR",
    "StationRule",
    "FIRE_RULE",
    "AMBULANCE_RULE",
    "built_up_area_km2",
    "site_stations",
]

logger = logging.getLogger(__name__)

FIRE_AREA_PER_STATION_KM2 = 7.0
FIRE_MIN_AREA_KM2 = 4.0
FIRE_TRAVEL_S = 240.0
AMBULANCE_TRAVEL_S = 480.0
AMBULANCE_AREA_PER_STATION_KM2 = 30.0
COVERAGE_TARGET = 0.95
BUILT_UP_BUFFER_M = 100.0
HULL_RATIO = 0.1
PLANNING_HOUR = 8.0
_MAIN_ROADS = {"motorway", "trunk", "primary", "secondary", "tertiary"}
_CANDIDATE_LIMIT = 4000


@dataclass(frozen=True)
class StationRule:
    """A planning rule for one kind of station.

    Attributes
    ----------
    kind : str
        ``"fire"`` or ``"ambulance"``.
    travel_s : float
        Drive time within which a station covers a road.
    area_per_station_km2 : float
        The largest district per station (sets the minimum count).
    min_area_km2 : float
        The smallest district per station (caps the count).
    rule : str
        The rule, as recorded on each generated station.
    """

    kind: str
    travel_s: float
    area_per_station_km2: float
    min_area_km2: float
    rule: str


FIRE_RULE = StationRule(
    "fire", FIRE_TRAVEL_S, FIRE_AREA_PER_STATION_KM2, FIRE_MIN_AREA_KM2,
    "建标152-2017: district <= 7 km2, edge reached 5 min after the call (1 min turnout + "
    f"{FIRE_TRAVEL_S / 60:.0f} min drive) for {COVERAGE_TARGET:.0%} of road length")
AMBULANCE_RULE = StationRule(
    "ambulance", AMBULANCE_TRAVEL_S, AMBULANCE_AREA_PER_STATION_KM2, 8.0,
    f"urban service radius 3-5 km: {AMBULANCE_TRAVEL_S / 60:.0f} min drive for "
    f"{COVERAGE_TARGET:.0%} of road length")


def built_up_area_km2(graph: nx.MultiDiGraph) -> float:
    """Area (km²) the stations serve: the concave hull of the road junctions
    (:data:`HULL_RATIO`), grown by :data:`BUILT_UP_BUFFER_M`."""
    xy = np.array([[d["x"], d["y"]] for _, d in graph.nodes(data=True)])
    if len(xy) < 3:
        return 0.0
    points = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326)
    utm = points.estimate_utm_crs()
    hull = shapely.concave_hull(shapely.multipoints(points.to_crs(utm).values), ratio=HULL_RATIO)
    return float(hull.buffer(BUILT_UP_BUFFER_M).area) / 1e6


def _network(graph: nx.MultiDiGraph, ids: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Drive times between junctions (s, the faster of parallel edges) and the road length
    (m) credited to each junction (half of every incident edge), in one pass."""
    index = {int(n): i for i, n in enumerate(ids)}
    profile = Profile.car(hour=PLANNING_HOUR)
    rows = []
    for a, b, d in graph.edges(data=True):
        kph = max(profile.speed(str(d.get("highway", "road")), float(d.get("speed_kph", 25.0))), 5.0)
        length = float(d.get("length", 0.0))
        rows.append((index[int(a)], index[int(b)], length / (kph / 3.6) + 1e-3, length))
    u, v, t, length = (np.array(c) for c in zip(*rows, strict=True)) if rows else [np.zeros(0)] * 4
    u, v = u.astype(np.int64), v.astype(np.int64)
    weight = np.bincount(u, length / 2.0, minlength=len(ids)) + \
        np.bincount(v, length / 2.0, minlength=len(ids))
    # parallel edges: a sparse matrix would add their times; keep the fastest
    order = np.lexsort((t, v, u))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[order][1:] != u[order][:-1]) | (v[order][1:] != v[order][:-1])
    keep = order[first]
    n = len(ids)
    return sparse.csr_matrix((t[keep], (u[keep], v[keep])), shape=(n, n)), weight


def _candidates(graph: nx.MultiDiGraph, ids: np.ndarray, usable: np.ndarray,
                exclude: set[int]) -> np.ndarray:
    main = {int(n) for a, b, d in graph.edges(data=True)
            if str(d.get("highway", "")) in _MAIN_ROADS for n in (a, b)}
    pos = [i for i, n in enumerate(ids) if usable[i] and int(n) not in exclude
           and (int(n) in main or not main)]
    pos = np.asarray(pos, dtype=int)
    if len(pos) > _CANDIDATE_LIMIT:  # a large city: an even sample of the main-road nodes
        pos = pos[np.linspace(0, len(pos) - 1, _CANDIDATE_LIMIT).astype(int)]
    return pos


def site_stations(
    graph: nx.MultiDiGraph, rule: StationRule, *, prefix: str, name_format: str,
    exclude: list[int] | None = None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Site the stations of one kind by ``rule``, by greedy maximal covering.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        The road graph (``length``, ``speed_kph``, ``highway``; nodes with ``x``, ``y``).
    rule : StationRule
        :data:`FIRE_RULE` or :data:`AMBULANCE_RULE` (or a city's own).
    prefix : str
        Id prefix (``"F"`` gives ``F1``, ``F2`` ...).
    name_format : str
        Name template with ``{i}``.
    exclude : list of int, optional
        Nodes already taken by other stations.

    Returns
    -------
    stations : geopandas.GeoDataFrame
        Points with ``id``, ``name``, ``kind``, ``node``, ``vehicles``, ``covered_m``,
        ``rule``, ``source`` = ``"synthetic"``.
    report : dict
        ``built_up_km2``, ``count``, ``coverage`` (share of road length within the drive),
        ``rule``.
    """
    ids = np.asarray(sorted(int(n) for n in graph.nodes), dtype=np.int64)
    area = built_up_area_km2(graph)
    n_min = max(1, math.ceil(area / rule.area_per_station_km2))
    n_max = max(n_min, math.ceil(area / rule.min_area_km2))
    matrix, weight = _network(graph, ids)
    _, labels = connected_components(matrix, directed=True, connection="strong")
    usable = labels == np.bincount(labels).argmax()
    cand = _candidates(graph, ids, usable, set(exclude or []))
    total = float(weight.sum()) or 1.0
    times = dijkstra(matrix, directed=True, indices=cand, limit=rule.travel_s)
    cover = sparse.csr_matrix(np.isfinite(times))
    del times
    uncovered = np.ones(len(ids), dtype=bool)
    chosen: list[int] = []
    covered_m: list[float] = []
    while len(chosen) < min(n_max, len(cand)):
        gains = cover @ (weight * uncovered)
        if chosen:
            gains[chosen] = -1.0
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        chosen.append(best)
        covered_m.append(float(gains[best]))
        uncovered &= ~cover[best].toarray().ravel()
        coverage = 1.0 - float(weight[uncovered].sum()) / total
        if len(chosen) >= n_min and coverage >= COVERAGE_TARGET:
            break
    coverage = 1.0 - float(weight[uncovered].sum()) / total
    nodes = ids[cand[chosen]]
    xy = np.array([[graph.nodes[int(n)]["x"], graph.nodes[int(n)]["y"]] for n in nodes])
    stations = gpd.GeoDataFrame(
        {
            "id": [f"{prefix}{i + 1}" for i in range(len(nodes))],
            "name": [name_format.format(i=i + 1) for i in range(len(nodes))],
            "kind": rule.kind,
            "node": [int(n) for n in nodes],
            "vehicles": 2,
            "covered_m": np.round(covered_m, 0),
            "rule": rule.rule,
            "source": "synthetic",
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]) if len(xy) else gpd.GeoSeries([]),
        crs=4326,
    )
    stations.index = pd.RangeIndex(len(stations), name="fid")
    report = {"built_up_km2": round(area, 1), "count": len(stations),
              "coverage": round(coverage, 3), "rule": rule.rule}
    logger.info("%s stations: %d for %.1f km2, %.1f%% of road length within %.0f s",
                rule.kind, len(stations), area, 100 * coverage, rule.travel_s)
    return stations, report
