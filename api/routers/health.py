"""``/health``: liveness and what is loaded."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends, Request

from api.deps import get_city
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness, the loaded city and this worker's model versions")
async def health(request: Request, city: City = Depends(get_city)) -> dict[str, Any]:
    """``status``, ``city``, ``layers``, ``store``; ``worker`` (process id); ``live``: per
    model the layer versions this worker applied, its lag (``behind``, ``poll_age_s``)
    and derivation errors; ``event_loop``: the loop's lag (p50/p99/max ms)."""
    return {"status": "ok", "city": city.name, "layers": len(city.layers),
            "store": "postgis" if city.database_url else "embedded", "worker": os.getpid(),
            "live": city.live.status(), "event_loop": request.app.state.loop_lag.summary()}
