"""``/ogc``: OGC API – Features Part 1 and OGC API – Tiles over the same layer service.

Every layer with geometry is a collection. Items run the same
:class:`~layers.queries.Query` through :meth:`LayerService.features` as
``/layers/{name}/features``; tiles are the same :meth:`LayerService.tile` bytes (same
cache, generalization, ETag, 204 for empty) as ``/tiles/{layer}/{z}/{x}/{y}.mvt`` through
:func:`api.mvt.vector_tile_response`. The documents come from :mod:`layers.ogc`.
Parameters are parsed here, not by FastAPI, so a bad value is a 400 with a reason (as the
standards ask), through the error table of :mod:`api.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from api.deps import get_city
from api.mvt import MVT_MEDIA_TYPE, vector_tile_response
from api.ogc.oas30 import ogc_openapi30
from layers import ogc
from layers.errors import InvalidQuery
from layers.queries import MAX_LIMIT
from layers.registry import LayerInfo
from twin.city import City

__all__ = ["router", "GeoJSONResponse"]

router = APIRouter(prefix="/ogc", tags=["ogc"])


class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type."""

    media_type = ogc.GEOJSON


class OpenAPI30Response(JSONResponse):
    """An OpenAPI 3.0 document."""

    media_type = ogc.OPENAPI30


CollectionId = Annotated[str, PathParam(description="a collection (layer) id, e.g. `roads`")]
TmsId = Annotated[str, PathParam(description="tile matrix set id: `WebMercatorQuad`")]
_INT = {"type": "integer", "minimum": 0}
TileMatrix = Annotated[str, PathParam(description="zoom level", json_schema_extra=_INT)]
TileRow = Annotated[str, PathParam(description="row (y)", json_schema_extra=_INT)]
TileCol = Annotated[str, PathParam(description="column (x)", json_schema_extra=_INT)]

# -- documented parameters and responses -------------------------------------------------
_F_JSON = {"name": "f", "in": "query", "required": False, "description": "format: `json`",
           "schema": {"type": "string", "enum": ["json"]}}
_F_MVT = {"name": "f", "in": "query", "required": False, "description": "format: `mvt`",
          "schema": {"type": "string", "enum": ["mvt"]}}
_DATETIME = {"name": "datetime", "in": "query", "required": False,
             "description": "an RFC 3339 instant: the collection as it was then (intervals "
                            "are refused with 400)", "schema": {"type": "string", "maxLength": 64}}
_CRS = {"name": "crs", "in": "query", "required": False,
        "description": f"the response CRS; only `{ogc.CRS84}`",
        "schema": {"type": "string", "enum": [ogc.CRS84]}}
_ITEMS_PARAMETERS = [
    {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
     "description": f"page size (1 to {MAX_LIMIT})",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                "default": ogc.DEFAULT_LIMIT}},
    {"name": "offset", "in": "query", "required": False, "description": "first feature",
     "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
     "description": "minx,miny,maxx,maxy in CRS84 (or 6 numbers with heights)",
     "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
    {"name": "bbox-crs", "in": "query", "required": False,
     "description": f"the bbox CRS; only `{ogc.CRS84}`",
     "schema": {"type": "string", "enum": [ogc.CRS84]}},
    _DATETIME,
    _CRS,
    {"name": "f", "in": "query", "required": False, "description": "format: `json` or `geojson`",
     "schema": {"type": "string", "enum": ["json", "geojson"]}},
]
_LINK = {"type": "object", "required": ["href", "rel"],
         "properties": {"href": {"type": "string"}, "rel": {"type": "string"},
                        "type": {"type": "string"}, "title": {"type": "string"},
                        "templated": {"type": "boolean"}}}
_LINKS = {"type": "array", "items": _LINK}
_OBJECT: dict[str, Any] = {"type": "object"}
_GEOMETRY = {"anyOf": [{"type": "object", "required": ["type"],
                       "properties": {"type": {"type": "string"}}}, {"type": "null"}]}
