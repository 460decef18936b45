"""Raster layers: Cloud-Optimized GeoTIFFs written with rasterio, served as PNG XYZ tiles.

Rasters are stored in Web Mercator (EPSG:3857) so that tiles are a plain resampling.
Each raster carries its metadata (unit, description, attribution, colour range) in the
GeoTIFF tags.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import Affine
from rasterio.warp import transform as warp_transform

from layers.errors import LayerNotFound, TileOutOfRange
from layers.tiles import tile_bounds

__all__ = ["write_cog", "RasterStore", "colorize", "TILE_SIZE"]

TILE_SIZE = 256
NODATA = -9999.0
#: A perceptually ordered ramp (viridis anchors), interpolated to 256 colours.
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                    dtype=float)
_RAMP = np.stack([np.interp(np.linspace(0, 4, 256), np.arange(5), _ANCHORS[:, c])
                  for c in range(3)], axis=1).astype(np.uint8)


def write_cog(path: Path, data: np.ndarray, transform: Affine, *, unit: str, description: str,
              attribution: str, vmin: float, vmax: float, reverse: bool = False) -> Path:
    """Write a single-band float32 Cloud-Optimized GeoTIFF in EPSG:3857.

    Parameters
    ----------
    path : Path
        Target ``.tif``.
    data : numpy.ndarray
        2-D values, NaN for no data.
    transform : Affine
        Pixel -> EPSG:3857 transform.
    unit, description, attribution : str
        Metadata stored in the tags.
    vmin, vmax : float
        Colour range of the tiles.
    reverse : bool
        Reverse the colour ramp (small values bright).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.where(np.isfinite(data), data, NODATA).astype("float32")
    profile = {"driver": "COG", "height": arr.shape[0], "width": arr.shape[1], "count": 1,
               "dtype": "float32", "crs": "EPSG:3857", "transform": transform,
               "nodata": NODATA, "compress": "deflate", "blocksize": 256,
               "overview_resampling": "average"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
        dst.update_tags(citytwin=json.dumps({
            "unit": unit, "description": description, "attribution": attribution,
            "vmin": vmin, "vmax": vmax, "reverse": reverse}, ensure_ascii=False))
    return path


def colorize(values: np.ndarray, vmin: float, vmax: float, *, reverse: bool = False) -> bytes:
    """PNG of ``values`` through the ramp; NaN transparent."""
    valid = np.isfinite(values)
    scaled = np.clip((np.nan_to_num(values, nan=vmin) - vmin) / max(vmax - vmin, 1e-9), 0, 1)
    if reverse:
        scaled = 1 - scaled
    idx = (scaled * 255).astype(np.uint8)
    rgba = np.zeros(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = _RAMP[idx]
    rgba[..., 3] = np.where(valid, 200, 0)
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _sample_nearest(data: np.ndarray, transform: Affine,
                    bounds: tuple[float, float, float, float]) -> np.ndarray:
    """A TILE_SIZE² grid over ``bounds`` (same CRS as ``transform``), nearest pixel, NaN outside."""
    left, bottom, right, top = bounds
    centres = (np.arange(TILE_SIZE) + 0.5) / TILE_SIZE
    cols = np.floor((left + centres * (right - left) - transform.c) / transform.a).astype(np.int64)
    rows = np.floor((top - centres * (top - bottom) - transform.f) / transform.e).astype(np.int64)
    col_ok = (cols >= 0) & (cols < data.shape[1])
    row_ok = (rows >= 0) & (rows < data.shape[0])
    out = np.full((TILE_SIZE, TILE_SIZE), np.nan)
    out[np.ix_(row_ok, col_ok)] = data[np.ix_(rows[row_ok], cols[col_ok])]
    return out


class RasterStore:
    """The raster layers of a bundle (``<dir>/<name>.tif``), opened lazily and kept in memory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[np.ndarray, Affine, dict[str, Any], list[float]]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Raster layer names."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.tif"))

    def _open(self, name: str) -> tuple[np.ndarray, Affine, dict[str, Any], list[float]]:
        with self._lock:
            if name not in self._cache:
                path = self.directory / f"{name}.tif"
                if not path.is_file():
                    raise LayerNotFound(f"unknown raster {name!r}; rasters: "
                                        f"{', '.join(self.names()) or 'none'}")
                with rasterio.open(path) as src:
                    data = src.read(1, masked=True).filled(np.nan).astype(float)
                    meta = json.loads(src.tags().get("citytwin", "{}"))
                    b = src.bounds
                    xs, ys = warp_transform("EPSG:3857", "EPSG:4326", [b.left, b.right],
                                            [b.bottom, b.top])
                    self._cache[name] = (data, src.transform, meta,
                                         [xs[0], ys[0], xs[1], ys[1]])
            return self._cache[name]

    def meta(self, name: str) -> dict[str, Any]:
        """Name, bounds (WGS84), unit, description, attribution, colour range."""
        data, _, meta, bounds = self._open(name)
        return {"name": name, "bounds": bounds, "width": data.shape[1], "height": data.shape[0],
                "tilejson": f"/tiles/{name}/tilejson.json", **meta}

    def etag(self, name: str, z: int, x: int, y: int) -> str:
        """ETag of a raster tile (file identity + tile)."""
        stat = (self.directory / f"{name}.tif").stat()
        key = f"{name}/{stat.st_mtime_ns}/{stat.st_size}/{z}/{x}/{y}"
        return '"' + hashlib.blake2b(key.encode(), digest_size=10).hexdigest() + '"'

    def tile(self, name: str, z: int, x: int, y: int) -> bytes:
        """A 256 × 256 PNG tile.

        Raises
        ------
        LayerNotFound, TileOutOfRange
        """
        data, transform, meta, bounds = self._open(name)
        left, bottom, right, top = tile_bounds(z, x, y)
        src_left, src_top = transform.c, transform.f
        src_right = src_left + transform.a * data.shape[1]
        src_bottom = src_top + transform.e * data.shape[0]
        if left >= src_right or right <= src_left or bottom >= src_top or top <= src_bottom:
            raise TileOutOfRange(f"tile {z}/{x}/{y} is outside raster {name!r}")
        out = _sample_nearest(data, transform, (left, bottom, right, top))
        return colorize(out, meta.get("vmin", np.nanmin(data)), meta.get("vmax", np.nanmax(data)),
                        reverse=bool(meta.get("reverse", False)))

    def point(self, name: str, lon: float, lat: float) -> dict[str, Any]:
        """Value at a point (None outside the raster or on no data)."""
        data, transform, meta, _ = self._open(name)
        xs, ys = warp_transform("EPSG:4326", "EPSG:3857", [lon], [lat])
        col, row = ~transform @ (xs[0], ys[0])
        r, c = int(np.floor(row)), int(np.floor(col))
        value = None
        if 0 <= r < data.shape[0] and 0 <= c < data.shape[1] and np.isfinite(data[r, c]):
            value = round(float(data[r, c]), 3)
        return {"raster": name, "lon": lon, "lat": lat, "value": value, "unit": meta.get("unit")}
