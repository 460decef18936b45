"""Mapbox Vector Tiles (MVT 2.1) from GeoDataFrames: clip, simplify per zoom, encode.

Geometries are projected to Web Mercator once per layer version and indexed (STRtree);
a tile request selects with the tile's buffered bounds, clips, simplifies with a
tolerance of :data:`SIMPLIFY_PIXELS` tile pixels at that zoom, maps to tile coordinates
(extent :data:`EXTENT`, y down) and encodes with ``mapbox-vector-tile``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pandas as pd
import shapely

from layers.errors import TileOutOfRange

__all__ = [
    "EXTENT",
    "BUFFER",
    "SIMPLIFY_PIXELS",
    "MAX_ZOOM",
    "TMS",
    "tile_bounds",
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


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator (EPSG:3857) bounds of a tile."""
    check_tile(z, x, y)
    b = TMS.xy_bounds(morecantile.Tile(x, y, z))
    return b.left, b.bottom, b.right, b.top


@dataclass
class ProjectedLayer:
    """A layer projected to Web Mercator with a spatial index, for one version."""

    name: str
    version: int
    geoms: np.ndarray
    fids: np.ndarray
    props: pd.DataFrame
    tree: shapely.STRtree

    @classmethod
    def from_gdf(cls, name: str, gdf: gpd.GeoDataFrame, version: int) -> ProjectedLayer:
        """Project and index ``gdf`` (rows without geometry are left out)."""
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        geoms = gdf.geometry.to_crs(3857).to_numpy()
        props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        if "id" not in props.columns:
            props.insert(0, "id", gdf.index.to_numpy())
        return cls(name, version, geoms, gdf.index.to_numpy(), props.reset_index(drop=True),
                   shapely.STRtree(geoms))


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


def _layer_features(layer: ProjectedLayer, bounds: tuple[float, float, float, float],
                    z: int) -> list[dict]:
    left, bottom, right, top = bounds
    size = right - left
    pad = size * BUFFER / EXTENT
    clip_box = shapely.box(left - pad, bottom - pad, right + pad, top + pad)
    hits = layer.tree.query(clip_box, predicate="intersects")
    if len(hits) == 0:
        return []
    geoms = layer.geoms[hits]
    tolerance = size / EXTENT * SIMPLIFY_PIXELS
    clipped = shapely.intersection(geoms, clip_box)
    simplified = shapely.simplify(clipped, tolerance, preserve_topology=True)
    scale_x = EXTENT / size
    scale_y = EXTENT / (top - bottom)

    def to_tile(coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - left) * scale_x
        out[:, 1] = (top - coords[:, 1]) * scale_y
        return np.round(out)

    tiled = shapely.transform(simplified, to_tile)
    rows = layer.props.iloc[hits]
    columns = list(rows.columns)
    features = []
    fids = layer.fids[hits]
    for geom, fid, values in zip(tiled, fids, rows.itertuples(index=False, name=None), strict=True):
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type in ("Polygon", "MultiPolygon") and geom.area == 0:
            continue
        props = {k: v for k, v in ((c, _clean(v)) for c, v in zip(columns, values, strict=True))
                 if v is not None}
        features.append({"geometry": geom, "properties": props, "id": _feature_id(_clean(fid))})
    return features


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
    payload = []
    for layer in layers:
        features = _layer_features(layer, bounds, z)
        if features:
            payload.append({"name": layer.name, "features": features})
    if not payload:
        return b""
    return mapbox_vector_tile.encode(
        payload, default_options={"extents": EXTENT, "y_coord_down": True,
                                  "quantize_bounds": None, "check_winding_order": True})


class TileCache:
    """A bounded, thread-safe LRU of encoded tiles keyed by layer versions.

    Keys include every layer's version, so an edit makes older entries unreachable; they
    are also dropped at once by :meth:`invalidate`.
    """

    def __init__(self, max_items: int = 20_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> bytes | None:
        """A cached tile, or None."""
        with self._lock:
            tile = self._items.get(key)
            if tile is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return tile

    def put(self, key: tuple, tile: bytes) -> None:
        """Store a tile, evicting the least recently used beyond ``max_items``."""
        with self._lock:
            self._items[key] = tile
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def invalidate(self, layer: str) -> int:
        """Drop every tile that contains ``layer``; returns how many."""
        with self._lock:
            stale = [k for k in self._items if layer in k[0]]
            for k in stale:
                del self._items[k]
            return len(stale)

    def __len__(self) -> int:
        return len(self._items)
