"""The routable network: compact arrays (CSR) built once from the road graph."""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from routing.errors import NodeNotFound, PointTooFar
from routing.profiles import Profile
from routing.turns import TurnGraph, forbidden_turns

if TYPE_CHECKING:
    from routing.engine import Path

__all__ = ["SignalPlan", "RoadNetwork", "MAX_SNAP_M", "expected_signal_delay", "plans_from_signals"]

logger = logging.getLogger(__name__)

MAX_SNAP_M = 300.0
_EARTH_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class SignalPlan:
    """A fixed-time plan: phases run in order from ``offset_s`` on the plan clock.

    Attributes
    ----------
    node : int
        Signalized node.
    cycle_s, offset_s : float
        Cycle length and offset.
    phases : list of dict
        ``{name, approaches: [[u, v, key]], green_s, yellow_s, all_red_s}``.
    """

    node: int
    cycle_s: float
    offset_s: float
    phases: tuple[dict, ...]

    def phase_of(self, u: int, key: int = 0) -> int:
        """Index of the phase serving the approach from ``u`` (the main phase if none)."""
        for i, phase in enumerate(self.phases):
            for a in phase["approaches"]:
                if a[0] == u and (len(a) < 3 or a[2] == key):
                    return i
        for i, phase in enumerate(self.phases):
            if any(a[0] == u for a in phase["approaches"]):
                return i
        return 0

    @functools.cached_property
    def timing(self) -> tuple[tuple[int, float, float, float, float], ...]:
        """Per phase ``(index, start, green, yellow, all-red)``: the start in seconds
        after the offset, the rest durations (computed once per plan)."""
        out, start = [], 0.0
        for i, phase in enumerate(self.phases):
            green, yellow, all_red = (float(phase["green_s"]), float(phase["yellow_s"]),
                                      float(phase["all_red_s"]))
            out.append((i, start, green, yellow, all_red))
            start += green + yellow + all_red
        return tuple(out)

    def phase_index(self, name: str) -> int | None:
        """Index of the phase named ``name`` (None: the plan has no such phase)."""
        for i, phase in enumerate(self.phases):
            if phase.get("name") == name:
                return i
        return None

    def phase_start(self, index: int) -> float:
        """Start of phase ``index`` within the cycle (seconds after the offset)."""
        return self.timing[index][1]

    def green_window(self, index: int, t: float) -> tuple[float, float]:
        """The green window of phase ``index`` that contains ``t`` or comes next."""
        g = self.phases[index]["green_s"]
        start = self.offset_s + self.phase_start(index)
        k = math.floor((t - start) / self.cycle_s)
        s = start + k * self.cycle_s
        if t >= s + g:
            s += self.cycle_s
        return s, s + g

    def wait_at(self, index: int, t: float) -> float:
        """Seconds a vehicle arriving at ``t`` on phase ``index`` waits for green."""
        s, _ = self.green_window(index, t)
        return max(0.0, s - t)


def expected_signal_delay(plan: SignalPlan, phase: int) -> float:
    """Mean wait of random arrivals on a phase: ``(C - g)^2 / (2 C)`` (Webster, term 1)."""
    red = plan.cycle_s - plan.phases[phase]["green_s"]
    return red * red / (2.0 * plan.cycle_s)


def plans_from_signals(signals: pd.DataFrame) -> dict[int, SignalPlan]:
    """Signal plans by node id from the ``signals`` layer (node, cycle_s, offset_s, phases)."""
    return {int(row.node): SignalPlan(node=int(row.node), cycle_s=float(row.cycle_s),
                                      offset_s=float(row.offset_s),
                                      phases=tuple(json.loads(row.phases)))
            for row in signals.itertuples()}


def _bearings(segments: np.ndarray) -> np.ndarray:
    """Bearings (degrees clockwise from north) of ``(x0, y0, x1, y1)`` lon/lat segments."""
    x0, y0, x1, y1 = segments.T
    dx = (x1 - x0) * np.cos(np.radians((y0 + y1) / 2))
    return np.degrees(np.arctan2(dx, y1 - y0)) % 360.0


