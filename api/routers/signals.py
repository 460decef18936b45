"""The signal controllers' interface: priority requests, and a server-sent-events stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import get_city
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["signals"])


@router.get("/signals/requests", summary="Priority requests per junction (controller interface)")
def get_requests(city: City = Depends(get_city)) -> dict[str, Any]:
    """What each junction's controller is asked to do for the active emergency runs: the
    phase to serve, the window (ISO 8601), the hold limit, the phases cut, the recovery
    to coordination and the residual wait the limits leave (``docs/controller.md``)."""
    return city.signal_requests.answer()


@router.get("/signals/requests/stream", summary="Server-sent events of request changes",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "snapshot, then added / changed / removed events"}})
async def stream_requests(
    request: Request, city: City = Depends(get_city),
    interval: Annotated[float, Query(ge=0.2, le=10, description="seconds between checks")] = 1.0,
    seconds: Annotated[float, Query(gt=0, le=3600, description=(
        "the stream ends after this long; EventSource clients reconnect by themselves"))] = 600,
) -> StreamingResponse:
    """``text/event-stream``: first one ``snapshot`` event with every request, then an
    ``added``, ``changed`` or ``removed`` event per change (``data``: the request JSON, or
    ``{"id"}`` for a removal); a comment line as heartbeat when nothing changed. The
    stream ends after ``seconds`` (with a ``retry`` hint), so no connection is held for
    ever."""
    source = city.signal_requests
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds

    async def events() -> AsyncIterator[str]:
        seen: dict[str, dict] = {}
        first = True
        yield "retry: 1000\n\n"
        while loop.time() < until and not await request.is_disconnected():
            requests, _ = await asyncio.to_thread(source.current)
            now = {r.key: r.to_json() for r in requests}
            if first:
                yield f"event: snapshot\ndata: {json.dumps(list(now.values()))}\n\n"
                first = False
            else:
                changed = False
                for key in sorted(seen.keys() - now.keys()):
                    yield f"event: removed\ndata: {json.dumps({'id': key})}\n\n"
                    changed = True
                for key, body in sorted(now.items()):
                    if seen.get(key) != body:
                        kind = "added" if key not in seen else "changed"
                        yield f"event: {kind}\ndata: {json.dumps(body)}\n\n"
                        changed = True
                if not changed:
                    yield ": heartbeat\n\n"
            seen = now
            await asyncio.sleep(interval)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
