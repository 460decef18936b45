"""Elimination-tree queries on a customized CCH (:mod:`routing.cch`), compiled with numba.

The upward search space of a node is exactly its ancestors in the elimination tree, so a
query needs no priority queue: the forward search walks the ancestors of the sources,
the backward search those of the targets, and both are processed together in rank
order. A node's tentative distance is final when it is reached in that order; its arcs
are relaxed only while it is below the best meeting distance found so far.

Scratch arrays are sized for the graph once; a query resets only the nodes it walked
(``pf`` / ``pb`` are -2 off the walked paths). Shortcuts are unpacked through their
middle nodes into the original arcs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from routing._chordal import arc_id

__all__ = ["query", "UNSEEN"]

#: Predecessor value of a node no search has walked.
UNSEEN = -2


@njit(cache=True, nogil=True)
def _unpack(arc, upward, arc_lo, up_ptr, up_to, up_mid, dn_mid, up_orig, dn_orig,
            out, n_out, stack):  # noqa: ANN001, ANN202
    """Append the original arcs of CCH arc ``arc`` (``upward``: lo -> hi) to ``out``."""
    stack[0, 0] = arc
    stack[0, 1] = upward
    top = 1
    while top > 0:
        top -= 1
        a = stack[top, 0]
        up = stack[top, 1]
        mid = up_mid[a] if up else dn_mid[a]
        if mid < 0:
            orig = up_orig[a] if up else dn_orig[a]
            if orig < 0:
                return -1
            out[n_out] = orig
            n_out += 1
            continue
        if top + 2 > stack.shape[0]:
            return -1
        lo_arc = arc_id(up_ptr, up_to, mid, arc_lo[a])  # {mid, lo}
        hi_arc = arc_id(up_ptr, up_to, mid, up_to[a])   # {mid, hi}
        if up:  # lo -> mid (down {mid, lo}), then mid -> hi (up {mid, hi})
            stack[top, 0] = hi_arc
            stack[top, 1] = 1
            stack[top + 1, 0] = lo_arc
            stack[top + 1, 1] = 0
        else:   # hi -> mid (down {mid, hi}), then mid -> lo (up {mid, lo})
            stack[top, 0] = lo_arc
            stack[top, 1] = 1
            stack[top + 1, 0] = hi_arc
            stack[top + 1, 1] = 0
        top += 2
    return n_out


@njit(cache=True, nogil=True)
def _walk(starts, parent, dist, pred, chain):  # noqa: ANN001, ANN202
    """Mark the ancestors of ``starts`` (distance 0 at the starts); returns how many."""
    count = 0
    for s in starts:
        dist[s] = 0.0
        x = s
        while x >= 0 and pred[x] == UNSEEN:
            pred[x] = -1
            chain[count] = x
            count += 1
            x = parent[x]
    if len(starts) > 1:
        chain[:count].sort()
    return count


@njit(cache=True, nogil=True)
def query(sources, targets, parent, arc_lo, up_ptr, up_to, up_w, dn_w, up_mid, dn_mid,
          up_orig, dn_orig, df, db, pf, pb, ef, eb, cf, cb, path, stack):  # noqa: ANN001, ANN201
    """Shortest distance from any source to any target (rank ids).

    Returns ``(distance, number of original arcs written to path)``; the distance is
    ``inf`` and the count 0 when no target is reachable, the count -1 when unpacking
    failed.
    """
    nf = _walk(sources, parent, df, pf, cf)
    nb = _walk(targets, parent, db, pb, cb)
    best = np.inf
    meet = -1
    i = 0
    j = 0
    while i < nf or j < nb:
        if j >= nb or (i < nf and cf[i] <= cb[j]):
            x = cf[i]
        else:
            x = cb[j]
        if i < nf and cf[i] == x:
            i += 1
        if j < nb and cb[j] == x:
            j += 1
        dfx = df[x]
        dbx = db[x]
        if dfx + dbx < best:
            best = dfx + dbx
            meet = x
        if dfx < best:
            for a in range(up_ptr[x], up_ptr[x + 1]):
                nd = dfx + up_w[a]
                y = up_to[a]
                if nd < df[y]:
                    df[y] = nd
                    pf[y] = x
                    ef[y] = a
        if dbx < best:
            for a in range(up_ptr[x], up_ptr[x + 1]):
                nd = dbx + dn_w[a]
                y = up_to[a]
                if nd < db[y]:
                    db[y] = nd
                    pb[y] = x
                    eb[y] = a
    n_out = 0
    if meet >= 0:
        hops = 0
        x = meet
        while pf[x] >= 0:
            hops += 1
            x = pf[x]
        chain = np.empty(hops, np.int64)
        x = meet
        while pf[x] >= 0:
            hops -= 1
            chain[hops] = x
            x = pf[x]
        for y in chain:
            if n_out < 0:
                break
            n_out = _unpack(ef[y], 1, arc_lo, up_ptr, up_to, up_mid, dn_mid, up_orig,
                            dn_orig, path, n_out, stack)
        x = meet
        while pb[x] >= 0 and n_out >= 0:
            n_out = _unpack(eb[x], 0, arc_lo, up_ptr, up_to, up_mid, dn_mid, up_orig,
                            dn_orig, path, n_out, stack)
            x = pb[x]
    for k in range(nf):
        df[cf[k]] = np.inf
        pf[cf[k]] = UNSEEN
    for k in range(nb):
        db[cb[k]] = np.inf
        pb[cb[k]] = UNSEEN
    return best, n_out

