"""Turn restrictions: a graph expanded only around restricted junctions.

OSM restrictions (``type=restriction``, ``no_*`` / ``only_*`` with a ``via`` node) are
turns from one edge into another at a node. A node-based graph cannot forbid a turn, so
each incoming edge that has a restricted turn gets its own copy of the junction node:
the edge ends at the copy, and the copy has the junction's outgoing edges minus the
forbidden ones. All other edges and nodes stay as they are, so the expanded graph is only
slightly larger than the road graph, and plain node-based searches on it honour every
restriction. A route to a junction ends at the node or at any of its copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from routing.errors import InvalidRequest

__all__ = ["TurnGraph", "forbidden_turns"]


def forbidden_turns(edge_u: np.ndarray, edge_v: np.ndarray,
                    restrictions: Iterable[tuple[int, int, int, str]]) -> np.ndarray:
    """Forbidden ``(in edge, out edge)`` pairs of node-triple restrictions.

    Parameters
    ----------
    edge_u, edge_v : numpy.ndarray
        Edge ends (node indices).
    restrictions : iterable of (from, via, to, kind)
        Node indices of the turn ``from -> via -> to`` and the OSM restriction value:
        ``no_*`` forbids that turn, ``only_*`` every other turn out of ``from -> via``.

    Returns
    -------
    numpy.ndarray
        ``(k, 2)`` edge index pairs, sorted and unique.

    Raises
    ------
    InvalidRequest
        A restriction kind that is neither ``no_*`` nor ``only_*``.
    """
    out_of: dict[int, list[int]] = {}
    for e, u in enumerate(edge_u.tolist()):
        out_of.setdefault(u, []).append(e)
    pairs: set[tuple[int, int]] = set()
    for a, via, b, kind in restrictions:
        ins = [e for e in out_of.get(int(a), []) if edge_v[e] == via]
        outs = out_of.get(int(via), [])
        allowed_to = [e for e in outs if edge_v[e] == b]
        if kind.startswith("no_"):
            pairs.update((i, o) for i in ins for o in allowed_to)
        elif kind.startswith("only_"):
            pairs.update((i, o) for i in ins for o in outs if o not in allowed_to)
        else:
            raise InvalidRequest(f"unknown turn restriction {kind!r} (use no_* or only_*)")
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True)
class TurnGraph:
    """The road graph with restricted junctions split per incoming edge.

    Attributes
    ----------
    n_nodes : int
        Nodes of the expanded graph: the road graph's, then the copies.
    tail, head : numpy.ndarray
        Expanded edges.
    edge : numpy.ndarray
        Road-graph edge of each expanded edge.
    node : numpy.ndarray
        Road-graph node of each expanded node.
    n_base : int
        Road-graph nodes (the expanded nodes ``>= n_base`` are copies).
    copies_of : dict
        Road-graph node -> its copies.
    """

    n_nodes: int
    tail: np.ndarray
    head: np.ndarray
    edge: np.ndarray
    node: np.ndarray
    n_base: int
    copies_of: dict[int, np.ndarray]

    @classmethod
    def build(cls, n: int, edge_u: np.ndarray, edge_v: np.ndarray,
              forbidden: np.ndarray) -> TurnGraph:
        """Expand a road graph of ``n`` nodes around its ``forbidden`` turns.

        Parameters
        ----------
        n : int
            Road-graph nodes.
        edge_u, edge_v : numpy.ndarray
            Road-graph edges.
        forbidden : numpy.ndarray
            ``(k, 2)`` forbidden (in edge, out edge) pairs, from :func:`forbidden_turns`.
        """
        edge_u = np.asarray(edge_u, dtype=np.int64)
        edge_v = np.asarray(edge_v, dtype=np.int64)
        m = len(edge_u)
        restricted = np.unique(forbidden[:, 0]) if len(forbidden) else np.zeros(0, np.int64)
        copy_of = np.full(m, -1, dtype=np.int64)
        copy_of[restricted] = n + np.arange(len(restricted))
        head_of = np.where(copy_of >= 0, copy_of, edge_v)
        banned = {(int(a), int(b)) for a, b in forbidden}
        order = np.argsort(edge_u, kind="stable")
        ptr = np.searchsorted(edge_u[order], np.arange(n + 1))
        tails, heads, edges = [edge_u], [head_of], [np.arange(m)]
        for e in restricted.tolist():
            v = int(edge_v[e])
            outs = [int(f) for f in order[ptr[v]:ptr[v + 1]] if (e, int(f)) not in banned]
            tails.append(np.full(len(outs), copy_of[e]))
            heads.append(head_of[outs])
            edges.append(np.array(outs, dtype=np.int64))
        copies_of: dict[int, list[int]] = {}
        for e in restricted.tolist():
            copies_of.setdefault(int(edge_v[e]), []).append(int(copy_of[e]))
        node = np.concatenate([np.arange(n), edge_v[restricted]])
        return cls(n_nodes=n + len(restricted), tail=np.concatenate(tails).astype(np.int64),
                   head=np.concatenate(heads).astype(np.int64),
                   edge=np.concatenate(edges).astype(np.int64), node=node.astype(np.int64),
                   n_base=n, copies_of={k: np.array(v, dtype=np.int64)
                                        for k, v in copies_of.items()})

    def copies(self, v: int) -> np.ndarray:
        """Expanded nodes standing for road-graph node ``v`` (``v`` first)."""
        extra = self.copies_of.get(int(v))
        return np.array([v], dtype=np.int64) if extra is None else np.concatenate([[v], extra])

    @property
    def n_copies(self) -> int:
        """Number of junction copies."""
        return self.n_nodes - self.n_base

    def fold(self, dist: np.ndarray) -> np.ndarray:
        """Per road-graph node, the least of its value and its copies' values.

        Parameters
        ----------
        dist : numpy.ndarray
            Values of the expanded nodes, shape ``(n_nodes,)`` or ``(k, n_nodes)``.
        """
        dist = np.atleast_2d(dist)
        out = dist[:, : self.n_base].copy()
        for row, full in zip(out, dist, strict=True):
            np.minimum.at(row, self.node[self.n_base:], full[self.n_base:])
        return out
