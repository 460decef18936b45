"""Rate limits: a token bucket per API key (per client address for anonymous requests).

Over the limit a request gets ``429 Too Many Requests`` with ``Retry-After`` (whole
seconds until a token is back), answered before the application sees it. With several
server workers the buckets live in one memory-mapped file they all share
(:class:`SharedRateLimiter`, set up by ``twin serve``), so the limit holds for the service
as a whole, not per worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TokenBucket", "RateLimiter", "SharedRateLimiter", "RateLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` tokens per second.

    Parameters
    ----------
    rate : float
        Tokens added per second (> 0).
    burst : float
        Capacity (>= 1); the bucket starts full.
    now : float
        Start time (monotonic seconds).
    """

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token; 0.0 when granted, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets by client identity, at most ``max_clients`` kept (least recent dropped).

    Parameters
    ----------
    rate : float
        Requests per second per client.
    burst : int
        Requests a client may make at once.
    max_clients : int
        Buckets kept in memory.
    clock : callable
        Monotonic clock (tests pass a fake one).
    """

    def __init__(self, rate: float, burst: int, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def wait_time(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when allowed, else seconds to wait."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(client, None) or TokenBucket(self.rate, self.burst, now)
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return bucket.take(now)


_SLOT = np.dtype([("key", "<u8"), ("tokens", "<f8"), ("stamp", "<f8")])
_PROBES = 8


class SharedRateLimiter:
    """Token buckets in a memory-mapped file shared by the processes of one service.

    The file is a fixed table of ``slots`` buckets (24 bytes each) addressed by a hash of the
    client identity with linear probing; when the probed slots are all taken, the least
    recently used of them is given to the new client. Each take holds an ``flock`` on the
    file (and a thread lock), so concurrent workers never lose an update. The clock must be
    system-wide monotonic (``time.monotonic`` on Linux is).

    Parameters
    ----------
    rate : float
        Requests per second per client.
    burst : int
        Requests a client may make at once.
    path : Path
        The shared file, created (zeroed) when missing or of the wrong size.
    slots : int
        Buckets in the table.
    clock : callable
        Monotonic clock.
    """

    def __init__(self, rate: float, burst: int, path: Path, *, slots: int = 8192,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a rate limit needs rate > 0")
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.path = Path(path)
        self._lock = threading.Lock()
        size = slots * _SLOT.itemsize
        with self.path.open("a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            if self.path.stat().st_size != size:
                fh.truncate(size)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        self._file = self.path.open("r+b")
        self._table = np.memmap(self._file, dtype=_SLOT, mode="r+", shape=(slots,))

    def _slot(self, key: int) -> int:
        table = self._table
        start = key % len(table)
        probe = [(start + i) % len(table) for i in range(_PROBES)]
        for i in probe:
            if table["key"][i] == key:
                return i
        for i in probe:
            if table["key"][i] == 0:
                break
        else:
            i = min(probe, key=lambda j: table["stamp"][j])
        table[i] = (key, self.burst, self.clock())
        return i

    def wait_time(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when allowed, else seconds to wait."""
        key = int.from_bytes(hashlib.blake2b(client.encode(), digest_size=8).digest(), "little")
        key = key or 1  # 0 marks a free slot
        with self._lock:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                now = self.clock()
                i = self._slot(key)
                bucket = TokenBucket(self.rate, self.burst, now)
                bucket.tokens, bucket.stamp = float(self._table["tokens"][i]), float(
                    self._table["stamp"][i])
                wait = bucket.take(now)
                self._table["tokens"][i], self._table["stamp"][i] = bucket.tokens, bucket.stamp
                return wait
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)


def client_identity(scope: Scope, api_keys: Mapping[str, str]) -> str:
    """``key:<hash>`` for a known API key, else ``ip:<address>`` (keys are never kept)."""
    for name, value in scope.get("headers", []):
        if name == b"x-api-key":
            key = value.decode("latin-1")
            if key in api_keys:
                return "key:" + hashlib.sha256(value).hexdigest()[:16]
            break
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


class RateLimit:
    """Pure ASGI middleware answering 429 with ``Retry-After`` over the limit.

    Parameters
    ----------
    app : ASGI app
        The wrapped application.
    limiter : RateLimiter or SharedRateLimiter
        The buckets.
    api_keys : mapping
        Known keys; each has its own bucket, other requests share their address's bucket.
    exempt : tuple of str
        Paths never limited (health checks).
    """

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter | SharedRateLimiter, api_keys: Mapping[str, str],
                 exempt: tuple[str, ...] = ("/health",)) -> None:
        self.app = app
        self.limiter = limiter
        self.api_keys = api_keys
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        wait = self.limiter.wait_time(client_identity(scope, self.api_keys))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        body = json.dumps({"detail": f"rate limit of {self.limiter.rate:g} requests/s "
                                     f"(burst {self.limiter.burst}) exceeded; retry in {retry} s"}
                          ).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"),
                                (b"retry-after", str(retry).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
