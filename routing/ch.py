"""Contraction hierarchies: fast exact point-to-point queries on a static weighted graph.

:meth:`ContractionHierarchy.build` contracts the nodes (compiled with numba, see
:mod:`routing._contract`) and keeps two CSR graphs on flat arrays: the upward edges of
each node (to higher-ranked nodes) and the downward edges reversed. A query is a
bidirectional Dijkstra that only climbs: forward from the sources on the upward graph,
backward from the targets on the reversed downward graph; the shortest path meets at its
highest-ranked node. Shortcuts keep their middle node, so the path is unpacked into the
original edges.

Query scratch arrays (distances, predecessors, heaps) are sized for the graph once and
reused: a query resets only the nodes it touched. Each concurrent caller takes its own
scratch from a small pool, and the compiled search releases the GIL.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from numba import njit

from routing._contract import contract
from routing._heap import heap_clear, heap_pop, heap_update, new_heap

__all__ = ["ContractionHierarchy", "WITNESS_SETTLED", "PRIORITY_SETTLED"]

#: Settled-node bound of the witness searches while contracting.
WITNESS_SETTLED = 400
#: Settled-node bound of the witness searches that estimate a node's priority.
PRIORITY_SETTLED = 40
#: Depth bound of shortcut unpacking (nesting of shortcuts in shortcuts).
_STACK = 4096
_ARRAYS = ("rank", "up_ptr", "up_to", "up_w", "up_mid", "up_orig",
           "dn_ptr", "dn_from", "dn_w", "dn_mid", "dn_orig")


@njit(cache=True, nogil=True)
def _settle(x, d, ptr, nbr, wts, sptr, snbr, swts, dist, dist_other, pred, pred_edge,
            touched, n_touched, hnode, hkey, hpos, size):  # noqa: ANN001, ANN202
    """Relax the edges of ``x``; returns ``(n_touched, size, meet distance)``.

    Stall-on-demand: when a higher node reaches ``x`` more cheaply over an edge of the
    other direction (``sptr``/``snbr``/``swts``), ``x`` is not on a shortest up-path and
    its edges are not relaxed.
    """
    meet = d + dist_other[x]
    for k in range(sptr[x], sptr[x + 1]):
        if dist[snbr[k]] + swts[k] < d:
            return n_touched, size, meet
    for k in range(ptr[x], ptr[x + 1]):
        y = nbr[k]
        nd = d + wts[k]
        if nd < dist[y]:
            if dist[y] == np.inf:
                touched[n_touched] = y
                n_touched += 1
            dist[y] = nd
            pred[y] = x
            pred_edge[y] = k
            size = heap_update(hnode, hkey, hpos, size, y, nd)
    return n_touched, size, meet


@njit(cache=True, nogil=True)
def _unpack(a, b, mid, orig, up_ptr, up_to, up_mid, up_orig, dn_ptr, dn_from, dn_mid,
            dn_orig, out, n_out, stack):  # noqa: ANN001, ANN202
    """Append the original edges of hierarchy edge ``a -> b`` to ``out``."""
    stack[0, 0] = a
    stack[0, 1] = b
    stack[0, 2] = mid
    stack[0, 3] = orig
    top = 1
    while top > 0:
        top -= 1
        a = stack[top, 0]
        b = stack[top, 1]
        mid = stack[top, 2]
        orig = stack[top, 3]
        if top + 2 > stack.shape[0]:
            return -1
        if mid < 0:
            out[n_out] = orig
            n_out += 1
            continue
        # a -> mid is stored downward at mid (a ranks higher), mid -> b upward at mid
        for k in range(up_ptr[mid], up_ptr[mid + 1]):
            if up_to[k] == b:
                stack[top, 0] = mid
                stack[top, 1] = b
                stack[top, 2] = up_mid[k]
                stack[top, 3] = up_orig[k]
                top += 1
                break
        for k in range(dn_ptr[mid], dn_ptr[mid + 1]):
            if dn_from[k] == a:
                stack[top, 0] = a
                stack[top, 1] = mid
                stack[top, 2] = dn_mid[k]
                stack[top, 3] = dn_orig[k]
                top += 1
                break
    return n_out


@njit(cache=True, nogil=True)
def _query(sources, targets, up_ptr, up_to, up_w, up_mid, up_orig,
           dn_ptr, dn_from, dn_w, dn_mid, dn_orig,
           df, db, pf, pb, ef, eb, tf, tb, hnf, hkf, hpf, hnb, hkb, hpb, path, stack):  # noqa: ANN001, ANN202
    """Bidirectional upward search; returns ``(distance, number of path edges)``.

    The original edges of the path are written to ``path`` (-1 entries never occur).
    """
    ntf = 0
    ntb = 0
    sf = 0
    sb = 0
    for s in sources:
        if df[s] == np.inf:
            tf[ntf] = s
            ntf += 1
        df[s] = 0.0
        pf[s] = -1
        sf = heap_update(hnf, hkf, hpf, sf, s, 0.0)
    for t in targets:
        if db[t] == np.inf:
            tb[ntb] = t
            ntb += 1
        db[t] = 0.0
        pb[t] = -1
        sb = heap_update(hnb, hkb, hpb, sb, t, 0.0)
    best = np.inf
    meet = -1
    while True:
        go_f = sf > 0 and hkf[0] < best
        go_b = sb > 0 and hkb[0] < best
        if not go_f and not go_b:
            break
        if go_f and (not go_b or hkf[0] <= hkb[0]):
            x, d, sf = heap_pop(hnf, hkf, hpf, sf)
            ntf, sf, total = _settle(x, d, up_ptr, up_to, up_w, dn_ptr, dn_from, dn_w, df, db,
                                     pf, ef, tf, ntf, hnf, hkf, hpf, sf)
        else:
            x, d, sb = heap_pop(hnb, hkb, hpb, sb)
            ntb, sb, total = _settle(x, d, dn_ptr, dn_from, dn_w, up_ptr, up_to, up_w, db, df,
                                     pb, eb, tb, ntb, hnb, hkb, hpb, sb)
        if total < best:
            best = total
            meet = x
    n_out = 0
    if meet >= 0:
        # forward half: the nodes entered on the way from a source to the meeting node
        chain = 0
        x = meet
        while pf[x] >= 0:
            chain += 1
            x = pf[x]
        hops = np.empty(chain, np.int64)
        x = meet
        i = chain
        while pf[x] >= 0:
            i -= 1
            hops[i] = x
            x = pf[x]
        for y in hops:
            k = ef[y]
            if n_out < 0:
                break
            n_out = _unpack(pf[y], y, up_mid[k], up_orig[k], up_ptr, up_to, up_mid,
                            up_orig, dn_ptr, dn_from, dn_mid, dn_orig, path, n_out, stack)
        # backward half: from the meeting node down to a target
        x = meet
        while pb[x] >= 0 and n_out >= 0:
            k = eb[x]
            n_out = _unpack(x, pb[x], dn_mid[k], dn_orig[k], up_ptr, up_to, up_mid,
                            up_orig, dn_ptr, dn_from, dn_mid, dn_orig, path, n_out, stack)
            x = pb[x]
    for i in range(ntf):
        df[tf[i]] = np.inf
    for i in range(ntb):
        db[tb[i]] = np.inf
    heap_clear(hnf, hpf, sf)
    heap_clear(hnb, hpb, sb)
    return best, n_out


class _Scratch:
    """Per-caller query state, sized for the graph once."""

    def __init__(self, n: int) -> None:
        self.df = np.full(n, np.inf)
        self.db = np.full(n, np.inf)
        self.pf = np.full(n, -1, dtype=np.int64)
        self.pb = np.full(n, -1, dtype=np.int64)
        self.ef = np.zeros(n, dtype=np.int64)
        self.eb = np.zeros(n, dtype=np.int64)
        self.tf = np.zeros(n, dtype=np.int64)
        self.tb = np.zeros(n, dtype=np.int64)
        self.hf = new_heap(n)
        self.hb = new_heap(n)
        self.path = np.zeros(max(n, 1), dtype=np.int64)
        self.stack = np.zeros((_STACK, 4), dtype=np.int64)


class ContractionHierarchy:
    """A contracted graph answering exact shortest-path queries.

    Build with :meth:`build` (or :meth:`load` a saved one), then :meth:`query`.

    Attributes
    ----------
    n_nodes : int
        Number of nodes.
    build_seconds : float
        Time the contraction took (0 when loaded).
    fingerprint : str
        What the caller says the hierarchy was built from (kept by :meth:`save`).

    Examples
    --------
    >>> import numpy as np
    >>> ch = ContractionHierarchy.build(3, np.array([0, 1]), np.array([1, 2]),
    ...                                 np.array([1.0, 2.0]))
    >>> dist, edges = ch.query(0, 2)
    >>> float(dist), edges.tolist()
    (3.0, [0, 1])
    """

    def __init__(self, arrays: dict[str, np.ndarray], *, build_seconds: float = 0.0,
                 fingerprint: str = "") -> None:
        missing = [k for k in _ARRAYS if k not in arrays]
        if missing:
            raise ValueError(f"contraction hierarchy arrays missing: {', '.join(missing)}")
        for key in _ARRAYS:
            setattr(self, key, arrays[key])
        self.n_nodes = len(self.rank)
        self.build_seconds = build_seconds
        self.fingerprint = fingerprint
        self._pool: list[_Scratch] = []

    @classmethod
    def build(cls, n: int, tail: np.ndarray, head: np.ndarray, weight: np.ndarray, *,
              witness_settled: int = WITNESS_SETTLED,
              priority_settled: int = PRIORITY_SETTLED,
              fingerprint: str = "") -> ContractionHierarchy:
        """Contract a directed graph.

        Parameters
        ----------
        n : int
            Number of nodes (ids ``0 .. n-1``).
        tail, head : numpy.ndarray
            Edge ends.
        weight : numpy.ndarray
            Edge weights; ``inf`` edges are left out, parallel edges keep the cheapest,
            self loops are dropped.
        witness_settled, priority_settled : int
            Bounds of the witness searches (smaller: faster build, more shortcuts).
        fingerprint : str
            Identifies the input graph and weights (see :attr:`fingerprint`).

        Returns
        -------
        ContractionHierarchy
            Paths are reported as indices into ``tail`` / ``head``.

        Raises
        ------
        ValueError
            Arrays of different lengths, node ids out of range or negative weights.
        """
        tail = np.asarray(tail, dtype=np.int64)
        head = np.asarray(head, dtype=np.int64)
        weight = np.asarray(weight, dtype=np.float64)
        if not len(tail) == len(head) == len(weight):
            raise ValueError("tail, head and weight must have the same length")
        if len(tail) and (min(tail.min(), head.min()) < 0 or max(tail.max(), head.max()) >= n):
            raise ValueError(f"edge ends must be node ids in [0, {n})")
        if (weight < 0).any() or np.isnan(weight).any():
            raise ValueError("edge weights must be non-negative")
        started = time.perf_counter()
        keep = np.flatnonzero(np.isfinite(weight) & (tail != head))
        order = np.lexsort((weight[keep], head[keep], tail[keep]))
        keep = keep[order]
        first = np.ones(len(keep), dtype=bool)
        first[1:] = (tail[keep][1:] != tail[keep][:-1]) | (head[keep][1:] != head[keep][:-1])
        keep = keep[first]
        rank, owner, other, mid, orig, w, up = contract(
            n, tail[keep], head[keep], weight[keep], priority_settled, witness_settled)
        orig = np.where(orig >= 0, keep[np.maximum(orig, 0)], -1)
        arrays: dict[str, np.ndarray] = {"rank": rank.astype(np.int32)}
        for side, mask in (("up", up), ("dn", ~up)):
            sel = np.flatnonzero(mask)
            sel = sel[np.argsort(owner[sel], kind="stable")]
            arrays[f"{side}_ptr"] = np.concatenate(
                [[0], np.cumsum(np.bincount(owner[sel], minlength=n))]).astype(np.int64)
            arrays["up_to" if side == "up" else "dn_from"] = other[sel].astype(np.int32)
            arrays[f"{side}_w"] = w[sel]
            arrays[f"{side}_mid"] = mid[sel].astype(np.int32)
            arrays[f"{side}_orig"] = orig[sel].astype(np.int32)
        return cls(arrays, build_seconds=time.perf_counter() - started, fingerprint=fingerprint)

    # -- persistence ---------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the arrays to an uncompressed ``.npz`` file (fast to load)."""
        path = Path(path)
        np.savez(path, fingerprint=np.array(self.fingerprint),
                 **{k: getattr(self, k) for k in _ARRAYS})
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> ContractionHierarchy:
        """Read a hierarchy written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            The file is not a saved hierarchy.
        """
        with np.load(Path(path)) as data:
            fingerprint = str(data["fingerprint"]) if "fingerprint" in data.files else ""
            return cls({k: data[k] for k in data.files if k != "fingerprint"},
                       fingerprint=fingerprint)

    # -- queries -------------------------------------------------------------------
    @property
    def n_shortcuts(self) -> int:
        """Number of shortcut edges added by the contraction."""
        return int((self.up_mid >= 0).sum() + (self.dn_mid >= 0).sum())

    def _take(self) -> _Scratch:
        try:
            return self._pool.pop()  # list.pop and append are atomic: no lock needed
        except IndexError:
            return _Scratch(self.n_nodes)

    def query(self, source: int | np.ndarray, target: int | np.ndarray) -> tuple[float, np.ndarray]:
        """Shortest distance and path between (sets of) nodes.

        Parameters
        ----------
        source, target : int or array of int
            Node ids; with several, the best of all source-target combinations.

        Returns
        -------
        distance : float
            ``inf`` when no target is reachable.
        edges : numpy.ndarray
            Indices of the original edges along the path (empty when unreachable or
            when a source is a target).

        Raises
        ------
        ValueError
            A node id out of range.
        """
        src, dst = self._ids(source), self._ids(target)
        s = self._take()
        try:
            dist, n_out = _query(src, dst, self.up_ptr, self.up_to, self.up_w, self.up_mid,
                                 self.up_orig, self.dn_ptr, self.dn_from, self.dn_w,
                                 self.dn_mid, self.dn_orig, s.df, s.db, s.pf, s.pb, s.ef,
                                 s.eb, s.tf, s.tb, *s.hf, *s.hb, s.path, s.stack)
            if n_out < 0:
                raise RuntimeError("shortcuts nested deeper than the unpacking stack")
            edges = s.path[:n_out].copy()
        finally:
            self._pool.append(s)
        return float(dist), edges

    def _ids(self, nodes: int | np.ndarray) -> np.ndarray:
        """Node ids as an int64 array, checked against the node range."""
        if isinstance(nodes, int | np.integer):
            if not 0 <= nodes < self.n_nodes:
                raise ValueError(f"node ids must be in [0, {self.n_nodes}), not {nodes}")
            return np.array([nodes], dtype=np.int64)
        ids = np.asarray(nodes, dtype=np.int64).ravel()
        if len(ids) == 0 or ids.min() < 0 or ids.max() >= self.n_nodes:
            raise ValueError(f"node ids must be in [0, {self.n_nodes})")
        return ids
