"""GeoJSON geometry parsing shared by queries and edits: one place that turns bad input
into a specific error."""

from __future__ import annotations

import math
from typing import Any

import shapely
import shapely.errors
import shapely.geometry

from layers.errors import LayerError

__all__ = ["geometry_from_geojson", "geometry_to_geojson"]


def geometry_from_geojson(obj: Any, *, error: type[LayerError]) -> shapely.Geometry:
    """A valid, non-empty WGS84 shapely geometry from a GeoJSON geometry object.

    Parameters
    ----------
    obj : Any
        The decoded GeoJSON (``{"type": ..., "coordinates": ...}``).
    error : type
        The :class:`~layers.errors.LayerError` subclass to raise on bad input.

    Raises
    ------
    error
        Not a geometry object, an unknown type, malformed coordinates, empty, invalid
        (self-intersecting) or outside lon/lat range.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise error("geometry must be a GeoJSON geometry object with a 'type'")
    try:
        geom = shapely.geometry.shape(obj)
    except (shapely.errors.ShapelyError, ValueError, TypeError, AttributeError, KeyError,
            IndexError) as exc:
        raise error(f"invalid GeoJSON geometry: {exc}") from None
    if geom.is_empty:
        raise error("the geometry is empty")
    if not shapely.is_valid(geom):
        raise error(f"invalid geometry: {shapely.is_valid_reason(geom)}")
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or \
            not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise error("coordinates must be WGS84 lon/lat")
    return geom


def geometry_to_geojson(geom: Any) -> dict[str, Any] | None:
    """GeoJSON of a geometry cell; None for a missing one (None, NaN, empty)."""
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        return None
    return shapely.geometry.mapping(geom)
