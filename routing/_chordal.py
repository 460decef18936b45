"""The chordal supergraph of a node order, for :mod:`routing.cch`, compiled with numba.

Contracting nodes in rank order without witness searches makes the upward neighbours of
every node a clique. The upward neighbourhood of ``x`` is its own higher neighbours plus
those of its children in the elimination tree (minus ``x``); its lowest upward
neighbour is its parent. Nodes are processed in rank order, so the result is a CSR
array of sorted upward neighbours whose positions are the arc ids.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["eliminate", "tree_height", "arc_id"]


@njit(cache=True)
def eliminate(n, ptr, adj):  # noqa: ANN001, ANN201
    """Upward arcs of the chordal supergraph.

    Parameters
    ----------
    n : int
        Number of nodes, already numbered by rank.
    ptr, adj : numpy.ndarray of int64
        Symmetric CSR adjacency (no self loops, duplicates allowed).

    Returns
    -------
    up_ptr : numpy.ndarray of int64
        ``up_to[up_ptr[x]:up_ptr[x + 1]]`` are the upward neighbours of ``x``, ascending.
    up_to : numpy.ndarray of int32
    parent : numpy.ndarray of int64
        Elimination-tree parent (lowest upward neighbour), -1 at roots.
    """
    cap = len(adj) + 16
    up_to = np.empty(cap, np.int32)
    up_ptr = np.zeros(n + 1, np.int64)
    child_head = np.full(n, -1, np.int64)
    child_next = np.full(n, -1, np.int64)
    parent = np.full(n, -1, np.int64)
    mark = np.full(n, -1, np.int64)
    buf = np.empty(n, np.int32)
    top = 0
    for x in range(n):
        cnt = 0
        for k in range(ptr[x], ptr[x + 1]):
            y = adj[k]
            if y > x and mark[y] != x:
                mark[y] = x
                buf[cnt] = y
                cnt += 1
        c = child_head[x]
        while c >= 0:
            for a in range(up_ptr[c], up_ptr[c + 1]):
                y = up_to[a]
                if y != x and mark[y] != x:
                    mark[y] = x
                    buf[cnt] = y
                    cnt += 1
            c = child_next[c]
        if top + cnt > cap:
            cap = max(2 * cap, top + cnt)
            grown = np.empty(cap, np.int32)
            grown[:top] = up_to[:top]
            up_to = grown
        nbrs = np.sort(buf[:cnt])
        up_to[top:top + cnt] = nbrs
        top += cnt
        up_ptr[x + 1] = top
        if cnt > 0:
            p = nbrs[0]
            parent[x] = p
            child_next[x] = child_head[p]
            child_head[p] = x
    return up_ptr, up_to[:top].copy(), parent


@njit(cache=True)
def tree_height(parent):  # noqa: ANN001, ANN201
    """Number of nodes on the longest leaf-to-root path of the elimination tree."""
    n = len(parent)
    depth = np.ones(n, np.int64)
    best = 0
    for x in range(n - 1, -1, -1):  # parents rank higher: they come first going down
        p = parent[x]
        if p >= 0:
            depth[x] = depth[p] + 1
        if depth[x] > best:
            best = depth[x]
    return best


@njit(cache=True, nogil=True, inline="always")
def arc_id(up_ptr, up_to, lo, hi):  # noqa: ANN001, ANN201
    """Id of the arc ``{lo, hi}`` (``lo`` ranks lower), -1 if there is none."""
    a = up_ptr[lo]
    b = up_ptr[lo + 1]
    while a < b:
        m = (a + b) >> 1
        if up_to[m] < hi:
            a = m + 1
        else:
            b = m
    if a < up_ptr[lo + 1] and up_to[a] == hi:
        return a
    return -1