_FEATURE = {"type": "object", "required": ["type", "geometry", "properties"],
            "properties": {"type": {"type": "string", "enum": ["Feature"]},
                           "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                           "geometry": _GEOMETRY,
                           "properties": {"type": ["object", "null"]},
                           "links": _LINKS}}
_COLLECTION = {"type": "object", "required": ["id", "links"],
               "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                              "extent": _OBJECT, "itemType": {"type": "string"},
                              "crs": {"type": "array", "items": {"type": "string"}},
                              "links": _LINKS}}


def _json(schema: dict[str, Any], description: str, media: str = ogc.JSON) -> dict[int | str, Any]:
    return {200: {"description": description, "content": {media: {"schema": schema}}}}


def _tile_responses() -> dict[int | str, Any]:
    return {200: {"description": "a Mapbox Vector Tile",
                  "content": {MVT_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
            204: {"description": "an empty tile (no features there)"},
            304: {"description": "not modified (If-None-Match matched the ETag)"}}


# -- helpers ----------------------------------------------------------------------------
def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _params(request: Request, allowed: Iterable[str] = ("f",),
            formats: tuple[str, ...] = ("json",)) -> dict[str, str]:
    """The query parameters, checked: an unknown one or another format is a 400."""
    params = dict(request.query_params)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidQuery(f"unknown query parameter(s): {', '.join(unknown)[:120]}; "
                           f"allowed: {', '.join(sorted(allowed))}")
    fmt = params.get("f")
    if fmt is not None and fmt not in formats:
        raise InvalidQuery(f"f must be one of: {', '.join(formats)}; got {fmt[:20]!r}")
    return params


def _info(city: City, collection_id: str) -> LayerInfo:
    """The layer of a collection: 404 unless it exists and has geometry."""
    city.layer_service.require(collection_id)
    return ogc.require_features(city.layer_service.info(collection_id))


def _first_edit(city: City, name: str) -> str | None:
    changes = city.layer_service.changes(name)
    return changes[0].time if changes else None


# -- Common / Features --------------------------------------------------------------------
@router.get("", summary="OGC API landing page", response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["links"],
                             "properties": {"title": {"type": "string"}, "links": _LINKS}},
                            "links to the API definition, conformance and data"),
            openapi_extra={"parameters": [_F_JSON]})
def landing(request: Request) -> JSONResponse:
    """Links to the API definition (OpenAPI 3.0), conformance, collections, tile matrix sets."""
    _params(request)
    root = _root(request)
    return JSONResponse(ogc.landing_page(
        root, title=f"{request.app.title} OGC API",
        description="OGC API – Features and Tiles over the twin's map layers",
        api=f"{root}/api", docs=str(request.base_url).rstrip("/") + "/docs"))


@router.get("/api", summary="OpenAPI 3.0 definition of the OGC API",
            response_class=OpenAPI30Response,
            responses=_json({"type": "object", "required": ["openapi", "paths"]},
                            "OpenAPI 3.0.3", ogc.OPENAPI30),
            openapi_extra={"parameters": [_F_JSON]})
def api_definition(request: Request) -> OpenAPI30Response:
    """The ``/ogc`` operations of the app's OpenAPI document, converted to OpenAPI 3.0."""
    _params(request)
    state = request.app.state
    cached = getattr(state, "ogc_openapi30", None)
    if cached is None:
        cached = state.ogc_openapi30 = ogc_openapi30(
            request.app.openapi(), title=f"{request.app.title} OGC API")
    doc = {**cached, "servers": [{"url": str(request.base_url).rstrip("/")}]}
    return OpenAPI30Response(doc)


@router.get("/conformance", summary="Conformance classes", response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["conformsTo"],
                             "properties": {"conformsTo": {"type": "array",
                                                           "items": {"type": "string"}}}},
                            "the conformance classes the service passes"),
            openapi_extra={"parameters": [_F_JSON]})
