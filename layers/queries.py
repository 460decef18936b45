"""Spatial and attribute queries on a layer, with paging and GeoJSON output."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers._geojson import geometry_from_geojson, geometry_to_geojson
from layers.errors import InvalidQuery

__all__ = ["MAX_LIMIT", "Query", "parse_bbox", "parse_geometry", "run_query",
           "to_feature_collection", "feature_json"]

MAX_LIMIT = 10_000
MAX_RADIUS_M = 50_000


@dataclass
class Query:
    """A layer query: spatial filter (bbox, point + radius, polygon), attributes, page."""

    bbox: tuple[float, float, float, float] | None = None
    point: tuple[float, float] | None = None
    radius_m: float | None = None
    polygon: shapely.Geometry | None = None
    filters: Mapping[str, str] | None = None
    limit: int = 100
    offset: int = 0


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``minx,miny,maxx,maxy`` (WGS84).

    Raises
    ------
    InvalidQuery
        Not four numbers, out of range, or min > max.
    """
    parts = text.split(",")
    if len(parts) != 4:
        raise InvalidQuery(f"bbox must be minx,miny,maxx,maxy; got {text[:60]!r}")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidQuery(f"bbox values must be numbers; got {text[:60]!r}") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidQuery("bbox values must be finite")
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidQuery("bbox must satisfy -180 <= minx <= maxx <= 180, -90 <= miny <= maxy <= 90")
    return minx, miny, maxx, maxy


def parse_geometry(geojson: Any) -> shapely.Geometry:
    """A query geometry (WGS84) from a GeoJSON geometry object.

    Raises
    ------
    InvalidQuery
        Not a geometry object, an unknown type, bad coordinates, empty or invalid.
    """
    return geometry_from_geojson(geojson, error=InvalidQuery)


def _filter_mask(gdf: gpd.GeoDataFrame, filters: Mapping[str, str]) -> np.ndarray:
    mask = np.ones(len(gdf), dtype=bool)
    fields = [c for c in gdf.columns if c != gdf.geometry.name]
    for name, raw in filters.items():
        if name not in fields:
            raise InvalidQuery(f"unknown property {name!r}; fields: {', '.join(fields)}")
        col = gdf[name]
        if pd.api.types.is_bool_dtype(col):
            if raw.lower() not in {"true", "false", "1", "0"}:
                raise InvalidQuery(f"property {name!r} is boolean; got {raw[:40]!r}")
            mask &= col.to_numpy() == (raw.lower() in {"true", "1"})
        elif pd.api.types.is_numeric_dtype(col):
            try:
                value = float(raw)
            except ValueError:
                raise InvalidQuery(f"property {name!r} is a number; got {raw[:40]!r}") from None
            mask &= (col.to_numpy(dtype=float) == value)
        else:
            mask &= (col.astype("string") == raw).fillna(False).to_numpy(dtype=bool)
    return mask


def run_query(gdf: gpd.GeoDataFrame, query: Query) -> tuple[gpd.GeoDataFrame, int]:
    """Apply ``query`` to ``gdf``.

    Returns
    -------
    page : geopandas.GeoDataFrame
        The requested page of matching features.
    total : int
        How many features match in all.

    Raises
    ------
    InvalidQuery
        Bad limit, offset, radius or property.
    """
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be in [1, {MAX_LIMIT}]")
    if query.offset < 0:
        raise InvalidQuery("offset must be >= 0")
    mask = _filter_mask(gdf, query.filters or {})
    geoms = gdf.geometry
    if query.bbox is not None:
        idx = geoms.sindex.query(shapely.box(*query.bbox), predicate="intersects")
        sel = np.zeros(len(gdf), dtype=bool)
        sel[idx] = True
        mask &= sel
    if query.polygon is not None:
        idx = geoms.sindex.query(query.polygon, predicate="intersects")
        sel = np.zeros(len(gdf), dtype=bool)
        sel[idx] = True
        mask &= sel
    if query.point is not None:
        if query.radius_m is None or not 0 < query.radius_m <= MAX_RADIUS_M:
            raise InvalidQuery(f"radius must be in (0, {MAX_RADIUS_M}] metres")
        lon, lat = query.point
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidQuery("point out of range")
        deg = query.radius_m / 111_320 / max(math.cos(math.radians(lat)), 0.01)
        idx = geoms.sindex.query(shapely.Point(lon, lat).buffer(deg), predicate="intersects")
        near = np.zeros(len(gdf), dtype=bool)
        near[idx] = True
        cand = np.flatnonzero(near & mask)
        if len(cand):
            utm = gdf.iloc[cand].geometry.to_crs(gdf.iloc[cand].estimate_utm_crs())
            centre = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(utm.crs).iloc[0]
            keep = utm.distance(centre).to_numpy() <= query.radius_m
            near[:] = False
            near[cand[keep]] = True
        mask &= near
    matched = gdf[mask]
    return matched.iloc[query.offset: query.offset + query.limit], len(matched)


def feature_json(fid: Any, row: pd.Series, geometry_name: str) -> dict[str, Any]:
    """One GeoJSON Feature from a row."""
    props = {k: _json_value(v) for k, v in row.items() if k != geometry_name}
    return {"type": "Feature", "id": _json_value(fid),
            "geometry": geometry_to_geojson(row[geometry_name]), "properties": props}


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    return json.loads(json.dumps(value, default=str))


def to_feature_collection(page: gpd.GeoDataFrame, total: int, *, limit: int,
                          offset: int) -> dict[str, Any]:
    """A paged GeoJSON FeatureCollection with ``numberMatched`` / ``numberReturned``."""
    name = page.geometry.name
    features = [feature_json(fid, row, name) for fid, row in page.iterrows()]
    return {"type": "FeatureCollection", "features": features, "numberMatched": total,
            "numberReturned": len(features), "limit": limit, "offset": offset}
