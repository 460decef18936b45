"""``/layers``: the layer registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.deps import get_city
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["layers"])


@router.get("/layers", summary="Every layer with its metadata")
def list_layers(city: City = Depends(get_city)) -> dict[str, Any]:
    """Name, title, geometry type, fields, bounds, zooms, version and attribution."""
    return {"layers": [
        {**info.to_dict(), "features": len(city.layers[info.name].data)}
        for info in city.layers.infos()
    ]}
