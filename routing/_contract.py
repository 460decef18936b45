"""Node contraction for :mod:`routing.ch`, compiled with numba.

The remaining (not yet contracted) graph is kept as per-node adjacency blocks in two
growable pools, one for outgoing and one for incoming edges. A block that fills up is
moved to the end of its pool with twice the capacity. Pool rows are
``(other node, middle node or -1, original edge or -1)`` with a float weight beside.

Nodes are contracted in the order of a priority (edge difference, contracted neighbours
and level), kept lazily: a popped node whose recomputed priority is worse than the next
one goes back. Witness searches are Dijkstra searches bounded by a number of settled
nodes; a search that gives up only adds a shortcut that was not needed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from routing._heap import heap_clear, heap_pop, heap_update

__all__ = ["contract"]

_OTHER, _MID, _ORIG = 0, 1, 2
#: Priority = EDGE_DIFF_W × edge difference + DELETED_W × contracted neighbours + LEVEL_W × level.
EDGE_DIFF_W, DELETED_W, LEVEL_W = 2.0, 1.0, 1.0


@njit(cache=True)
def _append(start, length, cap, pi, pw, top, v, other, w, mid, orig):  # noqa: ANN001, ANN202
    if length[v] == cap[v]:
        new_cap = max(4, 2 * cap[v])
        if top[0] + new_cap > pi.shape[0]:
            grow = max(2 * pi.shape[0], top[0] + new_cap)
            npi = np.empty((grow, 3), dtype=np.int32)
            npw = np.empty(grow)
            npi[: top[0]] = pi[: top[0]]
            npw[: top[0]] = pw[: top[0]]
            pi, pw = npi, npw
        s, ns = start[v], top[0]
        for k in range(length[v]):
            pi[ns + k, 0] = pi[s + k, 0]
            pi[ns + k, 1] = pi[s + k, 1]
            pi[ns + k, 2] = pi[s + k, 2]
            pw[ns + k] = pw[s + k]
        start[v] = ns
        cap[v] = new_cap
        top[0] += new_cap
    k = start[v] + length[v]
    pi[k, 0] = other
    pi[k, 1] = mid
    pi[k, 2] = orig
    pw[k] = w
    length[v] += 1
    return pi, pw


@njit(cache=True)
def _remove(start, length, pi, pw, v, other):  # noqa: ANN001, ANN202
    s = start[v]
    for k in range(s, s + length[v]):
        if pi[k, 0] == other:
            last = s + length[v] - 1
            pi[k, 0] = pi[last, 0]
            pi[k, 1] = pi[last, 1]
            pi[k, 2] = pi[last, 2]
            pw[k] = pw[last]
            length[v] -= 1
            return


@njit(cache=True)
def _find(start, length, pi, v, other):  # noqa: ANN001, ANN202
    for k in range(start[v], start[v] + length[v]):
        if pi[k, 0] == other:
            return k
    return -1


@njit(cache=True)
def _witness(o_start, o_len, opi, opw, src, skip, limit, max_settled,
             dist, touched, hnode, hkey, hpos):  # noqa: ANN001, ANN202
    """Bounded Dijkstra from ``src`` avoiding ``skip``; leaves distances in ``dist``.

    Returns the number of touched nodes (the caller resets them).
    """
    dist[src] = 0.0
    touched[0] = src
    n_touched = 1
    size = heap_update(hnode, hkey, hpos, 0, src, 0.0)
    settled = 0
    while size > 0:
        x, d, size = heap_pop(hnode, hkey, hpos, size)
        if d > limit:
            break
        settled += 1
        if settled > max_settled:
            break
        for k in range(o_start[x], o_start[x] + o_len[x]):
            y = opi[k, _OTHER]
            if y == skip:
                continue
            nd = d + opw[k]
            if nd < dist[y]:
                if dist[y] == np.inf:
                    touched[n_touched] = y
                    n_touched += 1
                dist[y] = nd
                size = heap_update(hnode, hkey, hpos, size, y, nd)
    heap_clear(hnode, hpos, size)
    return n_touched


@njit(cache=True)
def _reset(dist, touched, n_touched):  # noqa: ANN001, ANN202
    for i in range(n_touched):
        dist[touched[i]] = np.inf


@njit(cache=True)
def _shortcuts(v, o_start, o_len, opi, opw, i_start, i_len, ipi, ipw, max_settled,
               dist, touched, hnode, hkey, hpos, out_u, out_w, out_d):  # noqa: ANN001, ANN202
    """Shortcuts needed to contract ``v``: writes them to ``out_*``, returns how many.

    ``out_*`` must hold ``in-degree × out-degree`` entries.
    """
    count = 0
    for a in range(i_start[v], i_start[v] + i_len[v]):
        u = ipi[a, _OTHER]
        duv = ipw[a]
        limit = 0.0
        for b in range(o_start[v], o_start[v] + o_len[v]):
            if opi[b, _OTHER] != u:
                limit = max(limit, duv + opw[b])
        if limit == 0.0:
            continue
        n_touched = _witness(o_start, o_len, opi, opw, u, v, limit, max_settled,
                             dist, touched, hnode, hkey, hpos)
        for b in range(o_start[v], o_start[v] + o_len[v]):
            w = opi[b, _OTHER]
            if w == u:
                continue
            d = duv + opw[b]
            if dist[w] > d:
                out_u[count] = u
                out_w[count] = w
                out_d[count] = d
                count += 1
        _reset(dist, touched, n_touched)
    return count


@njit(cache=True)
def _room(out_u, out_w, out_d, need):  # noqa: ANN001, ANN202
    """Shortcut buffers with room for ``need`` entries (new ones if too small)."""
    if need <= out_u.shape[0]:
        return out_u, out_w, out_d
    return np.empty(2 * need, np.int64), np.empty(2 * need, np.int64), np.empty(2 * need)


@njit(cache=True)
def _priority(shortcuts, degree, deleted, level):  # noqa: ANN001, ANN202
    """Contraction priority (lower first)."""
    return EDGE_DIFF_W * (shortcuts - degree) + DELETED_W * deleted + LEVEL_W * level


@njit(cache=True)
def contract(n, tail, head, weight, sim_settled, max_settled):  # noqa: ANN001, ANN201
    """Contract every node.

    Parameters
    ----------
    n : int
        Number of nodes.
    tail, head : numpy.ndarray of int64
        Edges (no self loops, at most one per ordered pair).
    weight : numpy.ndarray of float64
        Finite, non-negative edge weights.
    sim_settled, max_settled : int
        Settled-node bounds of the witness searches when estimating a priority and when
        contracting.

    Returns
    -------
    rank : numpy.ndarray of int64
        Contraction order of each node.
    owner, other, mid, orig : numpy.ndarray of int64
        The hierarchy's edges, each stored at its lower-ranked end ``owner``: an upward
        edge ``owner -> other`` when ``up`` is True, else ``other -> owner``; ``mid`` is
        the contracted middle node of a shortcut (-1 for an original edge, whose index is
        ``orig``).
    w : numpy.ndarray of float64
    up : numpy.ndarray of bool
    """
    m = len(tail)
    cap0 = 2 * m + 4 * n + 16
    o_start = np.zeros(n, np.int64)
    o_len = np.zeros(n, np.int64)
    o_cap = np.zeros(n, np.int64)
    i_start = np.zeros(n, np.int64)
    i_len = np.zeros(n, np.int64)
    i_cap = np.zeros(n, np.int64)
    opi = np.empty((cap0, 3), np.int32)
    opw = np.empty(cap0)
    ipi = np.empty((cap0, 3), np.int32)
    ipw = np.empty(cap0)
    o_top = np.zeros(1, np.int64)
    i_top = np.zeros(1, np.int64)
    for e in range(m):
        opi, opw = _append(o_start, o_len, o_cap, opi, opw, o_top, tail[e], head[e],
                           weight[e], -1, e)
        ipi, ipw = _append(i_start, i_len, i_cap, ipi, ipw, i_top, head[e], tail[e],
                           weight[e], -1, e)

    dist = np.full(n, np.inf)
    touched = np.empty(n, np.int64)
    hnode = np.zeros(n, np.int32)
    hkey = np.zeros(n)
    hpos = np.full(n, -1, np.int32)
    out_u = np.empty(64, np.int64)
    out_w = np.empty(64, np.int64)
    out_d = np.empty(64)

    deleted = np.zeros(n, np.int64)
    level = np.zeros(n, np.int64)
    contracted = np.zeros(n, np.bool_)
    rank = np.full(n, -1, np.int64)

    # output edges
    res_cap = 2 * m + 16
    r_owner = np.empty(res_cap, np.int64)
    r_other = np.empty(res_cap, np.int64)
    r_mid = np.empty(res_cap, np.int64)
    r_orig = np.empty(res_cap, np.int64)
    r_w = np.empty(res_cap)
    r_up = np.empty(res_cap, np.bool_)
    n_res = 0

    # the priority queue over nodes (its own heap arrays)
    qnode = np.zeros(n, np.int32)
    qkey = np.zeros(n)
    qpos = np.full(n, -1, np.int32)
    qsize = 0

    for v in range(n):
        out_u, out_w, out_d = _room(out_u, out_w, out_d, i_len[v] * o_len[v])
        s = _shortcuts(v, o_start, o_len, opi, opw, i_start, i_len, ipi, ipw, sim_settled,
                       dist, touched, hnode, hkey, hpos, out_u, out_w, out_d)
        prio = _priority(s, i_len[v] + o_len[v], deleted[v], level[v])
        qsize = heap_update(qnode, qkey, qpos, qsize, v, prio)

    next_rank = 0
    while qsize > 0:
        v, _, qsize = heap_pop(qnode, qkey, qpos, qsize)
        out_u, out_w, out_d = _room(out_u, out_w, out_d, i_len[v] * o_len[v])
        s = _shortcuts(v, o_start, o_len, opi, opw, i_start, i_len, ipi, ipw, sim_settled,
                       dist, touched, hnode, hkey, hpos, out_u, out_w, out_d)
        prio = _priority(s, i_len[v] + o_len[v], deleted[v], level[v])
        if qsize > 0 and prio > qkey[0]:
            qsize = heap_update(qnode, qkey, qpos, qsize, v, prio)
            continue
        # contract v: the real shortcuts use the larger witness bound
        s = _shortcuts(v, o_start, o_len, opi, opw, i_start, i_len, ipi, ipw, max_settled,
                       dist, touched, hnode, hkey, hpos, out_u, out_w, out_d)
        contracted[v] = True
        rank[v] = next_rank
        next_rank += 1
        # emit v's remaining edges (all to higher-ranked nodes)
        deg = o_len[v] + i_len[v]
        if n_res + deg > res_cap:
            res_cap = max(2 * res_cap, n_res + deg)
            r_owner = np.concatenate((r_owner[:n_res], np.empty(res_cap - n_res, np.int64)))
            r_other = np.concatenate((r_other[:n_res], np.empty(res_cap - n_res, np.int64)))
            r_mid = np.concatenate((r_mid[:n_res], np.empty(res_cap - n_res, np.int64)))
            r_orig = np.concatenate((r_orig[:n_res], np.empty(res_cap - n_res, np.int64)))
            r_w = np.concatenate((r_w[:n_res], np.empty(res_cap - n_res)))
            r_up = np.concatenate((r_up[:n_res], np.empty(res_cap - n_res, np.bool_)))
        for k in range(o_start[v], o_start[v] + o_len[v]):
            r_owner[n_res] = v
            r_other[n_res] = opi[k, _OTHER]
            r_mid[n_res] = opi[k, _MID]
            r_orig[n_res] = opi[k, _ORIG]
            r_w[n_res] = opw[k]
            r_up[n_res] = True
            n_res += 1
        for k in range(i_start[v], i_start[v] + i_len[v]):
            r_owner[n_res] = v
            r_other[n_res] = ipi[k, _OTHER]
            r_mid[n_res] = ipi[k, _MID]
            r_orig[n_res] = ipi[k, _ORIG]
            r_w[n_res] = ipw[k]
            r_up[n_res] = False
            n_res += 1
        # detach v from its neighbours
        for k in range(o_start[v], o_start[v] + o_len[v]):
            _remove(i_start, i_len, ipi, ipw, opi[k, _OTHER], v)
        for k in range(i_start[v], i_start[v] + i_len[v]):
            _remove(o_start, o_len, opi, opw, ipi[k, _OTHER], v)
        # add the shortcuts (or shorten an existing edge)
        for j in range(s):
            u, w, d = out_u[j], out_w[j], out_d[j]
            k = _find(o_start, o_len, opi, u, w)
            if k >= 0:
                if d < opw[k]:
                    opw[k] = d
                    opi[k, _MID] = v
                    opi[k, _ORIG] = -1
                    k2 = _find(i_start, i_len, ipi, w, u)
                    ipw[k2] = d
                    ipi[k2, _MID] = v
                    ipi[k2, _ORIG] = -1
            else:
                opi, opw = _append(o_start, o_len, o_cap, opi, opw, o_top, u, w, d, v, -1)
                ipi, ipw = _append(i_start, i_len, i_cap, ipi, ipw, i_top, w, u, d, v, -1)
        # neighbours: one more contracted neighbour, deeper level, new priority
        for side in range(2):
            st, ln, pi = (o_start, o_len, opi) if side == 0 else (i_start, i_len, ipi)
            for k in range(st[v], st[v] + ln[v]):
                x = pi[k, _OTHER]
                deleted[x] += 1
                level[x] = max(level[x], level[v] + 1)
                if qpos[x] >= 0:
                    out_u, out_w, out_d = _room(out_u, out_w, out_d, i_len[x] * o_len[x])
                    sx = _shortcuts(x, o_start, o_len, opi, opw, i_start, i_len, ipi, ipw,
                                    sim_settled, dist, touched, hnode, hkey, hpos,
                                    out_u, out_w, out_d)
                    px = _priority(sx, i_len[x] + o_len[x], deleted[x], level[x])
                    qsize = heap_update(qnode, qkey, qpos, qsize, x, px)
        o_len[v] = 0
        i_len[v] = 0
    return (rank, r_owner[:n_res].copy(), r_other[:n_res].copy(), r_mid[:n_res].copy(),
            r_orig[:n_res].copy(), r_w[:n_res].copy(), r_up[:n_res].copy())
