"""Metric customization of a CCH (:mod:`routing.cch`), compiled with numba.

Every arc ``{lo, hi}`` of the chordal supergraph carries two weights: upward
(``lo -> hi``) and downward (``hi -> lo``). They start as the cheapest original arc in
that direction (``inf`` when there is none, or when it is closed), then the lower
triangles are relaxed bottom-up: for each node ``x`` in rank order and each pair of its
upward neighbours ``u < v``, ``u -> x -> v`` may shorten ``u -> v`` and ``v -> x -> u``
may shorten ``v -> u``. When ``x`` is processed, all arcs below it are final. The arc
``{u, v}`` is found by a merge scan of ``u``'s upward list, which contains every upward
neighbour of ``x`` above ``u`` (the graph is chordal). A shortened arc remembers the
middle node ``x``, an original one its original arc, for unpacking paths.

:func:`update` re-customizes after a few original weights changed: it recomputes only
the arcs that can change, from their original arcs and lower triangles (found by
intersecting the downward lists of both ends), in the order of their lower ends. An arc
that changed is followed to the arcs of the triangles it is a lower arc of, and only
those whose best path ran through it, or which it now shortens, are recomputed. The
weights equal a full :func:`customize` (a middle node may differ between equally short
paths).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from routing._chordal import arc_id
from routing._heap import heap_pop, heap_update

__all__ = ["customize", "update"]


@njit(cache=True, nogil=True)
def customize(up_ptr, up_to, turn_arc, turn_up, weight, up_w, dn_w, up_mid, dn_mid,
              up_orig, dn_orig):  # noqa: ANN001, ANN201
    """Fill the metric arrays (all of length ``len(up_to)``) from original weights.

    Parameters
    ----------
    up_ptr, up_to : numpy.ndarray
        The chordal supergraph (:func:`routing._chordal.eliminate`).
    turn_arc : numpy.ndarray of int64
        CCH arc of every original arc (-1 for self loops).
    turn_up : numpy.ndarray of bool
        Whether the original arc runs upward (its tail ranks lower).
    weight : numpy.ndarray of float64
        Original arc weights (``inf`` = closed).
    up_w, dn_w, up_mid, dn_mid, up_orig, dn_orig : numpy.ndarray
        Output: weights, middle nodes (-1: none) and original arcs (-1: none).
    """
    n = len(up_ptr) - 1
    for a in range(len(up_to)):
        up_w[a] = np.inf
        dn_w[a] = np.inf
        up_mid[a] = -1
        dn_mid[a] = -1
        up_orig[a] = -1
        dn_orig[a] = -1
    for i in range(len(turn_arc)):
        a = turn_arc[i]
        if a < 0:
            continue
        w = weight[i]
        if turn_up[i]:
            if w < up_w[a]:
                up_w[a] = w
                up_orig[a] = i
        elif w < dn_w[a]:
            dn_w[a] = w
            dn_orig[a] = i
    for x in range(n):
        end = up_ptr[x + 1]
        for i in range(up_ptr[x], end):
            into_x = dn_w[i]  # u -> x
            from_x = up_w[i]  # x -> u
            if into_x == np.inf and from_x == np.inf:
                continue
            k = up_ptr[up_to[i]]
            for j in range(i + 1, end):
                v = up_to[j]
                while up_to[k] != v:
                    k += 1
                c = into_x + up_w[j]
                if c < up_w[k]:
                    up_w[k] = c
                    up_mid[k] = x
                c = dn_w[j] + from_x
                if c < dn_w[k]:
                    dn_w[k] = c
                    dn_mid[k] = x


@njit(cache=True, nogil=True)
def _recompute(a, lo, hi, dn_ptr, dn_from, dn_arc, orig_ptr, orig_ids, turn_up, weight,
               up_w, dn_w, up_mid, dn_mid, up_orig, dn_orig):  # noqa: ANN001, ANN202
    """Recompute arc ``a = {lo, hi}`` from scratch; returns whether a weight changed."""
    bu = np.inf
    bd = np.inf
    ou = -1
    od = -1
    for k in range(orig_ptr[a], orig_ptr[a + 1]):
        i = orig_ids[k]
        w = weight[i]
        if turn_up[i]:
            if w < bu:
                bu = w
                ou = i
        elif w < bd:
            bd = w
            od = i
    mu = -1
    md = -1
    p = dn_ptr[lo]
    pe = dn_ptr[lo + 1]
    q = dn_ptr[hi]
    qe = dn_ptr[hi + 1]
    while p < pe and q < qe:
        x1 = dn_from[p]
        x2 = dn_from[q]
        if x1 < x2:
            p += 1
        elif x1 > x2:
            q += 1
        else:
            a1 = dn_arc[p]  # {x, lo}
            a2 = dn_arc[q]  # {x, hi}
            c = dn_w[a1] + up_w[a2]
            if c < bu:
                bu = c
                mu = x1
            c = dn_w[a2] + up_w[a1]
            if c < bd:
                bd = c
                md = x1
            p += 1
            q += 1
    changed = bu != up_w[a] or bd != dn_w[a]
    up_w[a] = bu
    dn_w[a] = bd
    up_mid[a] = mu
    dn_mid[a] = md
    up_orig[a] = ou
    dn_orig[a] = od
    return changed


@njit(cache=True, nogil=True)
def update(changed, up_ptr, up_to, arc_lo, dn_ptr, dn_from, dn_arc, orig_ptr, orig_ids,
           turn_arc, turn_up, weight, up_w, dn_w, up_mid, dn_mid, up_orig, dn_orig,
           hnode, hkey, hpos):  # noqa: ANN001, ANN201
    """Re-customize the metric arrays in place after the original arcs ``changed``.

    Parameters
    ----------
    changed : numpy.ndarray of int64
        Original arcs whose weight changed (``weight`` holds the new weights).
    dn_ptr, dn_from, dn_arc : numpy.ndarray
        Downward lists: the lower neighbours of each node, ascending, and the arcs.
    orig_ptr, orig_ids : numpy.ndarray
        The original arcs of each CCH arc.
    hnode, hkey, hpos : numpy.ndarray
        Heap arrays for ``len(up_to)`` arc ids (:func:`routing._heap.new_heap`).

    Returns
    -------
    int
        Number of arcs recomputed.
    """
    size = 0
    for i in changed:
        a = turn_arc[i]
        if a >= 0:
            size = heap_update(hnode, hkey, hpos, size, a, float(a))
    done = 0
    while size > 0:
        a, _, size = heap_pop(hnode, hkey, hpos, size)
        lo = arc_lo[a]
        hi = up_to[a]
        done += 1
        if not _recompute(a, lo, hi, dn_ptr, dn_from, dn_arc, orig_ptr, orig_ids, turn_up,
                          weight, up_w, dn_w, up_mid, dn_mid, up_orig, dn_orig):
            continue
        # lo is the lowest node of the triangles {lo, hi, w}: their arc {hi, w} may change
        # if its best path ran through lo, or the path through lo is now shorter
        for k in range(up_ptr[lo], up_ptr[lo + 1]):
            w = up_to[k]
            if w == hi:
                continue
            if hi < w:
                b = arc_id(up_ptr, up_to, hi, w)
                lo_in, lo_out = a, k  # {lo, hi} and {lo, w} for hi -> lo -> w
            else:
                b = arc_id(up_ptr, up_to, w, hi)
                lo_in, lo_out = k, a
            if hpos[b] >= 0:
                continue
            c_up = dn_w[lo_in] + up_w[lo_out]
            c_dn = dn_w[lo_out] + up_w[lo_in]
            if (up_mid[b] == lo or dn_mid[b] == lo or c_up < up_w[b] or c_dn < dn_w[b]):
                size = heap_update(hnode, hkey, hpos, size, b, float(b))
    return done
