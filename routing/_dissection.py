"""Nested-dissection node order for :mod:`routing.cch`, compiled with numba.

The order depends on the graph's topology and node coordinates only, never on weights.
A part of the graph is split by a straight line: its nodes are sorted by their
projection on four directions, and for every direction the split position within the
middle of the sorted order is chosen that cuts the fewest edges relative to its balance
(one pass over the part's edges counts the cut at every position). The cut edges'
endpoints on the side with fewer of them form the vertex separator, which is ordered
after both halves; the halves are split again until they have no inner edges. This is
the geometric bisection of inertial-flow orderings without the max-flow refinement.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["nested_dissection", "BALANCE"]

#: Split positions are searched in ``[BALANCE, 1 - BALANCE]`` of a part's sorted nodes.
BALANCE = 0.3
_DIRECTIONS = np.array([[1.0, 0.0], [0.0, 1.0], [0.7071067811865476, 0.7071067811865476],
                        [0.7071067811865476, -0.7071067811865476]])


@njit(cache=True)
def _best_split(seg, task, stamp, ptr, adj, x, y, dirs, pos, diff, balance):  # noqa: ANN001, ANN202
    """Best direction and split position of a part: ``(direction, k, score)``.

    ``seg`` holds the part's nodes; ``stamp[v] == task`` marks them. The nodes at sorted
    positions ``< k`` form the left side.
    """
    size = len(seg)
    lo_k = max(1, int(size * balance))
    hi_k = min(size - 1, int(np.ceil(size * (1.0 - balance))))
    best_score = np.inf
    best_dir = 0
    best_k = size // 2
    for d in range(dirs.shape[0]):
        proj = x[seg] * dirs[d, 0] + y[seg] * dirs[d, 1]
        order = np.argsort(proj, kind="mergesort")
        for i in range(size):
            pos[seg[order[i]]] = i
        for i in range(size + 1):
            diff[i] = 0
        for i in range(size):
            u = seg[i]
            pu = pos[u]
            for k in range(ptr[u], ptr[u + 1]):
                v = adj[k]
                if stamp[v] == task and pos[v] > pu:
                    diff[pu + 1] += 1
                    diff[pos[v] + 1] -= 1
        cut = 0
        for k in range(1, hi_k + 1):
            cut += diff[k]
            if k < lo_k:
                continue
            f = k / size
            score = cut / (f * (1.0 - f))
            if score < best_score:
                best_score = score
                best_dir = d
                best_k = k
    return best_dir, best_k, best_score


@njit(cache=True)
def nested_dissection(n, ptr, adj, x, y, balance):  # noqa: ANN001, ANN201
    """A nested-dissection order of an undirected graph.

    Parameters
    ----------
    n : int
        Number of nodes.
    ptr, adj : numpy.ndarray of int64
        Symmetric CSR adjacency (no self loops).
    x, y : numpy.ndarray of float64
        Node coordinates (metres).
    balance : float
        See :data:`BALANCE`.

    Returns
    -------
    numpy.ndarray of int64
        Rank of every node (separators rank above the parts they separate).
    """
    perm = np.arange(n)
    stamp = np.full(n, -1, np.int64)
    pos = np.zeros(n, np.int64)
    side = np.zeros(n, np.int8)
    diff = np.zeros(n + 2, np.int64)
    tmp = np.zeros(n, np.int64)
    dirs = _DIRECTIONS
    st_lo = np.zeros(n + 1, np.int64)
    st_hi = np.zeros(n + 1, np.int64)
    st_lo[0] = 0
    st_hi[0] = n
    top = 1
    task = 0
    while top > 0:
        top -= 1
        lo = st_lo[top]
        hi = st_hi[top]
        size = hi - lo
        if size <= 2:
            continue
        task += 1
        seg = perm[lo:hi]
        for i in range(size):
            stamp[seg[i]] = task
        inner = 0
        for i in range(size):
            u = seg[i]
            for k in range(ptr[u], ptr[u + 1]):
                if stamp[adj[k]] == task:
                    inner += 1
        if inner == 0:
            continue
        d, split, _ = _best_split(seg, task, stamp, ptr, adj, x, y, dirs, pos, diff, balance)
        proj = x[seg] * dirs[d, 0] + y[seg] * dirs[d, 1]
        order = np.argsort(proj, kind="mergesort")
        for i in range(size):
            pos[seg[order[i]]] = i
        # side 0 / 1 by position; the endpoints of cut edges on each side
        n_left_end = 0
        n_right_end = 0
        for i in range(size):
            u = seg[i]
            side[u] = 0 if pos[u] < split else 1
        for i in range(size):
            u = seg[i]
            if side[u] > 1:
                continue
            for k in range(ptr[u], ptr[u + 1]):
                v = adj[k]
                if stamp[v] == task and (side[v] & 1) != (side[u] & 1):
                    if side[u] == 0:
                        side[u] = 2  # left endpoint
                        n_left_end += 1
                    else:
                        side[u] = 3  # right endpoint
                        n_right_end += 1
                    break
        sep_code = 2 if n_left_end <= n_right_end else 3
        # lay the part out as: left, right, separator
        n_a = 0
        for i in range(size):
            u = seg[i]
            if side[u] != sep_code and (side[u] & 1) == 0:
                tmp[n_a] = u
                n_a += 1
        n_b = n_a
        for i in range(size):
            u = seg[i]
            if side[u] != sep_code and (side[u] & 1) == 1:
                tmp[n_b] = u
                n_b += 1
        n_s = n_b
        for i in range(size):
            u = seg[i]
            if side[u] == sep_code:
                tmp[n_s] = u
                n_s += 1
        for i in range(size):
            seg[i] = tmp[i]
        if n_a > 0:
            st_lo[top] = lo
            st_hi[top] = lo + n_a
            top += 1
        if n_b > n_a:
            st_lo[top] = lo + n_a
            st_hi[top] = lo + n_b
            top += 1
    rank = np.empty(n, np.int64)
    for i in range(n):
        rank[perm[i]] = i
    return rank
