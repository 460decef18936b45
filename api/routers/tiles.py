"""XYZ tiles: vector (MVT), raster (PNG), TileJSON 3.0.0, raster point values."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam

from api.deps import get_city
from api.mvt import CACHE_CONTROL, MVT_MEDIA_TYPE, vector_tile_response
from layers.tilejson import raster_tilejson, vector_tilejson
from twin.city import City

__all__ = ["router", "MVT_MEDIA_TYPE"]

router = APIRouter(tags=["tiles"])

LayerList = Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,64}(,[a-z0-9_]{1,64}){0,7}$",
                                     description="layer, or comma-separated layers")]
Z = Annotated[int, PathParam(ge=0, le=22)]
XY = Annotated[int, PathParam(ge=0)]


def _names(layers: str) -> list[str]:
    return list(dict.fromkeys(layers.split(",")))


@router.get("/tiles/{layers}/{z}/{x}/{y}.mvt", summary="Vector tile (Mapbox Vector Tile 2.1)",
            responses={200: {"content": {MVT_MEDIA_TYPE: {}}}, 204: {"description": "empty"},
                       304: {"description": "not modified"}})
async def vector_tile(
    request: Request, layers: LayerList, z: Z, x: XY, y: XY,
    as_of: Annotated[str | None, Query(max_length=64)] = None,
    city: City = Depends(get_city),
) -> Response:
    """A tile of one layer or several (``roads,pois``); 204 when empty, 404 outside bounds."""
    return await vector_tile_response(request, city.layer_service, _names(layers), z, x, y,
                                      as_of=as_of, label=layers)


@router.get("/tiles/{layers}/tilejson.json", summary="TileJSON 3.0.0")
def tilejson(request: Request, layers: LayerList, city: City = Depends(get_city)) -> dict[str, Any]:
    """TileJSON with ``vector_layers`` and their fields (or a raster's PNG tiles)."""
    base = str(request.base_url).rstrip("/")
    rasters = city.rasters
    if layers in rasters.names():
        meta = rasters.meta(layers)
        return raster_tilejson(layers, tiles_url=f"{base}/tiles/{layers}/{{z}}/{{x}}/{{y}}.png",
                               bounds=meta["bounds"], attribution=meta["attribution"],
                               description=meta["description"])
    infos = [city.layer_service.info(n) for n in _names(layers)]
    return vector_tilejson(infos, f"{base}/tiles/{layers}/{{z}}/{{x}}/{{y}}.mvt")


@router.get("/tiles/{layer}/{z}/{x}/{y}.png", summary="Raster tile (PNG, colour-mapped)",
            responses={200: {"content": {"image/png": {}}}})
def raster_tile(request: Request, layer: Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,64}$")],
                z: Z, x: XY, y: XY, city: City = Depends(get_city)) -> Response:
    """A 256 × 256 PNG of a raster layer; 404 outside its bounds."""
    png = city.rasters.tile(layer, z, x, y)
    etag = city.rasters.etag(layer, z, x, y)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(png, media_type="image/png", headers=headers)


@router.get("/rasters", summary="Raster layers")
def list_rasters(city: City = Depends(get_city)) -> dict[str, Any]:
    """Every raster layer with its metadata."""
    return {"rasters": [city.rasters.meta(n) for n in city.rasters.names()]}


@router.get("/rasters/{name}/point", summary="Raster value at a point")
def raster_point(name: Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,64}$")],
                 lon: Annotated[float, Query(ge=-180, le=180)],
                 lat: Annotated[float, Query(ge=-90, le=90)],
                 city: City = Depends(get_city)) -> dict[str, Any]:
    """``{"value": ..., "unit": ...}``; null where the raster has no data."""
    return city.rasters.point(name, lon, lat)
