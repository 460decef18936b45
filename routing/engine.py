"""Shortest paths on the CSR network (scipy's C Dijkstra), not per-query networkx."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops
from scipy.sparse.csgraph import dijkstra

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


class PathEngine:
    """Point-to-point, one-to-many, many-to-many and isochrones for one profile.

    Parameters
    ----------
    network : RoadNetwork
        The network.
    profile : Profile
        Speeds and whether signal delays are paid.

    Examples
    --------
    >>> engine = PathEngine(network, Profile.car())            # doctest: +SKIP
    >>> engine.route(0, 10).duration_s                          # doctest: +SKIP
    """

    def __init__(self, network: RoadNetwork, profile: Profile) -> None:
        self.network = network
        self.profile = profile
        self.refresh()

    def refresh(self) -> None:
        """Recompute weights (after closing or reopening roads)."""
        self.weights = self.network.edge_times(self.profile)
        self.matrix, self.best_edge = self.network.csr(self.weights)
        self.reverse = self.matrix.T.tocsr()

    def _check(self, *indices: int) -> None:
        n = self.network.n_nodes
        for i in indices:
            if not 0 <= int(i) < n:
                raise InvalidRequest(f"node index {i} out of range [0, {n})")

    def route(self, source: int, target: int) -> Path:
        """Fastest path between two node indices.

        Raises
        ------
        Unreachable
            No path (one-way streets, closed roads).
        """
        self._check(source, target)
        dist, pred = dijkstra(self.matrix, indices=int(source), return_predecessors=True)
        if not np.isfinite(dist[target]):
            raise Unreachable(f"no path from node {self.network.node_ids[source]} to "
                              f"{self.network.node_ids[target]}")
        nodes = [int(target)]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        return self.path_from_nodes(nodes)

    def path_from_nodes(self, nodes: list[int]) -> Path:
        """A :class:`Path` along a node sequence (cheapest edge between each pair)."""
        edges = [self.best_edge[(a, b)] for a, b in zip(nodes[:-1], nodes[1:], strict=True)]
        steps = self.weights[edges] if edges else np.array([])
        times = np.concatenate([[0.0], np.cumsum(steps)])
        return Path(nodes=nodes, edges=edges, times=times,
                    length_m=float(self.network.length[edges].sum()) if edges else 0.0)

    def one_to_many(self, source: int, targets: np.ndarray | None = None, *,
                    limit: float = np.inf) -> np.ndarray:
        """Travel times from ``source`` to ``targets`` (all nodes when None); inf = unreachable."""
        self._check(source)
        dist = dijkstra(self.matrix, indices=int(source), limit=limit)
        return dist if targets is None else dist[np.asarray(targets)]

    def many_to_one(self, target: int, sources: np.ndarray | None = None, *,
                    limit: float = np.inf) -> np.ndarray:
        """Travel times from every source to ``target`` (one search on the reversed graph)."""
        self._check(target)
        dist = dijkstra(self.reverse, indices=int(target), limit=limit)
        return dist if sources is None else dist[np.asarray(sources)]

    def matrix_times(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Many-to-many travel-time matrix (len(sources), len(targets))."""
        sources = np.asarray(sources, dtype=np.int64)
        self._check(*sources.tolist(), *np.asarray(targets).tolist())
        if len(sources) == 0:
            return np.zeros((0, len(targets)))
        return dijkstra(self.matrix, indices=sources)[:, np.asarray(targets)]

    def multi_source(self, sources: np.ndarray, *, limit: float = np.inf) -> np.ndarray:
        """Travel time from the nearest of ``sources`` to every node."""
        sources = np.asarray(sources, dtype=np.int64)
        if len(sources) == 0:
            return np.full(self.network.n_nodes, np.inf)
        return dijkstra(self.matrix, indices=sources, min_only=True, limit=limit)

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
