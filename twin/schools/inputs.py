"""Real inputs for the school model: a schools CSV, a homes CSV, a population raster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.warp import transform as warp_transform

from twin.schools.errors import InvalidSchoolInput
from twin.schools.service import LEVELS

__all__ = ["read_schools_csv", "read_homes_csv", "homes_from_population_raster",
           "PRIMARY_SHARE", "MIDDLE_SHARE"]

#: School-age shares of the population used with a population raster (Shanghai-like).
PRIMARY_SHARE = 0.045
MIDDLE_SHARE = 0.022


def read_schools_csv(path: str | Path, *, geocode: Callable[[str], list[dict]] | None = None
                     ) -> gpd.GeoDataFrame:
    """Schools from a CSV with ``name, level, address, capacity`` (``lon, lat`` optional).

    Rows without coordinates are geocoded through ``geocode`` (the address service);
    the best candidate must be at door or road level.

    Raises
    ------
    InvalidSchoolInput
        Missing columns, a bad level or capacity, or an address that cannot be placed.
    """
    table = pd.read_csv(path, dtype={"name": str, "level": str, "address": str})
    missing = {"name", "level", "capacity"} - set(table.columns)
    if missing:
        raise InvalidSchoolInput(f"schools CSV lacks columns: {', '.join(sorted(missing))}")
    bad = ~table["level"].isin(LEVELS)
    if bad.any():
        raise InvalidSchoolInput(f"row {int(np.flatnonzero(bad)[0]) + 2}: level must be "
                                 "primary or middle")
    capacity = pd.to_numeric(table["capacity"], errors="coerce")
    if capacity.isna().any() or (capacity <= 0).any():
        raise InvalidSchoolInput("capacity must be a positive number on every row")
    lon = pd.to_numeric(table.get("lon"), errors="coerce") if "lon" in table else pd.Series(
        np.nan, index=table.index)
    lat = pd.to_numeric(table.get("lat"), errors="coerce") if "lat" in table else pd.Series(
        np.nan, index=table.index)
    for i in np.flatnonzero(lon.isna() | lat.isna()):
        address = table.at[i, "address"] if "address" in table else None
        if geocode is None or not isinstance(address, str):
            raise InvalidSchoolInput(f"row {i + 2}: no coordinates and no address to geocode")
        try:
            best = geocode(address)[0]
        except LookupError as exc:
            raise InvalidSchoolInput(f"row {i + 2}: address not found: {address!r}") from exc
        if best["level"] not in ("door", "road"):
            raise InvalidSchoolInput(f"row {i + 2}: {address!r} is only known at "
                                     f"{best['level']} level")
        lon.iat[i], lat.iat[i] = best["lon"], best["lat"]
    ids = table["id"].astype(str) if "id" in table else [f"S{i:03d}" for i in range(len(table))]
    return gpd.GeoDataFrame(
        {"id": ids, "name": table["name"], "level": table["level"],
         "capacity": capacity.astype(int), "address": table.get("address"), "source": "csv"},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)


def read_homes_csv(path: str | Path) -> gpd.GeoDataFrame:
    """Homes from a CSV with ``lon, lat, children_primary, children_middle``."""
    table = pd.read_csv(path)
    need = {"lon", "lat", "children_primary", "children_middle"}
    if not need <= set(table.columns):
        raise InvalidSchoolInput(f"homes CSV needs columns {', '.join(sorted(need))}")
    return gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]),
                            geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)


def homes_from_population_raster(path: str | Path, *, density: bool = False) -> gpd.GeoDataFrame:
    """One home per populated raster cell (its centre), children by the age shares.

    Parameters
    ----------
    path : str or Path
        A single-band GeoTIFF of persons per cell (or per km² with ``density=True``).
    density : bool
        Values are persons per km² (multiplied by the cell area).
    """
    with rasterio.open(path) as src:
        values = src.read(1, masked=True).filled(0).astype(float)
        rows, cols = np.nonzero(values > 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
        lon, lat = warp_transform(src.crs, "EPSG:4326", xs, ys)
        area_km2 = abs(src.transform.a * src.transform.e) / 1e6 if src.crs.is_projected else 1.0
    population = values[rows, cols] * (area_km2 if density else 1.0)
    return gpd.GeoDataFrame(
        {"population": np.round(population).astype(int),
         "children_primary": np.round(population * PRIMARY_SHARE).astype(int),
         "children_middle": np.round(population * MIDDLE_SHARE).astype(int),
         "source": "raster"},
        geometry=gpd.points_from_xy(lon, lat), crs=4326)
