"""Time budget per request: past ``settings.request_timeout`` the client gets 503.

A request whose handler has not started its response within the budget is answered
``503 Service Unavailable`` with ``Retry-After`` and a reason; the handler's late response
is dropped. The event loop is never blocked, so the worker keeps serving other requests.
A handler already running in a thread cannot be killed: it finishes in the background.
Authorised writes (marked by :data:`api.auth.WRITE_FLAG`) are never abandoned: the client
waits for the true outcome instead of a 503 for an edit that may have been stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.auth import WRITE_FLAG

__all__ = ["RequestTimeout"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a request that timed out failed later: %s", task.exception())


class RequestTimeout:
    """Pure ASGI middleware enforcing a per-request time budget.

    Parameters
    ----------
    app : ASGI app
        The wrapped application.
    seconds : float
        Budget until the response starts.
    """

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "timed_out": False}

        async def guarded_send(message: Message) -> None:
            if state["timed_out"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if task in done:
            task.result()
            return
        if state["started"] or scope.setdefault(WRITE_FLAG, "abandoned") is True:
            # streaming already, or a write that started: let it finish
            await task
            return
        state["timed_out"] = True
        task.add_done_callback(_consume)
        logger.warning("%s %s exceeded the %.1f s budget", scope.get("method"),
                       scope.get("path"), self.seconds)
        body = json.dumps({"detail": f"the request took longer than {self.seconds:g} s and was "
                                     "abandoned; narrow it (smaller area, fewer minutes, smaller "
                                     "batch) or retry later"}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"retry-after", b"5"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
