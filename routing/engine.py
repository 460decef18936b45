"""Shortest paths: contraction hierarchies point to point, scipy's Dijkstra one to many.

Both search the network's :class:`~routing.turns.TurnGraph` (the road graph split at
junctions with turn restrictions), so every answer honours the restrictions.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from routing.ch import ContractionHierarchy
from routing.errors import InvalidRequest, Unreachable
from routing.network import RoadNetwork
from routing.profiles import Profile

__all__ = ["Path", "PathEngine"]


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


class PathEngine:
    """Point-to-point, one-to-many, many-to-many and isochrones for one profile.

    Point-to-point routes use a :class:`~routing.ch.ContractionHierarchy` of the
    profile's weights, contracted on the first route after construction or
    :meth:`refresh` (or given as ``hierarchy``); one-to-many searches use scipy's
    Dijkstra on a CSR matrix.

    Parameters
    ----------
    network : RoadNetwork
        The network.
    profile : Profile
        Speeds and whether signal delays are paid.
    hierarchy : ContractionHierarchy, optional
        A hierarchy contracted earlier for the same network and profile (e.g.
        :meth:`ContractionHierarchy.load`); see :meth:`use_hierarchy`.

    Examples
    --------
    >>> engine = PathEngine(network, Profile.car())            # doctest: +SKIP
    >>> engine.route(0, 10).duration_s                          # doctest: +SKIP
    """

    def __init__(self, network: RoadNetwork, profile: Profile, *,
                 hierarchy: ContractionHierarchy | None = None) -> None:
        self.network = network
        self.profile = profile
        self._lock = threading.Lock()
        self.refresh()
        if hierarchy is not None:
            self.use_hierarchy(hierarchy)

    @property
    def fingerprint(self) -> str:
        """Hash of the searched graph and its current weights."""
        turns = self.network.turn_graph
        digest = hashlib.sha256()
        for arr in (turns.tail, turns.head, self.turn_weights):
            digest.update(np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()[:20]

    def use_hierarchy(self, hierarchy: ContractionHierarchy) -> None:
        """Route with a hierarchy contracted earlier (until the next :meth:`refresh`).

        Raises
        ------
        InvalidRequest
            It was contracted for another graph or other weights.
        """
        if hierarchy.fingerprint != self.fingerprint:
            raise InvalidRequest("the contraction hierarchy was built for another network or "
                                 "other weights")
        self._hierarchy = hierarchy

    def refresh(self) -> None:
        """Recompute weights (after closing or reopening roads)."""
        turns = self.network.turn_graph
        self.weights = self.network.edge_times(self.profile)
        self.turn_weights = self.weights[turns.edge]
        self.matrix = cheapest_csr(turns.n_nodes, turns.tail, turns.head, self.turn_weights)
        self.reverse = self.matrix.T.tocsr()
        self._hierarchy: ContractionHierarchy | None = None
        self._best_edge: dict[tuple[int, int], int] | None = None

    @property
    def hierarchy(self) -> ContractionHierarchy:
        """The contraction hierarchy of the current weights (contracted when first used)."""
        ch = self._hierarchy
        if ch is None:
            with self._lock:
                if self._hierarchy is None:
                    turns = self.network.turn_graph
                    self._hierarchy = ContractionHierarchy.build(
                        turns.n_nodes, turns.tail, turns.head, self.turn_weights,
                        fingerprint=self.fingerprint)
                ch = self._hierarchy
        return ch

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
        dist, steps = self.hierarchy.query(int(source),
                                           self.network.turn_graph.copies(int(target)))
        if not np.isfinite(dist):
            raise Unreachable(f"no path from node {self.network.node_ids[source]} to "
                              f"{self.network.node_ids[target]}")
        return self.path_from_edges(int(source), self.network.turn_graph.edge[steps])

    def path_from_edges(self, source: int, edges: np.ndarray) -> Path:
        """A :class:`Path` from ``source`` along consecutive edge indices."""
        edges = np.asarray(edges, dtype=np.int64)
        nodes = [int(source), *self.network.edge_v[edges].tolist()]
        times = np.zeros(len(edges) + 1)
        np.cumsum(self.weights[edges], out=times[1:])
        return Path(nodes=nodes, edges=edges.tolist(), times=times,
                    length_m=float(self.network.length[edges].sum()))

    def path_from_nodes(self, nodes: list[int]) -> Path:
        """A :class:`Path` along a node sequence (cheapest edge between each pair)."""
        if self._best_edge is None:
            self._best_edge = self.network.csr(self.weights)[1]
        edges = [self._best_edge[(a, b)] for a, b in zip(nodes[:-1], nodes[1:], strict=True)]
        return self.path_from_edges(nodes[0], np.array(edges, dtype=np.int64))

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
