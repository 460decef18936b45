"""Shortest paths: a customizable contraction hierarchy point to point, scipy's Dijkstra
one to many.

Both search the network's :class:`~routing.turns.TurnGraph` (the road graph split at
junctions with turn restrictions), so every answer honours the restrictions. The CCH
topology (node order and chordal supergraph, :class:`~routing.cch.CCHTopology`) is
built once per turn graph and shared by every engine on it; each engine customizes its
own weights on it (:class:`~routing.cch.CustomizedCCH`).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from routing.cch import CCHTopology, CustomizedCCH, topology_fingerprint
from routing.errors import InvalidRequest, Unreachable
from routing.network import RoadNetwork
from routing.profiles import Profile
from routing.turns import TurnGraph

__all__ = ["Path", "PathEngine", "PARTIAL_SHARE", "cheapest_csr"]

#: Re-customize only the reachable arcs when at most this share of arc weights changed.
PARTIAL_SHARE = 0.02


@dataclass
class Path:
    """A route: node indices, edge indices, and per-node cumulative times.

    Attributes
    ----------
    nodes : list of int
        Node indices from origin to destination.
    edges : list of int
        Edge indices (``len(nodes) - 1``).
    times : numpy.ndarray
        Cumulative travel time (s) at each node.
    length_m : float
        Total length.
    """

    nodes: list[int]
    edges: list[int]
    times: np.ndarray
    length_m: float
    extra: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Travel time origin -> destination."""
        return float(self.times[-1]) if len(self.times) else 0.0


