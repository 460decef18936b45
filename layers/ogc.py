"""OGC API – Features Part 1 and OGC API – Tiles documents over the layer service.

Pure functions (no HTTP, no FastAPI): they parse the OGC query parameters into the same
:class:`~layers.queries.Query` the native API runs, and build the landing page,
conformance, collection, items, queryables, tile matrix set and tileset documents from
:class:`~layers.registry.LayerInfo` and the answers of :class:`~layers.service.LayerService`.
The API wires them to ``/ogc`` (:mod:`api.routers.ogc`).

Examples
--------
>>> from layers.ogc import parse_items_params
>>> req = parse_items_params({"limit": "5", "bbox": "121.47,31.22,121.48,31.23", "name": "x"})
>>> req.query.limit, req.query.bbox, dict(req.query.filters)
(5, (121.47, 31.22, 121.48, 31.23), {'name': 'x'})
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from layers.errors import InvalidQuery, LayerNotFound, TileOutOfRange
from layers.queries import MAX_LIMIT, Query, parse_bbox
from layers.registry import LayerInfo
from layers.tiles import TMS
from layers.versions import parse_time

__all__ = [
    "CRS84",
    "TRS",
    "TMS_ID",
    "JSON",
    "GEOJSON",
    "MVT",
    "OPENAPI30",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "RESERVED",
    "CONFORMANCE",
    "ItemsRequest",
    "parse_items_params",
    "parse_limit",
    "parse_offset",
    "parse_ogc_bbox",
    "parse_datetime",
    "check_crs",
    "parse_tile",
    "require_features",
    "landing_page",
    "conformance",
    "collections",
    "collection",
    "items",
    "feature",
    "queryables",
    "tile_matrix_sets",
    "tile_matrix_set",
    "tile_matrix_set_limits",
    "tilesets",
    "tileset",
]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
TMS_ID = "WebMercatorQuad"
JSON = "application/json"
GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
OPENAPI30 = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
DEFAULT_LIMIT = 10
#: Items parameters that are not property filters.
RESERVED = frozenset({"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f"})

_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
_FEATURES = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_QUERYABLES = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"

#: The conformance classes the service passes (tested in tests/api/test_ogc.py).
CONFORMANCE: tuple[str, ...] = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    _FEATURES + "core",
    _FEATURES + "oas30",
    _FEATURES + "geojson",
    _QUERYABLES + "queryables",
    _QUERYABLES + "queryables-query-parameters",
    _TILES + "core",
    _TILES + "tileset",
    _TILES + "tilesets-list",
    _TILES + "geodata-tilesets",
    _TILES + "mvt",
    _TILES + "oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
)

_JSON_TYPES = {"Number": "number", "Boolean": "boolean", "String": "string"}
_DIMENSION = {"Point": 0, "LineString": 1, "Polygon": 2}


# -- parameters ---------------------------------------------------------------------------
@dataclass
class ItemsRequest:
    """An items request: the layer query, the as-of time and the parameters for links."""

    query: Query
    as_of: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidQuery(f"{name} must be an integer; got {text[:40]!r}") from None


def parse_limit(text: str | None) -> int:
    """``limit``: 1 to :data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`.

    Raises
    ------
    InvalidQuery
        Not an integer, or out of range.
    """
    if text is None:
        return DEFAULT_LIMIT
    value = _int("limit", text)
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be in [1, {MAX_LIMIT}]; got {value}")
    return value


def parse_offset(text: str | None) -> int:
    """``offset``: the index of the first feature of the page (>= 0)."""
    if text is None:
        return 0
    value = _int("offset", text)
    if value < 0:
        raise InvalidQuery(f"offset must be >= 0; got {value}")
    return value


def parse_ogc_bbox(text: str, crs: str | None = None) -> tuple[float, float, float, float]:
    """``bbox``: four (or six, with heights) numbers in CRS84.

    Raises
    ------
    InvalidQuery
        Not 4 or 6 numbers, out of range, min > max, or a ``bbox-crs`` other than CRS84.
    """
    check_crs(crs, "bbox-crs")
    parts = text.split(",")
    if len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]
    elif len(parts) != 4:
        raise InvalidQuery(f"bbox must be 4 or 6 comma-separated numbers; got {text[:60]!r}")
    return parse_bbox(",".join(parts))


def check_crs(crs: str | None, name: str = "crs") -> None:
    """Accept only CRS84 (the one CRS served) for ``crs`` / ``bbox-crs``.

    Raises
    ------
    InvalidQuery
        Another CRS.
    """
    if crs is not None and crs not in (CRS84, "CRS84", "OGC:CRS84"):
        raise InvalidQuery(f"{name} must be {CRS84} (the only CRS served); got {crs[:80]!r}")


def parse_datetime(text: str | None) -> str | None:
    """``datetime``: one ISO 8601 / RFC 3339 instant, the as-of time of the layer.

    Raises
    ------
    InvalidQuery
        Not a time, or an interval (the layer's versions answer one instant).
    """
    if text is None:
        return None
    if "/" in text:
        raise InvalidQuery("datetime intervals are not supported: give one instant; the "
                           "collection is answered as it was at that time")
    return parse_time(text).isoformat()


def parse_items_params(params: Mapping[str, str]) -> ItemsRequest:
    """The :class:`ItemsRequest` of ``/collections/{id}/items`` query parameters.

    Every parameter outside :data:`RESERVED` filters on a property of that name (an
    unknown property is refused when the query runs).

    Raises
    ------
    InvalidQuery
        A bad ``limit``, ``offset``, ``bbox``, ``bbox-crs`` or ``datetime``.
    """
    params = dict(params)
    bbox = params.get("bbox")
    query = Query(
        bbox=parse_ogc_bbox(bbox, params.get("bbox-crs")) if bbox is not None else None,
        filters={k: v for k, v in params.items() if k not in RESERVED},
        limit=parse_limit(params.get("limit")),
        offset=parse_offset(params.get("offset")),
    )
    check_crs(params.get("bbox-crs"), "bbox-crs")
    check_crs(params.get("crs"))
    return ItemsRequest(query=query, as_of=parse_datetime(params.get("datetime")),
                        params={k: v for k, v in params.items() if k not in ("offset", "f")})


def parse_tile(tile_matrix_set: str, tile_matrix: str, row: str, col: str,
               info: LayerInfo) -> tuple[int, int, int]:
    """``z, x, y`` of a WebMercatorQuad tile inside the layer's tile matrix set limits.

    Raises
    ------
    LayerNotFound
        Another tile matrix set.
    InvalidQuery
        Not integers.
    TileOutOfRange
        Outside the zooms or the tile ranges of :func:`tile_matrix_set_limits`.
    """
    if tile_matrix_set != TMS_ID:
        raise LayerNotFound(f"unknown tile matrix set {tile_matrix_set[:40]!r}; known: {TMS_ID}")
    z, y, x = _int("tileMatrix", tile_matrix), _int("tileRow", row), _int("tileCol", col)
    if info.bounds is None or not info.minzoom <= z <= info.maxzoom:
        raise TileOutOfRange(f"tileMatrix {z} is outside {info.name!r}'s tile matrices "
                             f"{info.minzoom}..{info.maxzoom}")
    lim = _limits(info.bounds, z)
    if not (lim["minTileRow"] <= y <= lim["maxTileRow"] and lim["minTileCol"] <= x <= lim["maxTileCol"]):
        raise TileOutOfRange(f"tile {z}/{y}/{x} (tileMatrix/tileRow/tileCol) is outside the "
                             f"limits of {info.name!r} at that tileMatrix")
    return z, x, y


def require_features(info: LayerInfo) -> LayerInfo:
    """The info of a layer that is a feature collection (has geometry).

    Raises
    ------
    LayerNotFound
        A plain table (no geometry) is not a collection.
    """
    if info.bounds is None:
        raise LayerNotFound(f"layer {info.name!r} has no geometry, so it is not an OGC collection")
    return info


# -- documents -----------------------------------------------------------------------------
def _link(href: str, rel: str, type_: str | None = JSON, title: str | None = None,
          **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"href": href, "rel": rel}
    if type_:
        out["type"] = type_
    if title:
        out["title"] = title
    out.update(extra)
    return out


def landing_page(root: str, *, title: str, description: str, api: str, docs: str) -> dict[str, Any]:
    """The landing page at ``root`` (``.../ogc``) with the links clients start from."""
    return {
        "title": title,
        "description": description,
        "links": [
            _link(root, "self", title="this document"),
            _link(api, "service-desc", OPENAPI30, "the API definition (OpenAPI 3.0)"),
            _link(docs, "service-doc", "text/html", "the API documentation"),
            _link(f"{root}/conformance", "conformance", title="conformance classes"),
            _link(f"{root}/conformance", _REL + "conformance", title="conformance classes"),
            _link(f"{root}/collections", "data", title="the feature collections"),
            _link(f"{root}/collections", _REL + "data", title="the feature collections"),
            _link(f"{root}/tileMatrixSets", _REL + "tiling-schemes", title="tile matrix sets"),
        ],
    }


def conformance() -> dict[str, Any]:
    """``{"conformsTo": [...]}``: the classes of :data:`CONFORMANCE`."""
    return {"conformsTo": list(CONFORMANCE)}


def _temporal(info: LayerInfo, first_edit: str | None) -> dict[str, Any]:
    start = first_edit or info.updated
    return {"interval": [[start, None]], "trs": TRS}


def collection(info: LayerInfo, root: str, *, first_edit: str | None = None) -> dict[str, Any]:
    """One collection: extent (CRS84 bbox; versions from the first known time), links.

    Parameters
    ----------
    info : LayerInfo
        A layer with geometry.
    root : str
        The OGC root URL (``http://host/ogc``).
    first_edit : str, optional
        Time of the layer's first edit; the temporal extent starts there (else at the
        layer's last update), open-ended: ``datetime`` answers any instant since.
    """
    require_features(info)
    url = f"{root}/collections/{info.name}"
    assert info.bounds is not None
    return {
        "id": info.name,
        "title": info.title,
        "description": info.description or info.title,
        "itemType": "feature",
        "crs": [CRS84],
        "attribution": info.attribution,
        "extent": {"spatial": {"bbox": [list(info.bounds)], "crs": CRS84},
                   "temporal": _temporal(info, first_edit)},
        "links": [
            _link(url, "self", title=info.title),
            _link(f"{url}/items", "items", GEOJSON, "the features"),
            _link(f"{url}/queryables", _REL + "queryables", SCHEMA_JSON, "queryable properties"),
            _link(f"{url}/tiles", _REL + "tilesets-vector", JSON, "vector tilesets"),
        ],
    }


def collections(infos: Sequence[LayerInfo], root: str,
                first_edits: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every layer with geometry as a collection."""
    first_edits = first_edits or {}
    return {
        "links": [_link(f"{root}/collections", "self", title="the feature collections")],
        "collections": [collection(i, root, first_edit=first_edits.get(i.name))
                        for i in infos if i.bounds is not None],
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def items(page: dict[str, Any], url: str, request: ItemsRequest) -> dict[str, Any]:
    """The items response: the service's paged FeatureCollection with OGC members.

    Parameters
    ----------
    page : dict
        :meth:`LayerService.features` output (``numberMatched``, ``numberReturned``).
    url : str
        The items URL without query (``.../collections/roads/items``).
    request : ItemsRequest
        The parsed parameters; links repeat them with another ``offset``.
    """
    limit, offset = request.query.limit, request.query.offset
    params = {**request.params, "limit": str(limit)}

    def href(at: int) -> str:
        return f"{url}?{urlencode({**params, 'offset': str(at)})}"

    links = [_link(href(offset), "self", GEOJSON, "this page"),
             _link(url.rsplit("/items", 1)[0], "collection", JSON, "the collection")]
    if offset + page["numberReturned"] < page["numberMatched"]:
        links.append(_link(href(offset + limit), "next", GEOJSON, "next page"))
    if offset > 0:
        links.append(_link(href(max(0, offset - limit)), "prev", GEOJSON, "previous page"))
    page["timeStamp"] = _now()
    page["links"] = links
    return page


def feature(doc: dict[str, Any], collection_url: str) -> dict[str, Any]:
    """One feature: the service's GeoJSON Feature with self and collection links."""
    doc["properties"].pop("_version", None)  # items carry no versions; edits use /layers
    doc["links"] = [_link(f"{collection_url}/items/{doc['id']}", "self", GEOJSON),
                    _link(collection_url, "collection", JSON)]
    return doc


def queryables(info: LayerInfo, url: str) -> dict[str, Any]:
    """JSON Schema of the properties usable as ``?name=value`` filters on the items."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": info.title,
        "properties": {name: {"title": name, "type": _JSON_TYPES.get(kind, "string")}
                       for name, kind in info.fields.items()},
        "additionalProperties": False,
    }


# -- tiles ---------------------------------------------------------------------------------
def _tms_url(root: str) -> str:
    return f"{root}/tileMatrixSets/{TMS_ID}"


def tile_matrix_sets(root: str) -> dict[str, Any]:
    """The tile matrix sets served (WebMercatorQuad)."""
    return {"tileMatrixSets": [{"id": TMS_ID, "title": TMS.title, "uri": TMS.uri,
                                "links": [_link(_tms_url(root), "self", title=TMS.title),
                                          _link(_tms_url(root), _REL + "tiling-scheme")]}],
            "links": [_link(f"{root}/tileMatrixSets", "self")]}


def tile_matrix_set(tms_id: str) -> dict[str, Any]:
    """The OGC TMS 2.0 JSON of a tile matrix set (morecantile's definition).

    Raises
    ------
    LayerNotFound
        Not ``WebMercatorQuad``.
    """
    if tms_id != TMS_ID:
        raise LayerNotFound(f"unknown tile matrix set {tms_id[:40]!r}; known: {TMS_ID}")
    return TMS.model_dump(mode="json", exclude_none=True)


def _limits(bounds: Sequence[float], z: int) -> dict[str, Any]:
    """Rows and columns of zoom ``z`` that the lon/lat ``bounds`` touch."""
    lat_max = 85.05112877980659
    n = 1 << z
    west, east = max(bounds[0], -180.0), min(bounds[2], 180.0 - 1e-9)
    south, north = max(bounds[1], -lat_max), min(bounds[3], lat_max)

    def col(lon: float) -> int:
        return min(n - 1, max(0, math.floor((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return min(n - 1, max(0, math.floor(y)))

    return {"tileMatrix": str(z), "minTileRow": row(north), "maxTileRow": row(south),
            "minTileCol": col(west), "maxTileCol": col(east)}


def tile_matrix_set_limits(info: LayerInfo) -> list[dict[str, Any]]:
    """Per zoom of the layer (``minzoom``..``maxzoom``), the rows and columns it covers."""
    if info.bounds is None:
        return []
    return [_limits(info.bounds, z) for z in range(info.minzoom, info.maxzoom + 1)]


def _bbox(info: LayerInfo) -> dict[str, Any]:
    assert info.bounds is not None
    minx, miny, maxx, maxy = info.bounds
    return {"lowerLeft": [minx, miny], "upperRight": [maxx, maxy], "crs": CRS84}


def tilesets(info: LayerInfo, root: str) -> dict[str, Any]:
    """The tilesets of a collection (one vector tileset in WebMercatorQuad)."""
    require_features(info)
    url = f"{root}/collections/{info.name}/tiles"
    return {
        "tilesets": [{
            "title": f"{info.title} ({TMS_ID})",
            "dataType": "vector",
            "crs": EPSG3857,
            "tileMatrixSetURI": TMS.uri,
            "links": [_link(f"{url}/{TMS_ID}", "self", title="the tileset"),
                      _link(_tms_url(root), _REL + "tiling-scheme", title=TMS_ID)],
        }],
        "links": [_link(url, "self"),
                  _link(f"{root}/collections/{info.name}", "collection", title=info.title)],
    }


def tileset(info: LayerInfo, root: str, tms_id: str = TMS_ID) -> dict[str, Any]:
    """The tileset metadata: limits per zoom, the layer and its fields, the tile template."""
    require_features(info)
    tile_matrix_set(tms_id)  # LayerNotFound for another TMS
    url = f"{root}/collections/{info.name}/tiles/{TMS_ID}"
    assert info.bounds is not None
    minx, miny, maxx, maxy = info.bounds
    centre = max(info.minzoom, min(14, info.maxzoom))
    return {
        "title": f"{info.title} ({TMS_ID})",
        "description": info.description or info.title,
        "dataType": "vector",
        "crs": EPSG3857,
        "tileMatrixSetURI": TMS.uri,
        "attribution": info.attribution,
        "version": str(info.version),
        "tileMatrixSetLimits": tile_matrix_set_limits(info),
        "boundingBox": _bbox(info),
        "centerPoint": {"coordinates": [(minx + maxx) / 2, (miny + maxy) / 2],
                        "crs": CRS84, "tileMatrix": str(centre)},
        "layers": [{
            "id": info.name,
            "title": info.title,
            "dataType": "vector",
            "geometryDimension": _DIMENSION.get(info.geometry_type, 2),
            "featureType": info.name,
            "minTileMatrix": str(info.minzoom),
            "maxTileMatrix": str(info.maxzoom),
            "boundingBox": _bbox(info),
            "propertiesSchema": {"type": "object", "properties": {
                "id": {"type": "integer"},
                **{k: {"type": _JSON_TYPES.get(v, "string")} for k, v in info.fields.items()}}},
        }],
        "links": [
            _link(url, "self", title="this tileset"),
            _link(_tms_url(root), _REL + "tiling-scheme", title=TMS_ID),
            _link(f"{root}/collections/{info.name}", _REL + "geodata", title=info.title),
            _link(f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", MVT,
                  "Mapbox vector tiles", templated=True),
        ],
    }
