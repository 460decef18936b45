"""Disaggregate the real 1 km Mobike grid to H3 cells with covariates.

Each grid cell's real trip starts and ends are shared among the H3 cells whose centres
fall in it, in proportion to a covariate weight: 1 + shops in the H3 cell + 0.01 × road
metres in it (the POI and road layers of the twin). The +1 keeps demand where a cell
has neither.
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from h3ronpy import vector

from twin.bikes.errors import InvalidResolution

__all__ = ["MIN_RES", "MAX_RES", "check_res", "disaggregate"]

MIN_RES, MAX_RES = 7, 10


def check_res(res: int) -> int:
    """Validate an H3 resolution (7 to 10)."""
    if not isinstance(res, int | np.integer) or not MIN_RES <= res <= MAX_RES:
        raise InvalidResolution(f"H3 resolution must be {MIN_RES} to {MAX_RES}, got {res!r}")
    return int(res)


def disaggregate(grid: gpd.GeoDataFrame, pois: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *,
                 res: int = 9) -> pd.DataFrame:
    """Starts and ends per H3 cell from the real grid.

    Returns
    -------
    pandas.DataFrame
        ``h3`` (str), ``cell`` (uint64), ``lon``, ``lat``, ``grid_id``, ``starts``, ``ends``
        (expected trips over the sample period), ``shops``, ``road_m``, ``weight``.
    """
    res = check_res(res)
    rows = []
    for gid, geom, starts, ends in zip(grid.index, grid.geometry, grid["start_count"],
                                       grid["end_count"], strict=True):
        cells = h3.geo_to_cells(geom.__geo_interface__, res)
        if not cells:
            y, x = geom.centroid.y, geom.centroid.x
            cells = [h3.latlng_to_cell(y, x, res)]
        for c in cells:
            rows.append((c, gid, starts, ends))
    frame = pd.DataFrame(rows, columns=["h3", "grid_id", "grid_starts", "grid_ends"])
    frame = frame.drop_duplicates("h3")
    centres = np.array([h3.cell_to_latlng(c) for c in frame["h3"]])
    frame["lat"], frame["lon"] = centres[:, 0], centres[:, 1]
    frame["cell"] = np.array([h3.str_to_int(c) for c in frame["h3"]], dtype=np.uint64)
    poi_cells = np.asarray(vector.coordinates_to_cells(pois.geometry.y.to_numpy(),
                                                       pois.geometry.x.to_numpy(), res))
    shops = pd.Series(poi_cells).value_counts()
    frame["shops"] = frame["cell"].map(shops).fillna(0).to_numpy()
    mids = gpd.GeoSeries(shapely.line_interpolate_point(roads.geometry.to_numpy(), 0.5, normalized=True))
    road_cells = np.asarray(vector.coordinates_to_cells(mids.y.to_numpy(), mids.x.to_numpy(), res))
    road_m = pd.Series(roads["length"].to_numpy(), index=road_cells).groupby(level=0).sum()
    frame["road_m"] = frame["cell"].map(road_m).fillna(0).to_numpy()
    frame["weight"] = 1 + frame["shops"] + 0.01 * frame["road_m"]
    share = frame["weight"] / frame.groupby("grid_id")["weight"].transform("sum")
    frame["starts"] = frame["grid_starts"] * share
    frame["ends"] = frame["grid_ends"] * share
    return frame.drop(columns=["grid_starts", "grid_ends"]).reset_index(drop=True)


def cell_polygon(h3_cell: str) -> shapely.Polygon:
    """The polygon of an H3 cell (lon, lat)."""
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3_cell)])
