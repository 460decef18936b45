"""How late the event loop runs: a probe that sleeps a fixed tick and measures the overshoot.

CPU work on the event loop (instead of the thread pool) shows as lag here; ``/health``
reports it, and the load benchmark reads it under load.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import numpy as np

__all__ = ["LoopLag", "TICK_S"]

#: The probe's sleep.
TICK_S = 0.02


class LoopLag:
    """The recent lags of the running event loop (the last ``keep`` ticks)."""

    def __init__(self, keep: int = 3000) -> None:
        self.samples: collections.deque[float] = collections.deque(maxlen=keep)
        self._task: asyncio.Task[None] | None = None

    async def _probe(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.samples.append(max(0.0, time.perf_counter() - started - TICK_S))

    def start(self) -> None:
        """Start probing on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._probe())

    def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def summary(self) -> dict[str, Any]:
        """``p50_ms``, ``p99_ms``, ``max_ms`` over the kept ticks, and their number."""
        if not self.samples:
            return {"ticks": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        lag = np.asarray(self.samples) * 1000
        return {"ticks": len(lag), "p50_ms": round(float(np.percentile(lag, 50)), 2),
                "p99_ms": round(float(np.percentile(lag, 99)), 2),
                "max_ms": round(float(lag.max()), 2)}
