"""Customizable contraction hierarchies (CCH): one topology, cheap new metrics.

A CCH splits a contraction hierarchy into a metric-independent part, built once per
graph topology, and a customization per set of weights:

1. :meth:`CCHTopology.build` orders the nodes by nested dissection on their coordinates
   (:mod:`routing._dissection`) and contracts them in that order without witness
   searches, which gives the chordal supergraph (:mod:`routing._chordal`); each arc is
   stored once at its lower end, with the original arcs mapped onto it.
2. :meth:`CCHTopology.customize` fills the arcs' upward and downward weights from the
   original weights and relaxes all lower triangles bottom-up
   (:mod:`routing._customize`): exact shortest-path distances over the hierarchy,
   with ``inf`` for closed roads. It takes milliseconds to a few hundred milliseconds,
   so closures, speed changes and signal plans reach the next route without
   re-contracting. :meth:`CustomizedCCH.updated` re-customizes only the arcs a few
   changed weights can reach (same result, copy-on-write).
3. :meth:`CustomizedCCH.query` walks the elimination tree up from the sources and the
   targets (:mod:`routing._cch_query`) and unpacks the shortcuts into original arcs.

Query scratch arrays are sized for the graph once and pooled per caller (shared by all
metrics of a topology); the compiled kernels release the GIL.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from routing._cch_query import UNSEEN, query
from routing._chordal import eliminate, tree_height
from routing._customize import customize, update
from routing._dissection import BALANCE, nested_dissection
from routing._heap import new_heap

__all__ = ["CCHTopology", "CustomizedCCH", "topology_fingerprint"]

_TOPOLOGY_ARRAYS = ("rank", "up_ptr", "up_to", "arc_lo", "parent", "turn_arc", "turn_up")
_METRIC_ARRAYS = ("up_w", "dn_w", "up_mid", "dn_mid", "up_orig", "dn_orig")


def topology_fingerprint(n: int, tail: np.ndarray, head: np.ndarray) -> str:
    """Hash of a directed graph's node count and arcs (not its weights)."""
    digest = hashlib.sha256(str(int(n)).encode())
    for arr in (tail, head):
        digest.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return digest.hexdigest()[:20]


