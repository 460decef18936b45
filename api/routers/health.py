"""``/health``: liveness and what is loaded."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.deps import get_city
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and the loaded city")
def health(city: City = Depends(get_city)) -> dict[str, Any]:
    """Return ``{"status": "ok", "city": ..., "layers": n}``."""
    return {"status": "ok", "city": city.name, "layers": len(city.layers),
            "store": "postgis" if city.database_url else "embedded"}
