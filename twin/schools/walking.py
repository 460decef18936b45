"""Walking distances on the road network (pedestrians ignore one-way restrictions)."""

from __future__ import annotations

import networkx as nx
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

__all__ = ["WalkNetwork"]


class WalkNetwork:
    """Undirected, length-weighted network with snapping.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        The twin's road graph (WGS84, ``length`` on edges).
    """

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.node_ids = np.array(sorted(graph.nodes))
        index = {n: i for i, n in enumerate(self.node_ids)}
        self.xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in self.node_ids])
        u, v, w = [], [], []
        for a, b, d in graph.edges(data=True):
            u.append(index[a])
            v.append(index[b])
            w.append(max(float(d["length"]), 0.1))
        n = len(self.node_ids)
        # keep the shortest of parallel edges
        coo = sparse.coo_matrix((w + w, (u + v, v + u)), shape=(n, n))
        order = np.lexsort((coo.data, coo.col, coo.row))
        rows, cols, data = coo.row[order], coo.col[order], coo.data[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        self.matrix = sparse.csr_matrix((data[first], (rows[first], cols[first])), shape=(n, n))
        self._scale = np.array([111_320 * np.cos(np.radians(self.xy[:, 1].mean())), 110_540.0])
        self._tree = cKDTree(self.xy * self._scale)

    def snap(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node index and straight-line distance (m) of each point."""
        pts = np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])
        dist, idx = self._tree.query(pts * self._scale)
        return np.asarray(idx), np.asarray(dist)

    def distances(self, sources: np.ndarray) -> np.ndarray:
        """(len(sources), n_nodes) network distances in metres."""
        return dijkstra(self.matrix, directed=False, indices=np.asarray(sources))

    def path(self, source: int, target: int) -> list[int]:
        """Node indices of the shortest walking path."""
        _, pred = dijkstra(self.matrix, directed=False, indices=source, return_predecessors=True)
        if target != source and pred[target] < 0:
            return []
        nodes = [target]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        return nodes[::-1]