def _symmetric_csr(n: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected CSR adjacency of the arcs ``a -> b`` (self loops dropped)."""
    keep = a != b
    u = np.concatenate([a[keep], b[keep]])
    v = np.concatenate([b[keep], a[keep]])
    order = np.argsort(u, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=n))]).astype(np.int64)
    return ptr, v[order].astype(np.int64)


class _Scratch:
    """Per-caller query state, sized for the graph once."""

    def __init__(self, n: int, height: int) -> None:
        self.df = np.full(n, np.inf)
        self.db = np.full(n, np.inf)
        self.pf = np.full(n, UNSEEN, dtype=np.int64)
        self.pb = np.full(n, UNSEEN, dtype=np.int64)
        self.ef = np.zeros(n, dtype=np.int64)
        self.eb = np.zeros(n, dtype=np.int64)
        self.cf = np.zeros(n, dtype=np.int64)
        self.cb = np.zeros(n, dtype=np.int64)
        self.path = np.zeros(max(n, 1), dtype=np.int64)
        self.stack = np.zeros((height + 2, 2), dtype=np.int64)


class CCHTopology:
    """The metric-independent part of a CCH: node order and chordal supergraph.

    Build with :meth:`build` (or :meth:`load`), then :meth:`customize` per metric.

    Attributes
    ----------
    n_nodes, n_arcs : int
        Nodes, and arcs of the chordal supergraph (each undirected pair once).
    n_original : int
        Original (directed) arcs the topology was built for.
    height : int
        Nodes on the longest path of the elimination tree.
    build_seconds : float
        Time ordering + contraction took (0 when loaded).
    fingerprint : str
        :func:`topology_fingerprint` of the original graph.

    Examples
    --------
    >>> import numpy as np
    >>> top = CCHTopology.build(3, np.array([0, 1]), np.array([1, 2]),
    ...                         np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    >>> dist, arcs = top.customize(np.array([1.0, 2.0])).query(0, 2)
    >>> float(dist), arcs.tolist()
    (3.0, [0, 1])
    """

    def __init__(self, arrays: dict[str, np.ndarray], *, fingerprint: str,
                 build_seconds: float = 0.0) -> None:
        missing = [k for k in _TOPOLOGY_ARRAYS if k not in arrays]
        if missing:
            raise ValueError(f"CCH topology arrays missing: {', '.join(missing)}")
        self.rank = arrays["rank"]
        self.up_ptr = arrays["up_ptr"]
        self.up_to = arrays["up_to"]
        self.arc_lo = arrays["arc_lo"]
        self.parent = arrays["parent"]
        self.turn_arc = arrays["turn_arc"]
        self.turn_up = arrays["turn_up"]
        self.n_nodes = len(self.rank)
        self.n_arcs = len(self.up_to)
        self.n_original = len(self.turn_arc)
        self.height = int(tree_height(self.parent)) if self.n_nodes else 0
        self.fingerprint = fingerprint
        self.build_seconds = build_seconds
        self._pool: list[_Scratch] = []
        self._partial: tuple[np.ndarray, ...] | None = None
        self.partial_arrays()  # derived now, so that the first update is as fast as any

    @classmethod
    def build(cls, n: int, tail: np.ndarray, head: np.ndarray, xy: np.ndarray, *,
              balance: float = BALANCE) -> CCHTopology:
        """Order and contract a directed graph.

        Parameters
        ----------
        n : int
            Number of nodes (ids ``0 .. n-1``).
        tail, head : numpy.ndarray
            Arc ends (parallel arcs and self loops allowed).
        xy : numpy.ndarray
            ``(n, 2)`` node coordinates in a metric projection (metres).
        balance : float
            Least share of a part on either side of a split (:data:`routing._dissection.BALANCE`).

        Raises
        ------
        ValueError
            Arrays of different lengths or node ids out of range.
        """
        tail = np.asarray(tail, dtype=np.int64)
        head = np.asarray(head, dtype=np.int64)
        xy = np.asarray(xy, dtype=np.float64)
        if len(tail) != len(head) or xy.shape != (n, 2):
            raise ValueError("tail and head must have the same length and xy shape (n, 2)")
        if len(tail) and (min(tail.min(), head.min()) < 0 or max(tail.max(), head.max()) >= n):
            raise ValueError(f"arc ends must be node ids in [0, {n})")
        started = time.perf_counter()
        ptr, adj = _symmetric_csr(n, tail, head)
        rank = nested_dissection(n, ptr, adj, np.ascontiguousarray(xy[:, 0]),
                                 np.ascontiguousarray(xy[:, 1]), balance)
        rt, rh = rank[tail], rank[head]
        ptr, adj = _symmetric_csr(n, rt, rh)
        up_ptr, up_to, parent = eliminate(n, ptr, adj)
        arc_lo = np.repeat(np.arange(n, dtype=np.int32), np.diff(up_ptr))
        lo, hi = np.minimum(rt, rh), np.maximum(rt, rh)
        turn_arc = np.full(len(tail), -1, dtype=np.int64)
        ok = lo != hi
        # arcs are sorted by (lo, hi): a global search on lo * n + hi finds them
        keys = arc_lo.astype(np.int64) * n + up_to
        turn_arc[ok] = np.searchsorted(keys, lo[ok] * n + hi[ok])
        arrays = {"rank": rank, "up_ptr": up_ptr, "up_to": up_to, "arc_lo": arc_lo,
                  "parent": parent, "turn_arc": turn_arc, "turn_up": rt < rh}
        return cls(arrays, fingerprint=topology_fingerprint(n, tail, head),
                   build_seconds=time.perf_counter() - started)

    @property
    def n_shortcuts(self) -> int:
        """Arcs of the supergraph that join no original arc (fill-in)."""
        used = np.zeros(self.n_arcs, dtype=bool)
        used[self.turn_arc[self.turn_arc >= 0]] = True
        return int((~used).sum())

    def customize(self, weight: np.ndarray, *, fingerprint: str = "") -> CustomizedCCH:
        """The CCH with ``weight`` on the original arcs.

        Parameters
        ----------
        weight : numpy.ndarray
            Non-negative weight per original arc (``inf`` = closed).
        fingerprint : str
            Identifies the weights (kept by :meth:`CustomizedCCH.save`).

        Raises
        ------
        ValueError
            Wrong length, negative or NaN weights.
        """
        weight = np.ascontiguousarray(weight, dtype=np.float64)
        if weight.shape != (self.n_original,):
            raise ValueError(f"expected {self.n_original} arc weights, got {weight.shape}")
        if np.isnan(weight).any() or (weight < 0).any():
            raise ValueError("arc weights must be non-negative")
        started = time.perf_counter()
        m = self.n_arcs
        arrays = {"up_w": np.empty(m), "dn_w": np.empty(m),
                  "up_mid": np.empty(m, np.int32), "dn_mid": np.empty(m, np.int32),
                  "up_orig": np.empty(m, np.int32), "dn_orig": np.empty(m, np.int32)}
        customize(self.up_ptr, self.up_to, self.turn_arc, self.turn_up, weight,
                  *(arrays[k] for k in _METRIC_ARRAYS))
        return CustomizedCCH(self, arrays, fingerprint=fingerprint,
                             customize_seconds=time.perf_counter() - started)

    def partial_arrays(self) -> tuple[np.ndarray, ...]:
        """Downward lists and original arcs per arc, for :func:`routing._customize.update`.

        Returns ``(dn_ptr, dn_from, dn_arc, orig_ptr, orig_ids)``, derived once.
        """
        if self._partial is None:
            n = self.n_nodes
            by_hi = np.argsort(self.up_to, kind="stable")  # within a node: lower ends ascending
            dn_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.up_to, minlength=n))])
            mapped = np.flatnonzero(self.turn_arc >= 0)
            mapped = mapped[np.argsort(self.turn_arc[mapped], kind="stable")]
            orig_ptr = np.concatenate(
                [[0], np.cumsum(np.bincount(self.turn_arc[mapped], minlength=self.n_arcs))])
            self._partial = (dn_ptr.astype(np.int64), self.arc_lo[by_hi].astype(np.int64),
                             by_hi.astype(np.int64), orig_ptr.astype(np.int64),
                             mapped.astype(np.int64))
        return self._partial

    def take_scratch(self) -> _Scratch:
        """Query scratch for one caller (give it back with :meth:`give_scratch`)."""
        try:
            return self._pool.pop()  # list.pop and append are atomic: no lock needed
        except IndexError:
            return _Scratch(self.n_nodes, self.height)

    def give_scratch(self, scratch: _Scratch) -> None:
        """Return query scratch (reset by the query) to the pool."""
        self._pool.append(scratch)

    def save(self, path: str | Path) -> Path:
        """Write the topology to an uncompressed ``.npz`` file (fast to load)."""
        path = Path(path)
        np.savez(path, fingerprint=np.array(self.fingerprint),
                 **{k: getattr(self, k) for k in _TOPOLOGY_ARRAYS})
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path) -> CCHTopology:
        """Read a topology written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            The file is not a saved CCH topology.
        """
        with np.load(Path(path)) as data:
            if "fingerprint" not in data.files:
                raise ValueError(f"{path} is not a saved CCH topology")
            return cls({k: data[k] for k in data.files if k != "fingerprint"},
                       fingerprint=str(data["fingerprint"]))


class CustomizedCCH:
    """A :class:`CCHTopology` with one metric: exact shortest-path queries.

    Attributes
    ----------
    topology : CCHTopology
        Shared, never modified.
    customize_seconds : float
        Time the customization took (0 when loaded).
    fingerprint : str
        What the caller says the weights were (kept by :meth:`save`).
    """

    def __init__(self, topology: CCHTopology, arrays: dict[str, np.ndarray], *,
                 fingerprint: str = "", customize_seconds: float = 0.0) -> None:
        missing = [k for k in _METRIC_ARRAYS if k not in arrays]
        if missing:
            raise ValueError(f"CCH metric arrays missing: {', '.join(missing)}")
        if any(len(arrays[k]) != topology.n_arcs for k in _METRIC_ARRAYS):
            raise ValueError("the CCH metric does not fit the topology")
        self.topology = topology
        self.up_w = arrays["up_w"]
        self.dn_w = arrays["dn_w"]
        self.up_mid = arrays["up_mid"]
        self.dn_mid = arrays["dn_mid"]
        self.up_orig = arrays["up_orig"]
        self.dn_orig = arrays["dn_orig"]
        self.fingerprint = fingerprint
        self.customize_seconds = customize_seconds
        self.n_nodes = topology.n_nodes

    @property
    def n_shortcuts(self) -> int:
        """Fill-in arcs of the topology."""
        return self.topology.n_shortcuts

    def save(self, path: str | Path) -> Path:
        """Write the metric (not the topology) to an uncompressed ``.npz`` file."""
        path = Path(path)
        np.savez(path, fingerprint=np.array(self.fingerprint),
                 topology=np.array(self.topology.fingerprint),
                 **{k: getattr(self, k) for k in _METRIC_ARRAYS})
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | Path, topology: CCHTopology) -> CustomizedCCH:
        """Read a metric written by :meth:`save` for ``topology``.

        Raises
        ------
        FileNotFoundError
            No such file.
        ValueError
            Not a saved metric, or one of another topology.
        """
        with np.load(Path(path)) as data:
            if "topology" not in data.files:
                raise ValueError(f"{path} is not a saved CCH metric")
            if str(data["topology"]) != topology.fingerprint:
                raise ValueError(f"{path} was customized for another topology")
            return cls(topology, {k: data[k] for k in _METRIC_ARRAYS if k in data.files},
                       fingerprint=str(data["fingerprint"]))

    def updated(self, weight: np.ndarray, changed: np.ndarray, *,
                fingerprint: str = "") -> CustomizedCCH:
        """A new metric: this one with the original arcs ``changed`` now at ``weight``.

        Copies the arrays (this metric keeps answering with its own weights) and
        re-customizes only the arcs the changes can reach; equal to
        ``topology.customize(weight)``.

        Parameters
        ----------
        weight : numpy.ndarray
            All original arc weights after the change.
        changed : numpy.ndarray
            Indices of the original arcs whose weight differs from this metric's.

        Raises
        ------
        ValueError
            Wrong length, negative or NaN weights, or arc indices out of range.
        """
        top = self.topology
        weight = np.ascontiguousarray(weight, dtype=np.float64)
        changed = np.asarray(changed, dtype=np.int64)
        if weight.shape != (top.n_original,):
            raise ValueError(f"expected {top.n_original} arc weights, got {weight.shape}")
        if np.isnan(weight).any() or (weight < 0).any():
            raise ValueError("arc weights must be non-negative")
        if len(changed) and (changed.min() < 0 or changed.max() >= top.n_original):
            raise ValueError(f"changed arcs must be in [0, {top.n_original})")
        started = time.perf_counter()
        arrays = {k: getattr(self, k).copy() for k in _METRIC_ARRAYS}
        update(changed, top.up_ptr, top.up_to, top.arc_lo, *top.partial_arrays(),
               top.turn_arc, top.turn_up, weight, *(arrays[k] for k in _METRIC_ARRAYS),
               *new_heap(top.n_arcs))
        return CustomizedCCH(top, arrays, fingerprint=fingerprint,
                             customize_seconds=time.perf_counter() - started)

    def query(self, source: int | np.ndarray,
              target: int | np.ndarray) -> tuple[float, np.ndarray]:
        """Shortest distance and path between (sets of) nodes.

        Parameters
        ----------
        source, target : int or array of int
            Node ids; with several, the best of all source-target combinations.

        Returns
        -------
        distance : float
            ``inf`` when no target is reachable.
        arcs : numpy.ndarray
            Indices of the original arcs along the path (empty when unreachable or when
            a source is a target).

        Raises
        ------
        ValueError
            A node id out of range.
        """
        top = self.topology
        src, dst = top.rank[self._ids(source)], top.rank[self._ids(target)]
        s = top.take_scratch()
        try:
            dist, n_out = query(src, dst, top.parent, top.arc_lo, top.up_ptr, top.up_to,
                                self.up_w, self.dn_w, self.up_mid, self.dn_mid,
                                self.up_orig, self.dn_orig, s.df, s.db, s.pf, s.pb, s.ef,
                                s.eb, s.cf, s.cb, s.path, s.stack)
            if n_out < 0:
                raise RuntimeError("a CCH path could not be unpacked")
            arcs = s.path[:n_out].copy()
        finally:
            top.give_scratch(s)
        return float(dist), arcs

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