def get_conformance(request: Request) -> JSONResponse:
    """OGC API Common, Features Part 1 (core, GeoJSON, OAS 3.0), queryables, Tiles."""
    _params(request)
    return JSONResponse(ogc.conformance())


@router.get("/collections", summary="Feature collections (layers with geometry)",
            response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["links", "collections"],
                             "properties": {"links": _LINKS,
                                            "collections": {"type": "array", "items": _COLLECTION}}},
                            "every collection"),
            openapi_extra={"parameters": [_F_JSON]})
def get_collections(request: Request, city: City = Depends(get_city)) -> JSONResponse:
    """Each layer with geometry, with its CRS84 extent and links to items and tiles."""
    _params(request)
    infos = [city.layer_service.info(i.name) for i in city.layers.infos()]
    edits = {i.name: e for i in infos if i.bounds is not None
             and (e := _first_edit(city, i.name)) is not None}
    return JSONResponse(ogc.collections(infos, _root(request), edits))


@router.get("/collections/{collectionId}", summary="One collection", response_class=JSONResponse,
            responses=_json(_COLLECTION, "the collection"),
            openapi_extra={"parameters": [_F_JSON]})
def get_collection(request: Request, collectionId: CollectionId,
                   city: City = Depends(get_city)) -> JSONResponse:
    """Extent (CRS84 bbox; temporal: the versions ``datetime`` can read), links."""
    _params(request)
    info = _info(city, collectionId)
    return JSONResponse(ogc.collection(info, _root(request),
                                       first_edit=_first_edit(city, collectionId)))


@router.get("/collections/{collectionId}/queryables", summary="Queryable properties",
            response_class=JSONResponse,
            responses={200: {"description": "JSON Schema of the properties that filter items",
                             "content": {"application/schema+json": {"schema": _OBJECT}}}},
            openapi_extra={"parameters": [_F_JSON]})
def get_queryables(request: Request, collectionId: CollectionId,
                   city: City = Depends(get_city)) -> JSONResponse:
    """Each property usable as ``?name=value`` on the items (equality)."""
    _params(request)
    info = _info(city, collectionId)
    url = f"{_root(request)}/collections/{collectionId}/queryables"
    return JSONResponse(ogc.queryables(info, url), media_type="application/schema+json")


@router.get("/collections/{collectionId}/items", summary="Features (GeoJSON, paged)",
            response_class=GeoJSONResponse,
            responses=_json({"type": "object", "required": ["type", "features"],
                             "properties": {
                                 "type": {"type": "string", "enum": ["FeatureCollection"]},
                                 "features": {"type": "array", "items": _FEATURE},
                                 "numberMatched": {"type": "integer", "minimum": 0},
                                 "numberReturned": {"type": "integer", "minimum": 0},
                                 "timeStamp": {"type": "string", "format": "date-time"},
                                 "links": _LINKS}},
                            "a page of features", ogc.GEOJSON),
            openapi_extra={"parameters": _ITEMS_PARAMETERS})
def get_items(request: Request, collectionId: CollectionId,
              city: City = Depends(get_city)) -> GeoJSONResponse:
    """Paged with ``limit``/``offset`` (next/prev links), ``bbox``, ``datetime`` (as of),
    and ``?property=value`` on the queryables."""
    _params(request, allowed=request.query_params.keys(), formats=("json", "geojson"))
    _info(city, collectionId)
    req = ogc.parse_items_params(request.query_params)
    page = city.layer_service.features(collectionId, req.query, as_of=req.as_of)
    url = f"{_root(request)}/collections/{collectionId}/items"
    return GeoJSONResponse(ogc.items(page, url, req))


@router.get("/collections/{collectionId}/items/{featureId}", summary="One feature",
            response_class=GeoJSONResponse,
            responses=_json(_FEATURE, "the feature", ogc.GEOJSON),
            openapi_extra={"parameters": [_DATETIME, _CRS, _F_JSON]})