def cheapest_csr(n: int, tail: np.ndarray, head: np.ndarray,
                 weight: np.ndarray) -> sparse.csr_matrix:
    """CSR matrix of the cheapest finite edge per node pair (``n`` x ``n``)."""
    ok = np.flatnonzero(np.isfinite(weight))
    order = ok[np.lexsort((weight[ok], head[ok], tail[ok]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (tail[order][1:] != tail[order][:-1]) | (head[order][1:] != head[order][:-1])
    keep = order[first]
    return sparse.csr_matrix((weight[keep], (tail[keep], head[keep])), shape=(n, n))


_SHARED: dict[int, CCHTopology] = {}
_SHARED_LOCK = threading.Lock()
_BUILD_LOCK = threading.Lock()


def _shared_topology(turns: TurnGraph) -> CCHTopology | None:
    """The topology some engine already has for ``turns`` (None if none)."""
    return _SHARED.get(id(turns))


def _share_topology(turns: TurnGraph, topology: CCHTopology) -> CCHTopology:
    """Keep ``topology`` for the other engines on ``turns`` (while ``turns`` lives)."""
    with _SHARED_LOCK:
        if id(turns) not in _SHARED:
            _SHARED[id(turns)] = topology
            weakref.finalize(turns, _SHARED.pop, id(turns), None)
        return _SHARED[id(turns)]


@dataclass
class _Metric:
    """One set of weights and what is derived from it (replaced whole, never edited)."""

    weights: np.ndarray
    turn_weights: np.ndarray
    hierarchy: CustomizedCCH | None = None
    matrix: sparse.csr_matrix | None = None
    reverse: sparse.csr_matrix | None = None
    best_edge: dict[tuple[int, int], int] | None = None
    fingerprint: str | None = None


class PathEngine:
    """Point-to-point, one-to-many, many-to-many and isochrones for one profile.

    Point-to-point routes use a customizable contraction hierarchy
    (:mod:`routing.cch`): the topology is ordered and contracted once per network (on
    the first route, or given/loaded) and shared by every engine on that network; the
    profile's weights are customized on it on the first route, and at once by
    :meth:`refresh` and :meth:`with_weights` (only the arcs changed weights can reach,
    when few changed). One-to-many searches use scipy's
    Dijkstra on a CSR matrix.

    Parameters
    ----------
    network : RoadNetwork
        The network.
    profile : Profile
        Speeds and whether signal delays are paid.
    hierarchy : CustomizedCCH, optional
        A metric customized earlier for the same network and profile (e.g.
        :meth:`CustomizedCCH.load`); see :meth:`use_hierarchy`.
    topology : CCHTopology, optional
        The network's CCH topology (e.g. :meth:`CCHTopology.load`); see
        :meth:`use_topology`.

    Attributes
    ----------
    customize_seconds : float
        Time the last customization of this engine took (0 before the first).

    Examples
    --------
    >>> engine = PathEngine(network, Profile.car())            # doctest: +SKIP
    >>> engine.route(0, 10).duration_s                          # doctest: +SKIP
    >>> network.closed[42] = True; engine.refresh()             # doctest: +SKIP
    >>> what_if = engine.with_weights(engine.weights * 1.2)     # doctest: +SKIP
    """

    def __init__(self, network: RoadNetwork, profile: Profile, *,
                 hierarchy: CustomizedCCH | None = None,
                 topology: CCHTopology | None = None) -> None:
        self.network = network
        self.profile = profile
        self._lock = threading.Lock()
        self._topology: CCHTopology | None = None
        self._metric: _Metric | None = None
        self.customize_seconds = 0.0
        if topology is not None:
            self.use_topology(topology)
        self._install(network.edge_times(profile), customize=False)
        if hierarchy is not None:
            self.use_hierarchy(hierarchy)

    # -- weights ---------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """Travel time (s) of every network edge (``inf`` = closed)."""
        return self._metric.weights

    @property
    def turn_weights(self) -> np.ndarray:
        """Weights of the turn graph's arcs."""
        return self._metric.turn_weights

    @property
    def matrix(self) -> sparse.csr_matrix:
        """CSR matrix of the cheapest finite turn-graph arc per node pair."""
        m = self._metric
        if m.matrix is None:
            turns = self.network.turn_graph
            m.matrix = cheapest_csr(turns.n_nodes, turns.tail, turns.head, m.turn_weights)
        return m.matrix

    @property
    def reverse(self) -> sparse.csr_matrix:
        """:attr:`matrix` transposed (searches towards a target)."""
        m = self._metric
        if m.reverse is None:
            m.reverse = self.matrix.T.tocsr()
        return m.reverse

    @property
    def fingerprint(self) -> str:
        """Hash of the searched graph and its current weights."""
        m = self._metric
        if m.fingerprint is None:
            turns = self.network.turn_graph
            digest = hashlib.sha256()
            for arr in (turns.tail, turns.head, m.turn_weights):
                digest.update(np.ascontiguousarray(arr).tobytes())
            m.fingerprint = digest.hexdigest()[:20]
        return m.fingerprint

    def refresh(self) -> None:
        """Recompute the weights from the network (after closing or reopening roads,
        changing speeds or signal plans) and re-customize the hierarchy.

        The topology is kept: re-customizing takes milliseconds to a few hundred
        milliseconds, and routes asked meanwhile answer with the previous weights. A
        changed topology (new roads or junctions) needs a new network and engine.
        """
        self._install(self.network.edge_times(self.profile))

    def with_weights(self, edge_weights: np.ndarray) -> PathEngine:
        """A new engine on the same network and CCH topology with its own edge weights.

        This engine is not changed: routes asked on it concurrently keep its weights
        (copy-on-write). For what-if scenarios and live snapshots.

        Parameters
        ----------
        edge_weights : numpy.ndarray
            Travel time (s) of every network edge; ``inf`` closes an edge.

        Raises
        ------
        InvalidRequest
            Not one non-negative weight per network edge.

        Examples
        --------
        >>> slower = engine.with_weights(np.where(jam, 3.0, 1.0) * engine.weights)  # doctest: +SKIP
        """
        weights = np.array(edge_weights, dtype=np.float64)
        if weights.shape != (len(self.network.edge_u),):
            raise InvalidRequest(f"expected {len(self.network.edge_u)} edge weights, "
                                 f"got shape {weights.shape}")
        if np.isnan(weights).any() or (weights < 0).any():
            raise InvalidRequest("edge weights must be non-negative (inf closes an edge)")
        other = PathEngine.__new__(PathEngine)
        other.network = self.network
        other.profile = self.profile
        other._lock = threading.Lock()
        other._topology = self._topology
        other._metric = self._metric
        other.customize_seconds = 0.0
        other._install(weights)
        return other

    def _install(self, weights: np.ndarray, *, customize: bool = True) -> None:
        """Make ``weights`` current; customize now when asked and the topology is there
        (else the first route customizes)."""
        turn_weights = weights[self.network.turn_graph.edge]
        metric = _Metric(weights=weights, turn_weights=turn_weights)
        if customize and self.has_topology:
            metric.hierarchy = self._customized(metric, self._metric)
        self._metric = metric

    def _customized(self, metric: _Metric, previous: _Metric | None) -> CustomizedCCH:
        """The hierarchy of ``metric``: from ``previous`` when few weights changed."""
        top = self.topology
        old = previous.hierarchy if previous is not None else None
        if old is not None and old.topology is top:
            changed = np.flatnonzero(previous.turn_weights != metric.turn_weights)
            if len(changed) == 0:
                hierarchy = old
            elif len(changed) <= PARTIAL_SHARE * top.n_original:
                hierarchy = old.updated(metric.turn_weights, changed)
            else:
                hierarchy = top.customize(metric.turn_weights)
        else:
            hierarchy = top.customize(metric.turn_weights)
        self.customize_seconds = hierarchy.customize_seconds
        return hierarchy

    # -- the hierarchy ---------------------------------------------------------------
    @property
    def has_topology(self) -> bool:
        """Whether the CCH topology is built or loaded (by this or another engine)."""
        if self._topology is None:
            self._topology = _shared_topology(self.network.turn_graph)
        return self._topology is not None

    @property
    def topology(self) -> CCHTopology:
        """The network's CCH topology (ordered and contracted when first needed)."""
        if not self.has_topology:
            net, turns = self.network, self.network.turn_graph
            with _BUILD_LOCK:  # engines on one network wait for one build
                shared = _shared_topology(turns)
                if shared is None:
                    shared = _share_topology(turns, CCHTopology.build(
                        turns.n_nodes, turns.tail, turns.head, net.xy[turns.node] * net._scale))
            self._topology = shared
        return self._topology

    def use_topology(self, topology: CCHTopology) -> None:
        """Use a CCH topology built earlier for this network (shared with its engines).

        Raises
        ------
        InvalidRequest
            It was built for another graph.
        """
        turns = self.network.turn_graph
        if topology.fingerprint != topology_fingerprint(turns.n_nodes, turns.tail, turns.head):
            raise InvalidRequest("the CCH topology was built for another network")
        self._topology = _share_topology(turns, topology)

    def use_hierarchy(self, hierarchy: CustomizedCCH) -> None:
        """Route with a metric customized earlier (until the next :meth:`refresh`).

        Raises
        ------
        InvalidRequest
            It was customized for another graph or other weights.
        """
        if hierarchy.fingerprint != self.fingerprint:
            raise InvalidRequest("the customized hierarchy was built for another network or "
                                 "other weights")
        self.use_topology(hierarchy.topology)
        self._metric.hierarchy = hierarchy

    @property
    def _hierarchy(self) -> CustomizedCCH | None:
        """The current metric's hierarchy, if customized yet."""
        return self._metric.hierarchy

    @property
    def hierarchy(self) -> CustomizedCCH:
        """The customized hierarchy of the current weights (built when first used)."""
        return self._hierarchy_of(self._metric)

    def _hierarchy_of(self, metric: _Metric) -> CustomizedCCH:
        hierarchy = metric.hierarchy
        if hierarchy is None:
            with self._lock:
                if metric.hierarchy is None:
                    metric.hierarchy = self._customized(metric, None)
                hierarchy = metric.hierarchy
        return hierarchy

    # -- routes ----------------------------------------------------------------------
    def _check(self, *indices: int) -> None:
        n = self.network.n_nodes
        for i in indices:
            if not 0 <= int(i) < n:
                raise InvalidRequest(f"node index {i} out of range [0, {n})")

    def route(self, source: int, target: int) -> Path:
        """Fastest path between two node indices.

        Raises
        ------
        InvalidRequest
            A node index out of range.
        Unreachable
            No path (one-way streets, closed roads, turn restrictions).
        """
        self._check(source, target)
        metric = self._metric  # one snapshot: weights and hierarchy belong together
        turns = self.network.turn_graph
        dist, steps = self._hierarchy_of(metric).query(int(source), turns.copies(int(target)))
        if not np.isfinite(dist):
            raise Unreachable(f"no path from node {self.network.node_ids[source]} to "
                              f"{self.network.node_ids[target]}")
        return self._path(metric, int(source), turns.edge[steps])

    def path_from_edges(self, source: int, edges: np.ndarray) -> Path:
        """A :class:`Path` from ``source`` along consecutive edge indices."""
        return self._path(self._metric, source, edges)

    def _path(self, metric: _Metric, source: int, edges: np.ndarray) -> Path:
        edges = np.asarray(edges, dtype=np.int64)
        nodes = [int(source), *self.network.edge_v[edges].tolist()]
        times = np.zeros(len(edges) + 1)
        np.cumsum(metric.weights[edges], out=times[1:])
        return Path(nodes=nodes, edges=edges.tolist(), times=times,
                    length_m=float(self.network.length[edges].sum()))

    def path_from_nodes(self, nodes: list[int]) -> Path:
        """A :class:`Path` along a node sequence (cheapest edge between each pair)."""
        metric = self._metric
        if metric.best_edge is None:
            metric.best_edge = self.network.csr(metric.weights)[1]
        edges = [metric.best_edge[(a, b)] for a, b in zip(nodes[:-1], nodes[1:], strict=True)]
        return self._path(metric, nodes[0], np.array(edges, dtype=np.int64))

    def one_to_many(self, source: int, targets: np.ndarray | None = None, *,
                    limit: float = np.inf) -> np.ndarray:
        """Travel times from ``source`` to ``targets`` (all nodes when None); inf = unreachable."""
        self._check(source)
        dist = self.network.turn_graph.fold(dijkstra(self.matrix, indices=int(source),
                                                     limit=limit))[0]
        return dist if targets is None else dist[np.asarray(targets)]

    def many_to_one(self, target: int, sources: np.ndarray | None = None, *,
                    limit: float = np.inf) -> np.ndarray:
        """Travel times from every source to ``target`` (one search on the reversed graph)."""
        self._check(target)
        turns = self.network.turn_graph
        dist = dijkstra(self.reverse, indices=turns.copies(int(target)), min_only=True,
                        limit=limit)[: turns.n_base]
        return dist if sources is None else dist[np.asarray(sources)]

    def matrix_times(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Many-to-many travel-time matrix (len(sources), len(targets))."""
        sources = np.asarray(sources, dtype=np.int64)
        self._check(*sources.tolist(), *np.asarray(targets).tolist())
        if len(sources) == 0:
            return np.zeros((0, len(targets)))
        full = dijkstra(self.matrix, indices=sources)
        return self.network.turn_graph.fold(full)[:, np.asarray(targets)]

    def multi_source(self, sources: np.ndarray, *, limit: float = np.inf) -> np.ndarray:
        """Travel time from the nearest of ``sources`` to every node."""
        sources = np.asarray(sources, dtype=np.int64)
        if len(sources) == 0:
            return np.full(self.network.n_nodes, np.inf)
        return self.network.turn_graph.fold(
            dijkstra(self.matrix, indices=sources, min_only=True, limit=limit))[0]

    def isochrone(self, source: int, seconds: float) -> shapely.Polygon | shapely.MultiPolygon:
        """Area reachable from ``source`` within ``seconds``.

        The reached road edges (partially reached ones cut at the reached fraction) are
        buffered by 60 m (the depth of the blocks they serve) and merged.
        """
        if seconds <= 0:
            raise InvalidRequest("isochrone time must be positive")
        times = self.one_to_many(source, limit=seconds)
        return self.reach_polygon(times, seconds)

    def reach_polygon(self, times: np.ndarray, seconds: float, *,
                      buffer_m: float = 60.0) -> shapely.Geometry:
        """Polygon of the roads reached within ``seconds`` given node times."""
        net = self.network
        tu = times[net.edge_u]
        reached = np.isfinite(tu) & (tu <= seconds) & np.isfinite(self.weights)
        lines = []
        for e in np.flatnonzero(reached):
            frac = min(1.0, (seconds - tu[e]) / self.weights[e])
            geom = net.geometries[e]
            if geom is None:
                geom = shapely.LineString([net.xy[net.edge_u[e]], net.xy[net.edge_v[e]]])
            lines.append(shapely.ops.substring(geom, 0, frac, normalized=True) if frac < 1 else geom)
        if not lines:
            return shapely.Polygon()
        scale = net._scale
        merged = shapely.union_all(
            [shapely.transform(g, lambda c: c * scale).buffer(buffer_m, quad_segs=4)
             for g in lines])
        return shapely.transform(merged.simplify(10.0), lambda c: c / scale)
