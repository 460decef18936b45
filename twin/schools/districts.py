"""School districts (学区) as polygons of H3 cells, from an assignment."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

__all__ = ["DISTRICT_RES", "district_cells", "district_polygons"]

DISTRICT_RES = 9


def district_cells(lon: np.ndarray, lat: np.ndarray, pupils: np.ndarray, school: np.ndarray,
                   *, res: int = DISTRICT_RES) -> pd.DataFrame:
    """Cover the homes' area with H3 cells and give each cell a school.

    A cell holding homes goes to the school taking most of its pupils; an empty cell
    inside the area goes to the school of the nearest home, so districts tile the area
    without holes.

    Returns
    -------
    pandas.DataFrame
        ``h3`` (str), ``school`` (index), ``pupils``.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    ok = np.asarray(school) >= 0
    own = [h3.latlng_to_cell(float(y), float(x), res) for x, y in zip(lon, lat, strict=True)]
    frame = pd.DataFrame({"h3": own, "school": school, "pupils": pupils})[ok]
    votes = frame.groupby(["h3", "school"])["pupils"].sum().reset_index()
    votes = votes.sort_values(["h3", "pupils", "school"], ascending=[True, False, True])
    best = votes.drop_duplicates("h3").set_index("h3")["school"]
    hull = shapely.MultiPoint(np.column_stack([lon[ok], lat[ok]])).convex_hull.buffer(0.001)
    area = h3.geo_to_cells(hull.__geo_interface__, res) if hull.area > 0 else []
    tree = cKDTree(np.column_stack([lon[ok], lat[ok]]))
    home_school = np.asarray(school)[ok]
    rows = []
    for cell in sorted(set(area) | set(best.index)):
        if cell in best.index:
            rows.append((cell, int(best[cell])))
        else:
            y, x = h3.cell_to_latlng(cell)
            rows.append((cell, int(home_school[tree.query([x, y])[1]])))
    out = pd.DataFrame(rows, columns=["h3", "school"])
    totals = frame.groupby("h3")["pupils"].sum()
    out["pupils"] = out["h3"].map(totals).fillna(0).astype(int)
    return out


def _cell_polygon(cell: str) -> shapely.Polygon:
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def district_polygons(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """Dissolve the cells of each school into its district polygon.

    Returns
    -------
    geopandas.GeoDataFrame
        One (Multi)Polygon per school with ``school``, ``cells``, ``parts`` (1 = contiguous).
    """
    rows = []
    for school, group in cells.groupby("school"):
        mine = set(group["h3"])
        geom = shapely.union_all([_cell_polygon(c) for c in mine])
        parts = len(getattr(geom, "geoms", [geom]))
        rows.append({"school": int(school), "cells": len(mine), "parts": parts, "geometry": geom})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