def get_item(request: Request, collectionId: CollectionId,
             featureId: Annotated[str, PathParam(description="feature id")],
             city: City = Depends(get_city)) -> GeoJSONResponse:
    """A GeoJSON Feature; 404 for an unknown id."""
    params = _params(request, allowed=("f", "datetime", "crs"), formats=("json", "geojson"))
    _info(city, collectionId)
    ogc.check_crs(params.get("crs"))
    doc = city.layer_service.feature(collectionId, featureId,
                                     as_of=ogc.parse_datetime(params.get("datetime")))
    return GeoJSONResponse(ogc.feature(doc, f"{_root(request)}/collections/{collectionId}"))


# -- Tiles ----------------------------------------------------------------------------------
@router.get("/tileMatrixSets", summary="Tile matrix sets", response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["tileMatrixSets"],
                             "properties": {"tileMatrixSets": {"type": "array", "items": _OBJECT}}},
                            "the tile matrix sets"),
            openapi_extra={"parameters": [_F_JSON]})
def get_tile_matrix_sets(request: Request) -> JSONResponse:
    """WebMercatorQuad."""
    _params(request)
    return JSONResponse(ogc.tile_matrix_sets(_root(request)))


@router.get("/tileMatrixSets/{tileMatrixSetId}", summary="A tile matrix set (OGC TMS 2.0)",
            response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["tileMatrices"]},
                            "the tile matrix set definition"),
            openapi_extra={"parameters": [_F_JSON]})
def get_tile_matrix_set(request: Request, tileMatrixSetId: TmsId) -> JSONResponse:
    """morecantile's definition of WebMercatorQuad; 404 for any other."""
    _params(request)
    return JSONResponse(ogc.tile_matrix_set(tileMatrixSetId))


@router.get("/collections/{collectionId}/tiles", summary="Vector tilesets of a collection",
            response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["tilesets"],
                             "properties": {"tilesets": {"type": "array", "items": _OBJECT},
                                            "links": _LINKS}},
                            "the tilesets"),
            openapi_extra={"parameters": [_F_JSON]})
def get_tilesets(request: Request, collectionId: CollectionId,
                 city: City = Depends(get_city)) -> JSONResponse:
    """One tileset, in WebMercatorQuad."""
    _params(request)
    return JSONResponse(ogc.tilesets(_info(city, collectionId), _root(request)))


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}", summary="Tileset metadata",
            response_class=JSONResponse,
            responses=_json({"type": "object", "required": ["dataType", "crs", "links"],
                             "properties": {"links": _LINKS,
                                            "tileMatrixSetLimits": {"type": "array",
                                                                    "items": _OBJECT}}},
                            "the tileset"),
            openapi_extra={"parameters": [_F_JSON]})
def get_tileset(request: Request, collectionId: CollectionId, tileMatrixSetId: TmsId,
                city: City = Depends(get_city)) -> JSONResponse:
    """Limits per tile matrix, the layer and its fields, the tile URL template."""
    _params(request)
    return JSONResponse(ogc.tileset(_info(city, collectionId), _root(request), tileMatrixSetId))


@router.get("/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
            summary="A vector tile (MVT)", response_class=Response,
            responses=_tile_responses(), openapi_extra={"parameters": [_DATETIME, _F_MVT]})
async def get_tile(request: Request, collectionId: CollectionId, tileMatrixSetId: TmsId,
                   tileMatrix: TileMatrix, tileRow: TileRow, tileCol: TileCol,
                   city: City = Depends(get_city)) -> Response:
    """The bytes of ``/tiles/{layer}/{z}/{x}/{y}.mvt``; 204 when empty, 404 outside limits."""
    params = _params(request, allowed=("datetime", "f"), formats=("mvt",))
    # zooms and bounds do not change with edits: the registry's info, no second sync
    info = ogc.require_features(city.layer_service.registry[collectionId].info)
    z, x, y = ogc.parse_tile(tileMatrixSetId, tileMatrix, tileRow, tileCol, info)
    return await vector_tile_response(request, city.layer_service, [collectionId], z, x, y,
                                      as_of=ogc.parse_datetime(params.get("datetime")))
