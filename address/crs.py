"""WGS84 <-> GCJ-02 (Amap, Tencent) <-> BD-09 (Baidu) conversions.

GCJ-02 is an obfuscation of WGS84 applied inside China; the forward transform is the
published formula, the inverse is solved by fixed-point iteration to < 1e-7 degrees.
Outside China GCJ-02 equals WGS84.
"""

from __future__ import annotations

import math

import numpy as np

from address.errors import InvalidCoordinates

__all__ = ["CRS_NAMES", "wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02",
           "to_wgs84", "from_wgs84", "out_of_china"]

CRS_NAMES = ("wgs84", "gcj02", "bd09")
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def out_of_china(lon: float, lat: float) -> bool:
    """True outside the rough bounding box where GCJ-02 applies."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):  # noqa: ANN001, ANN201 - scalars or arrays
    """WGS84 -> GCJ-02 (scalars or numpy arrays)."""
    lon_a, lat_a = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _delta(lon_a, lat_a)
    inside = (lon_a >= 72.004) & (lon_a <= 137.8347) & (lat_a >= 0.8293) & (lat_a <= 55.8271)
    out = (np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a))
    return (float(out[0]), float(out[1])) if np.ndim(lon) == 0 else out


def gcj02_to_wgs84(lon, lat):  # noqa: ANN001, ANN201
    """GCJ-02 -> WGS84 by iteration (error < 1e-7 degrees)."""
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        clon, clat = wgs84_to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (np.asarray(clon) - glon), wlat - (np.asarray(clat) - glat)
    return (float(wlon), float(wlat)) if np.ndim(lon) == 0 else (wlon, wlat)


def gcj02_to_bd09(lon, lat):  # noqa: ANN001, ANN201
    """GCJ-02 -> BD-09."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    out = (z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)
    return (float(out[0]), float(out[1])) if np.ndim(lon) == 0 else out


def bd09_to_gcj02(lon, lat):  # noqa: ANN001, ANN201
    """BD-09 -> GCJ-02."""
    x, y = np.asarray(lon, float) - 0.0065, np.asarray(lat, float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    out = (z * np.cos(theta), z * np.sin(theta))
    return (float(out[0]), float(out[1])) if np.ndim(lon) == 0 else out


def _check(crs: str) -> str:
    crs = (crs or "wgs84").lower()
    if crs not in CRS_NAMES:
        raise InvalidCoordinates(f"unknown crs {crs!r}; use one of {', '.join(CRS_NAMES)}")
    return crs


def to_wgs84(lon, lat, crs: str = "wgs84"):  # noqa: ANN001, ANN201
    """Convert from ``crs`` (wgs84|gcj02|bd09) to WGS84."""
    crs = _check(crs)
    if crs == "bd09":
        lon, lat = bd09_to_gcj02(lon, lat)
        crs = "gcj02"
    if crs == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    return lon, lat


def from_wgs84(lon, lat, crs: str = "wgs84"):  # noqa: ANN001, ANN201
    """Convert from WGS84 to ``crs`` (wgs84|gcj02|bd09)."""
    crs = _check(crs)
    if crs == "wgs84":
        return lon, lat
    glon, glat = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(glon, glat) if crs == "bd09" else (glon, glat)
