"""``/layers``: the registry, feature queries (paged GeoJSON), versioned edits, changes."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as PathParam

from api.auth import require_editor
from api.deps import get_city
from layers.errors import InvalidQuery
from layers.queries import MAX_LIMIT, parse_bbox, parse_geometry
from layers.queries import Query as LayerQuery
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["layers"])

LayerName = Annotated[str, PathParam(pattern=r"^[a-z0-9_]{1,64}$", description="layer name")]
RESERVED = {"bbox", "limit", "offset", "as_of", "lon", "lat", "radius"}


@router.get("/layers", summary="Every layer with its metadata")
def list_layers(city: City = Depends(get_city)) -> dict[str, Any]:
    """Name, title, geometry type, fields, bounds, zooms, version and attribution."""
    return {"layers": [
        {**info.to_dict(), "features": len(city.layers[info.name].data),
         "tilejson": f"/tiles/{info.name}/tilejson.json" if info.bounds else None}
        for info in city.layers.infos()
    ]}


@router.get("/layers/{name}", summary="One layer's metadata")
def get_layer(name: LayerName, city: City = Depends(get_city)) -> dict[str, Any]:
    """Metadata and feature count."""
    info = city.layer_service.info(name)
    return {**info.to_dict(), "features": len(city.layers[name].data)}


def _query(request: Request, bbox: str | None, limit: int, offset: int, lon: float | None,
           lat: float | None, radius: float | None, polygon: Any = None) -> LayerQuery:
    filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    if (lon is None) != (lat is None):
        raise InvalidQuery("give both lon and lat for a point query")
    if lon is not None and radius is None:
        raise InvalidQuery("a point query needs radius (metres)")
    return LayerQuery(bbox=parse_bbox(bbox) if bbox else None,
                      point=(lon, lat) if lon is not None else None, radius_m=radius,
                      polygon=polygon, filters=filters, limit=limit, offset=offset)


@router.get("/layers/{name}/features", summary="Paged GeoJSON features (bbox, point, properties)")
def get_features(
    request: Request, name: LayerName,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (WGS84)", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    as_of: Annotated[str | None, Query(description="ISO 8601 time", max_length=64)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    radius: Annotated[float | None, Query(gt=0, le=50_000, description="metres")] = None,
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Any other query parameter filters on a property (``?highway=primary``)."""
    service = city.layer_service
    service.require(name)
    return service.features(name, _query(request, bbox, limit, offset, lon, lat, radius),
                            as_of=as_of)


@router.post("/layers/{name}/features/intersects", summary="Features intersecting a polygon")
def post_intersects(
    request: Request, name: LayerName,
    geometry: Annotated[dict[str, Any], Body(description="GeoJSON geometry (WGS84)")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    as_of: Annotated[str | None, Query(max_length=64)] = None,
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Paged GeoJSON of the features intersecting the posted geometry."""
    city.layer_service.require(name)
    shape = parse_geometry(geometry)
    query = _query(request, None, limit, offset, None, None, None, polygon=shape)
    return city.layer_service.features(name, query, as_of=as_of)


@router.get("/layers/{name}/features/{fid}", summary="One feature")
def get_feature(name: LayerName, fid: Annotated[str, PathParam(max_length=64)],
                as_of: Annotated[str | None, Query(max_length=64)] = None,
                city: City = Depends(get_city)) -> dict[str, Any]:
    """GeoJSON Feature with ``properties._version`` for edits."""
    return city.layer_service.feature(name, fid, as_of=as_of)


def _change(change: Any) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(change), default=str))


def _applied(city: City, change: Any) -> dict[str, Any]:
    """The stored change, once the models that read its layer are derived again here
    (the writer's next request sees its edit; other workers within a poll)."""
    city.live.refresh()
    return _change(change)


@router.post("/layers/{name}/features", status_code=201, summary="Add a feature (editor key)")
def post_feature(name: LayerName, feature: Annotated[dict[str, Any], Body()],
                 city: City = Depends(get_city),
                 role: str = Depends(require_editor)) -> dict[str, Any]:
    """Body: a GeoJSON Feature. Returns the change with the new id."""
    return _applied(city, city.layer_service.create(name, feature))


@router.patch("/layers/{name}/features/{fid}", summary="Edit a feature (editor key)")
def patch_feature(name: LayerName, fid: Annotated[str, PathParam(max_length=64)],
                  feature: Annotated[dict[str, Any], Body()],
                  version: Annotated[int, Query(ge=1, description="the version you edited")],
                  city: City = Depends(get_city),
                  role: str = Depends(require_editor)) -> dict[str, Any]:
    """409 with the current version when ``version`` is stale."""
    return _applied(city, city.layer_service.update(name, fid, feature, version=version))


@router.delete("/layers/{name}/features/{fid}", summary="Delete a feature (editor key)")
def delete_feature(name: LayerName, fid: Annotated[str, PathParam(max_length=64)],
                   version: Annotated[int, Query(ge=1)],
                   city: City = Depends(get_city),
                   role: str = Depends(require_editor)) -> dict[str, Any]:
    """409 with the current version when ``version`` is stale."""
    return _applied(city, city.layer_service.delete(name, fid, version=version))


@router.get("/layers/{name}/changes", summary="What changed since a time")
def get_changes(name: LayerName, since: Annotated[str | None, Query(max_length=64)] = None,
                city: City = Depends(get_city)) -> dict[str, Any]:
    """Accepted edits after ``since`` (ISO 8601), oldest first."""
    changes = city.layer_service.changes(name, since)
    return {"layer": name, "version": city.layer_service.info(name).version,
            "changes": [_change(c) for c in changes]}
