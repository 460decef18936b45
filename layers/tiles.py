"""Mapbox Vector Tiles (MVT 2.1) from GeoDataFrames: clip, simplify per zoom, encode.

Geometries are projected to Web Mercator once per layer version and indexed (STRtree);
a tile request selects with the tile's buffered bounds, clips, simplifies with a
tolerance of :data:`SIMPLIFY_PIXELS` tile pixels at that zoom, maps to tile coordinates
(extent :data:`EXTENT`, y down) and encodes with ``mapbox-vector-tile``.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import morecantile
import numpy as np
import pandas as pd
import shapely

from layers._mvt import AttributeTable, encode_layer, tile_field
from layers.errors import TileOutOfRange
from layers.generalize import feature_minzoom

__all__ = [
    "EXTENT",
    "BUFFER",
    "SIMPLIFY_PIXELS",
    "MAX_ZOOM",
    "TMS",
    "tile_bounds",
    "lonlat_bounds",
    "check_tile",
    "ProjectedLayer",
    "encode_tile",
    "TileCache",
]

EXTENT = 4096
BUFFER = 64
SIMPLIFY_PIXELS = 1.0
MAX_ZOOM = 22
TMS = morecantile.tms.get("WebMercatorQuad")


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`TileOutOfRange` unless ``z/x/y`` is a valid Web Mercator tile."""
    if not 0 <= z <= MAX_ZOOM:
        raise TileOutOfRange(f"zoom {z} out of range [0, {MAX_ZOOM}]")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise TileOutOfRange(f"tile {z}/{x}/{y} out of range: x and y must be in [0, {n})")


_HALF_WORLD = math.pi * 6378137.0  # Web Mercator half circumference (m)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator (EPSG:3857) bounds of a tile: left, bottom, right, top."""
    check_tile(z, x, y)
    size = 2 * _HALF_WORLD / (1 << z)
    left, top = -_HALF_WORLD + x * size, _HALF_WORLD - y * size
    return left, top - size, left + size, top


def lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Longitude/latitude bounds of a tile: west, south, east, north."""
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


@dataclass
class ProjectedLayer:
    """A layer projected to Web Mercator with a spatial index, for one version."""

    name: str
    version: int
    geoms: np.ndarray
    fids: np.ndarray
    props: pd.DataFrame
    tree: shapely.STRtree
    table: AttributeTable
    mvt_ids: np.ndarray
    kinds: np.ndarray  # shapely geometry type ids
    value_memo: dict  # serialized attribute values per column, reused by the next version
    minzooms: np.ndarray  # smallest zoom each feature is drawn at (layers.generalize)

    @classmethod
    def from_gdf(cls, name: str, gdf: gpd.GeoDataFrame, version: int, *,
                 previous: ProjectedLayer | None = None, minzoom: int = 0) -> ProjectedLayer:
        """Project and index ``gdf`` (rows without geometry are left out).

        Parameters
        ----------
        name : str
            Layer name (the MVT layer's name).
        gdf : geopandas.GeoDataFrame
            Features in EPSG:4326.
        version : int
            Layer version the features belong to.
        previous : ProjectedLayer, optional
            The same layer at an earlier version: its serialized attribute values are
            reused, so re-projecting after an edit costs a fraction of the first time.
        minzoom : int
            The layer's registered ``minzoom``: no feature is drawn below it, and roads
            appear by class (:func:`layers.generalize.feature_minzoom`).
        """
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        geoms = gdf.geometry.to_crs(3857).to_numpy()
        props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        if "id" not in props.columns:
            props.insert(0, "id", gdf.index.to_numpy())
        props = props.reset_index(drop=True)
        fids = gdf.index.to_numpy()
        if fids.dtype.kind in "iu" and (len(fids) == 0 or fids.min() >= 0):
            mvt_ids = fids.astype(np.uint64)  # what _feature_id gives each of them
        else:
            mvt_ids = np.array([_feature_id(_clean(f)) for f in fids], dtype=np.uint64)
        memo = previous.value_memo if previous is not None else {}
        return cls(name, version, geoms, fids, props, shapely.STRtree(geoms),
                   AttributeTable.from_frame(props, memo), mvt_ids, shapely.get_type_id(geoms),
                   memo, feature_minzoom(props, minzoom))


def _clean(value: object) -> object:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _tile_geometries(layer: ProjectedLayer, bounds: tuple[float, float, float, float],
                     zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the features in the buffered tile, and their tile-coordinate geometries."""
    left, bottom, right, top = bounds
    size = right - left
    pad = size * BUFFER / EXTENT
    clip_box = shapely.box(left - pad, bottom - pad, right + pad, top + pad)
    hits = layer.tree.query(clip_box, predicate="intersects")
    if len(hits):
        hits = hits[layer.minzooms[hits] <= zoom]
    if len(hits) == 0:
        return hits, np.array([], dtype=object)
    geoms = layer.geoms[hits]
    shapely.prepare(clip_box)
    crossing = ~shapely.contains_properly(clip_box, geoms)
    clipped = geoms.copy()
    clipped[crossing] = shapely.clip_by_rect(geoms[crossing], *shapely.bounds(clip_box))
    # Douglas-Peucker for lines (as tile servers do); topology-preserving for polygons,
    # whose rings must stay valid; points need nothing
    tolerance = size / EXTENT * SIMPLIFY_PIXELS
    kinds = layer.kinds[hits]
    lines = (kinds == 1) | (kinds == 5)
    polygons = (kinds == 3) | (kinds == 6)
    clipped[lines] = shapely.simplify(clipped[lines], tolerance, preserve_topology=False)
    clipped[polygons] = shapely.simplify(clipped[polygons], tolerance, preserve_topology=True)
    scale_x, scale_y = EXTENT / size, EXTENT / (top - bottom)

    def to_tile(coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - left) * scale_x
        out[:, 1] = (top - coords[:, 1]) * scale_y
        return np.round(out)

    return hits, shapely.transform(clipped, to_tile)


def _feature_id(value: object) -> int:
    if isinstance(value, int) and value >= 0:
        return value
    return int(hashlib.blake2b(str(value).encode(), digest_size=6).hexdigest(), 16)


def encode_tile(layers: Sequence[ProjectedLayer], z: int, x: int, y: int) -> bytes:
    """Encode one MVT tile holding ``layers``; ``b""`` when every layer is empty there.

    Parameters
    ----------
    layers : sequence of ProjectedLayer
        Layers, one MVT layer each (named after the layer).
    z, x, y : int
        Tile.

    Returns
    -------
    bytes
        The protobuf tile, or ``b""``.
    """
    bounds = tile_bounds(z, x, y)
    parts = []
    for layer in layers:
        rows, geoms = _tile_geometries(layer, bounds, z)
        if len(rows):
            data, written = encode_layer(layer.name, EXTENT, layer.table, rows, geoms,
                                         layer.mvt_ids[rows])
            if written:
                parts.append(tile_field(data))
    return b"".join(parts)


class TileCache:
    """A bounded, thread-safe LRU of encoded tiles keyed by layer versions.

    Keys are ``(layers, versions, z, x, y)``, so an edit makes older entries unreachable
    by :meth:`get`. :meth:`reuse` carries an older entry over to the new versions when the
    edits in between did not touch the tile (most tiles, for a small edit).
    """

    def __init__(self, max_items: int = 20_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._latest: dict[tuple, tuple] = {}  # (layers, z, x, y) -> versions last stored
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.reused = 0

    def get(self, key: tuple) -> Any:
        """A cached tile, or None."""
        with self._lock:
            tile = self._items.get(key)
            if tile is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return tile

    def put(self, key: tuple, tile: Any) -> None:
        """Store a tile, evicting the least recently used beyond ``max_items``."""
        names, versions, *zxy = key
        with self._lock:
            self._items[key] = tile
            self._items.move_to_end(key)
            self._latest[(names, *zxy)] = versions
            while len(self._items) > self.max_items:
                (n, v, *p), _ = self._items.popitem(last=False)
                if self._latest.get((n, *p)) == v:
                    del self._latest[(n, *p)]

    def reuse(self, key: tuple, unchanged: Callable[[tuple], bool]) -> Any:
        """The tile stored for older versions of ``key``'s layers, if still right, or None.

        Parameters
        ----------
        key : tuple
            ``(layers, versions, z, x, y)`` wanted.
        unchanged : callable
            ``unchanged(old_versions)`` is True when no edit between ``old_versions`` and
            ``key``'s versions touches the tile; the tile is then stored under ``key``.
        """
        names, versions, *zxy = key
        with self._lock:
            old = self._latest.get((names, *zxy))
            tile = self._items.get((names, old, *zxy)) if old not in (None, versions) else None
        if tile is None or not unchanged(old):
            return None
        self.put(key, tile)
        with self._lock:
            self.reused += 1
        return tile

    def __len__(self) -> int:
        return len(self._items)
