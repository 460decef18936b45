"""An indexed binary min-heap on flat arrays, for the compiled searches.

The heap holds node ids (``node``) with float keys (``key``); ``pos[v]`` is the slot of
``v`` or ``-1`` when it is not in the heap. Arrays are sized for every node once and
reused between searches (:func:`heap_clear` resets only the slots in use).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["heap_update", "heap_pop", "heap_clear", "new_heap"]


def new_heap(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empty heap arrays ``(node, key, pos)`` for node ids in ``[0, n)``."""
    return (np.zeros(max(n, 1), dtype=np.int32), np.zeros(max(n, 1)),
            np.full(max(n, 1), -1, dtype=np.int32))


@njit(cache=True, nogil=True, inline="always")
def _sift_up(node, key, pos, i, v, k):  # noqa: ANN001, ANN202
    while i > 0:
        p = (i - 1) >> 1
        if key[p] <= k:
            break
        node[i] = node[p]
        key[i] = key[p]
        pos[node[i]] = i
        i = p
    node[i] = v
    key[i] = k
    pos[v] = i


@njit(cache=True, nogil=True, inline="always")
def _sift_down(node, key, pos, size, i, v, k):  # noqa: ANN001, ANN202
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and key[c + 1] < key[c]:
            c += 1
        if key[c] >= k:
            break
        node[i] = node[c]
        key[i] = key[c]
        pos[node[i]] = i
        i = c
    node[i] = v
    key[i] = k
    pos[v] = i


@njit(cache=True, nogil=True)
def heap_update(node, key, pos, size, v, k):  # noqa: ANN001, ANN201
    """Insert ``v`` with key ``k`` or change its key; returns the new size."""
    i = pos[v]
    if i < 0:
        _sift_up(node, key, pos, size, v, k)
        return size + 1
    if k < key[i]:
        _sift_up(node, key, pos, i, v, k)
    elif k > key[i]:
        _sift_down(node, key, pos, size, i, v, k)
    return size


@njit(cache=True, nogil=True)
def heap_pop(node, key, pos, size):  # noqa: ANN001, ANN201
    """Remove the minimum; returns ``(v, key, new size)``."""
    v = node[0]
    k = key[0]
    pos[v] = -1
    size -= 1
    if size > 0:
        _sift_down(node, key, pos, size, 0, node[size], key[size])
    return v, k, size


@njit(cache=True, nogil=True)
def heap_clear(node, pos, size):  # noqa: ANN001, ANN201
    """Forget the ``size`` entries still in the heap."""
    for i in range(size):
        pos[node[i]] = -1
    return 0