class RoadNetwork:
    """Directed road network as numpy arrays, with a KD-tree for snapping.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        The twin's road graph (``length``, ``speed_kph``, ``highway``, ``lanes``, ``name``).
    plans : mapping of int to SignalPlan, optional
        Fixed-time plans of the signalized nodes.
    restrictions : iterable of (from, via, to, kind), optional
        Turn restrictions as graph node ids and the OSM value (``no_left_turn``,
        ``only_straight_on``, ...). Default: the graph's ``turn_restrictions`` attribute.
        Restrictions naming nodes that are not in the graph are ignored (logged).

    Attributes
    ----------
    node_ids : numpy.ndarray
        Graph node id of each index.
    xy : numpy.ndarray
        (n, 2) lon, lat.
    edge_u, edge_v : numpy.ndarray
        Node indices of each edge.
    edge_key : numpy.ndarray
        Multigraph key.
    length, speed_kph : numpy.ndarray
        Per edge.
    road_class : numpy.ndarray of str
        Per edge.
    restrictions : list of (int, int, int, str)
        Turn restrictions as node indices.
    turn_graph : TurnGraph
        The graph the engines search: restricted junctions split per incoming edge.
    """

    def __init__(self, graph: nx.MultiDiGraph, plans: Mapping[int, SignalPlan] | None = None,
                 restrictions: Iterable[tuple[int, int, int, str]] | None = None):
        self.node_ids = np.array(sorted(graph.nodes), dtype=np.int64)
        self.index_of = {int(n): i for i, n in enumerate(self.node_ids)}
        self.xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in self.node_ids])
        rows = list(graph.edges(keys=True, data=True))
        self.edge_u = np.array([self.index_of[u] for u, _, _, _ in rows], dtype=np.int64)
        self.edge_v = np.array([self.index_of[v] for _, v, _, _ in rows], dtype=np.int64)
        self.edge_key = np.array([k for _, _, k, _ in rows], dtype=np.int64)
        self.length = np.array([float(d["length"]) for *_, d in rows])
        self.speed_kph = np.array([float(d.get("speed_kph", 30.0)) for *_, d in rows])
        self.road_class = np.array([str(d.get("highway", "road")) for *_, d in rows])
        self._classes, self._class_of = np.unique(self.road_class, return_inverse=True)
        self.lanes = np.array([int(d.get("lanes", 1) or 1) for *_, d in rows])
        self.names = [d.get("name") if isinstance(d.get("name"), str) else None for *_, d in rows]
        self.road_ids = np.array([int(d.get("road_id", -1)) for *_, d in rows], dtype=np.int64)
        self.geometries = [d.get("geometry") for *_, d in rows]
        self.plans: dict[int, SignalPlan] = dict(plans or {})
        self.closed = np.zeros(len(rows), dtype=bool)
        lat0 = math.radians(float(self.xy[:, 1].mean())) if len(self.xy) else 0.0
        self._scale = np.array([_EARTH_M_PER_DEG * math.cos(lat0), 110_540.0])
        self.routable = self._largest_strong_component()
        self._routable_idx = np.flatnonzero(self.routable)
        self._tree = cKDTree(self.xy[self._routable_idx] * self._scale)
        self._signal_delay = self._edge_signal_delays()
        if restrictions is None:
            restrictions = graph.graph.get("turn_restrictions", [])
        self.restrictions = []
        for a, via, b, kind in restrictions:
            if {int(a), int(via), int(b)} <= self.index_of.keys():
                self.restrictions.append((self.index_of[int(a)], self.index_of[int(via)],
                                          self.index_of[int(b)], str(kind)))
            else:
                logger.info("turn restriction %s-%s-%s names a node not in the network",
                            a, via, b)
        self.turn_graph = TurnGraph.build(len(self.node_ids), self.edge_u, self.edge_v,
                                          forbidden_turns(self.edge_u, self.edge_v,
                                                          self.restrictions))

    def signal_at(self, path: Path, i: int) -> tuple[SignalPlan, int] | None:
        """The signal plan at the ``i``-th node of ``path`` and the phase serving the
        path's approach to it (None: no signal there, or the path's first or last node)."""
        if not 0 < i < len(path.nodes) - 1:
            return None
        plan = self.plans.get(int(self.node_ids[path.nodes[i]]))
        if plan is None:
            return None
        return plan, plan.phase_of(int(self.node_ids[path.nodes[i - 1]]),
                                   int(self.edge_key[path.edges[i - 1]]))

    @functools.cached_property
    def end_bearings(self) -> np.ndarray:
        """(n_edges, 2) bearings (degrees clockwise from north) of each edge's first and
        last segment: how a vehicle leaves the edge's start node and enters its end node
        (computed once per network, shared by its copies)."""
        first = np.empty((len(self.length), 4))
        last = np.empty((len(self.length), 4))
        for e, geom in enumerate(self.geometries):
            if geom is not None and len(geom.coords) >= 2:
                c = np.asarray(geom.coords)
                first[e], last[e] = c[:2, :2].ravel(), c[-2:, :2].ravel()
            else:
                first[e] = last[e] = np.r_[self.xy[self.edge_u[e]], self.xy[self.edge_v[e]]]
        return np.column_stack([_bearings(first), _bearings(last)])

    def _largest_strong_component(self) -> np.ndarray:
        """Mask of the nodes in the largest strongly connected component.

        Locations snap only to these nodes, so that every snapped pair is mutually
        reachable (one-way dead ends at the edge of an extract are not).
        """
        n = len(self.node_ids)
        if n == 0:
            return np.zeros(0, dtype=bool)
        adj = sparse.csr_matrix((np.ones(len(self.edge_u)), (self.edge_u, self.edge_v)),
                                shape=(n, n))
        _, labels = connected_components(adj, directed=True, connection="strong")
        return labels == np.bincount(labels).argmax()

    @classmethod
    def from_layers(cls, graph: nx.MultiDiGraph, signals: pd.DataFrame | None,
                    restrictions: pd.DataFrame | None = None) -> RoadNetwork:
        """Build from the graph, the ``signals`` layer (columns node, cycle_s, ...) and the
        ``turn_restrictions`` layer (columns from_node, via_node, to_node, restriction)."""
        plans = plans_from_signals(signals) if signals is not None else {}
        turns = None
        if restrictions is not None:
            turns = list(zip(restrictions["from_node"], restrictions["via_node"],
                             restrictions["to_node"], restrictions["restriction"], strict=True))
        return cls(graph, plans, turns)

    def with_attributes(self, *, speed_kph: np.ndarray | None = None,
                        closed: np.ndarray | None = None, lanes: np.ndarray | None = None,
                        plans: Mapping[int, SignalPlan] | None = None) -> RoadNetwork:
        """A copy with other per-edge attributes or signal plans, on the same topology.

        The copy shares the topology (nodes, edges, turn graph, spatial index) with this
        network, so engines can re-weight it without re-ordering; this network is left
        unchanged (copy-on-write: what-if scenarios and live edits never mutate a network
        other requests are reading).

        Parameters
        ----------
        speed_kph, closed, lanes : numpy.ndarray, optional
            Per-edge arrays (length :attr:`n_edges`), replacing the current ones.
        plans : mapping, optional
            Signal plans by node id, replacing the current ones.

        Returns
        -------
        RoadNetwork

        Raises
        ------
        ValueError
            An array of the wrong length.
        """
        twin = copy.copy(self)
        for name, value in (("speed_kph", speed_kph), ("closed", closed), ("lanes", lanes)):
            if value is None:
                continue
            array = np.array(value, dtype=getattr(self, name).dtype)
            if array.shape != (self.n_edges,):
                raise ValueError(f"{name} needs {self.n_edges} values, got {array.shape}")
            setattr(twin, name, array)
        if plans is not None:
            twin.plans = dict(plans)
            twin._signal_delay = twin._edge_signal_delays()
        return twin

    @property
    def n_edges(self) -> int:
        """Number of (directed) road edges."""
        return len(self.edge_u)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    def _edge_signal_delays(self) -> np.ndarray:
        delay = np.zeros(len(self.edge_u))
        for e in range(len(self.edge_u)):
            plan = self.plans.get(int(self.node_ids[self.edge_v[e]]))
            if plan is not None:
                u = int(self.node_ids[self.edge_u[e]])
                delay[e] = expected_signal_delay(plan, plan.phase_of(u, int(self.edge_key[e])))
        return delay

    def edge_times(self, profile: Profile) -> np.ndarray:
        """Travel time (s) of every edge under ``profile`` (closed edges: +inf)."""
        by_class = np.array([profile.factors.get(c, 0.8) for c in self._classes.tolist()])
        factors = by_class[self._class_of] if len(self._classes) else np.ones(0)
        kph = self.speed_kph * factors
        if profile.max_kph:
            kph = np.minimum(kph, profile.max_kph)
        times = self.length / np.maximum(kph, 1.0) * 3.6
        if profile.signal_delay:
            times = times + self._signal_delay
        times = np.maximum(times, 1e-3)
        times[self.closed] = np.inf
        return times

    def csr(self, weights: np.ndarray) -> tuple[sparse.csr_matrix, dict[tuple[int, int], int]]:
        """CSR matrix of the cheapest edge per node pair, and pair -> edge index.

        Parameters
        ----------
        weights : numpy.ndarray
            Per-edge weight (``inf`` = closed).

        Returns
        -------
        matrix : scipy.sparse.csr_matrix
        best_edge : dict
            ``(u_index, v_index) -> edge index`` of the edge the matrix uses.
        """
        ok = np.isfinite(weights)
        frame = pd.DataFrame({"u": self.edge_u[ok], "v": self.edge_v[ok], "w": weights[ok],
                              "e": np.flatnonzero(ok)})
        best = frame.loc[frame.groupby(["u", "v"])["w"].idxmin()]
        matrix = sparse.csr_matrix((best["w"].to_numpy(), (best["u"], best["v"])),
                                   shape=(self.n_nodes, self.n_nodes))
        pairs = dict(zip(zip(best["u"].tolist(), best["v"].tolist(), strict=True),
                         best["e"].tolist(), strict=True))
        return matrix, pairs

    def snap(self, lon: float, lat: float, *, max_distance_m: float = MAX_SNAP_M) -> tuple[int, float]:
        """Nearest routable node index to a point, and the distance in metres.

        Raises
        ------
        PointTooFar
            No node within ``max_distance_m``.
        """
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise PointTooFar(f"invalid coordinates lon={lon}, lat={lat}")
        dist, pos = self._tree.query(np.array([lon, lat]) * self._scale)
        idx = self._routable_idx[pos]
        if dist > max_distance_m:
            raise PointTooFar(
                f"({lon:.6f}, {lat:.6f}) is {dist:.0f} m from the road network "
                f"(limit {max_distance_m:.0f} m)")
        return int(idx), float(dist)

    def snap_many(self, lon: Iterable[float], lat: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node index and distance (m) of many points (no distance limit)."""
        pts = np.column_stack([np.asarray(list(lon), float), np.asarray(list(lat), float)])
        dist, pos = self._tree.query(pts * self._scale)
        return self._routable_idx[np.asarray(pos, dtype=np.int64)], np.asarray(dist)

    def index(self, node_id: int) -> int:
        """Index of a graph node id.

        Raises
        ------
        NodeNotFound
        """
        try:
            return self.index_of[int(node_id)]
        except KeyError:
            raise NodeNotFound(f"node {node_id} is not in the network") from None

    def edges_between(self, u: int, v: int) -> list[int]:
        """Edge indices from node index ``u`` to ``v``."""
        return list(np.flatnonzero((self.edge_u == u) & (self.edge_v == v)))
