"""Disaggregate the real 1 km Mobike grid to H3 cells with covariates.

Each grid cell's real trip starts and ends are shared among the H3 cells whose centres
fall in it, in proportion to a covariate weight: 1 + shops in the H3 cell + 0.01 × road
metres in it (the POI and road layers of the twin, which cover the street-network core
only). The +1 keeps demand where a cell has neither.

Every H3 cell also carries the grid's own covariates (available for every grid cell),
shared equally among the grid cell's H3 cells (H3 cells of one resolution have nearly
equal areas): ``road_m``, ``bike_lane_m``, ``residential_m2``, ``commercial_m2``,
``industrial_m2``, ``stations``, ``bus_stops``, ``crossroads``; ``shops`` is the larger
of the POI-layer count and the grid's shop share. ``home_share`` is the residential share
of the cell's activity, used for the morning tide (homes → work places and stations).
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from h3ronpy import vector

from twin.bikes.errors import InvalidResolution

__all__ = ["MIN_RES", "MAX_RES", "GRID_COVARIATES", "check_res", "disaggregate", "cell_polygon"]

MIN_RES, MAX_RES = 7, 10
#: Grid column -> H3 column of the covariates shared among a grid cell's H3 cells.
GRID_COVARIATES = {"road_length": "road_m", "bicycle_lane_length": "bike_lane_m",
                   "residential_area": "residential_m2", "commercial_area": "commercial_m2",
                   "industrial_area": "industrial_m2", "railway_station_count": "stations",
                   "bus_station_count": "bus_stops", "crossroad_count": "crossroads",
                   "shop_count": "grid_shops"}
#: Activity of a station relative to one m² of work floor when splitting homes / work.
STATION_M2 = 50_000.0
#: Coarser resolutions are sums of this one (its cells are smaller than the 1 km grid).
FINE_RES = 9


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
        ``h3`` (str), ``cell`` (uint64), ``lon``, ``lat``, ``grid_id``, the grid covariates
        (see the module docstring), ``poi_shops``, ``shops``, ``core_road_m`` (road-layer
        metres), ``weight``, ``starts``, ``ends`` (real trips over the sample period),
        ``home_share``.
    """
    res = check_res(res)
    if res < FINE_RES:
        return _coarsen(disaggregate(grid, pois, roads, res=FINE_RES), res)
    rows = []
    for gid, geom in zip(grid.index, grid.geometry, strict=True):
        cells = h3.geo_to_cells(geom.__geo_interface__, res)
        if not cells:
            y, x = geom.centroid.y, geom.centroid.x
            cells = [h3.latlng_to_cell(y, x, res)]
        rows.extend((c, gid) for c in cells)
    frame = pd.DataFrame(rows, columns=["h3", "grid_id"]).drop_duplicates("h3")
    cells_per_grid = frame.groupby("grid_id")["h3"].transform("size").to_numpy(float)
    centres = np.array([h3.cell_to_latlng(c) for c in frame["h3"]])
    frame["lat"], frame["lon"] = centres[:, 0], centres[:, 1]
    frame["cell"] = np.array([h3.str_to_int(c) for c in frame["h3"]], dtype=np.uint64)
    for column, name in GRID_COVARIATES.items():
        values = grid[column] if column in grid.columns else pd.Series(0.0, index=grid.index)
        frame[name] = frame["grid_id"].map(values.fillna(0.0)).to_numpy(float) / cells_per_grid
    poi_cells = np.asarray(vector.coordinates_to_cells(pois.geometry.y.to_numpy(),
                                                       pois.geometry.x.to_numpy(), res))
    frame["poi_shops"] = frame["cell"].map(pd.Series(poi_cells).value_counts()).fillna(0).to_numpy()
    frame["shops"] = np.maximum(frame["poi_shops"], frame.pop("grid_shops"))
    mids = gpd.GeoSeries(shapely.line_interpolate_point(roads.geometry.to_numpy(), 0.5, normalized=True))
    road_cells = np.asarray(vector.coordinates_to_cells(mids.y.to_numpy(), mids.x.to_numpy(), res))
    core_road = pd.Series(roads["length"].to_numpy(), index=road_cells).groupby(level=0).sum()
    frame["core_road_m"] = frame["cell"].map(core_road).fillna(0).to_numpy()
    frame["weight"] = 1 + frame["poi_shops"] + 0.01 * frame["core_road_m"]
    share = frame["weight"] / frame.groupby("grid_id")["weight"].transform("sum")
    frame["starts"] = frame["grid_id"].map(grid["start_count"]).to_numpy(float) * share
    frame["ends"] = frame["grid_id"].map(grid["end_count"]).to_numpy(float) * share
    frame["home_share"] = _home_share(frame)
    return frame.reset_index(drop=True)


def _home_share(frame: pd.DataFrame) -> np.ndarray:
    """Residential share of a cell's activity (homes vs work floor and stations)."""
    work = frame["commercial_m2"] + frame["industrial_m2"] + STATION_M2 * frame["stations"]
    return ((frame["residential_m2"] + 1.0) / (frame["residential_m2"] + work + 2.0)).to_numpy()


def _coarsen(fine: pd.DataFrame, res: int) -> pd.DataFrame:
    """Sum a finer disaggregation into the parent cells at ``res`` (demand is conserved)."""
    parents = np.array([h3.cell_to_parent(c, res) for c in fine["h3"]])
    sums = fine.drop(columns=["h3", "cell", "lat", "lon", "home_share"]).groupby(parents).sum()
    sums["grid_id"] = fine.groupby(parents)["grid_id"].first()
    frame = sums.rename_axis("h3").reset_index()
    centres = np.array([h3.cell_to_latlng(c) for c in frame["h3"]])
    frame["lat"], frame["lon"] = centres[:, 0], centres[:, 1]
    frame["cell"] = np.array([h3.str_to_int(c) for c in frame["h3"]], dtype=np.uint64)
    frame["home_share"] = _home_share(frame)
    return frame


def cell_polygon(h3_cell: str) -> shapely.Polygon:
    """The polygon of an H3 cell (lon, lat)."""
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3_cell)])
