"""Land-use grids for cities without the Shanghai Mobike grid (labelled synthetic).

* :func:`proxy_grid`: ~1 km cells over the road network with a residential-area proxy
  (residential road length × 60 m), used by the build for the synthetic homes.
* :func:`land_use_grid`: the same cells with the covariates of the bike model
  (:data:`twin.bikes.demand.GRID_COVARIATES`) and a *synthetic* bike activity index in
  ``start_count`` / ``end_count``, so that the bike model runs in any city. The index is
  an assumption, not a measurement: road metres in the cell + 2 × residential road metres
  + :data:`SHOP_M` per shop. Its total does not matter (the synthetic trips are scaled
  to a daily volume), only its spatial shares do. ``source = "synthetic"`` on every row.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["CELL_DEG", "RESIDENTIAL_HIGHWAYS", "SHOP_M", "proxy_grid", "land_use_grid"]

#: Cell size of the proxy grids, degrees (~1 km in latitude).
CELL_DEG = 0.009
RESIDENTIAL_HIGHWAYS = ("residential", "living_street", "tertiary")
#: Road metres of activity a shop counts for in the synthetic activity index.
SHOP_M = 50.0
#: Square metres of floor per metre of road (residential and other), as in the homes.
_FLOOR_M2_PER_M = 60.0


def _frange(start: float, stop: float, step: float) -> list[float]:
    n = int((stop - start) // step) + 1
    return [start + i * step for i in range(n)]


def _road_metres(roads: gpd.GeoDataFrame, grid: gpd.GeoDataFrame,
                 utm: object) -> pd.Series:
    """Road metres per grid cell (index aligned with ``grid``)."""
    if not len(roads):
        return pd.Series(0.0, index=grid.index)
    clipped = gpd.overlay(roads[["geometry"]].to_crs(utm), grid.to_crs(utm).reset_index(),
                          how="intersection", keep_geom_type=True)
    length = clipped.assign(len_m=clipped.length).groupby("index")["len_m"].sum()
    return length.reindex(grid.index).fillna(0.0)


def proxy_grid(roads: gpd.GeoDataFrame, cell_deg: float = CELL_DEG) -> gpd.GeoDataFrame:
    """Grid of ~1 km cells with a residential-area proxy (residential road length × 60 m).

    Used for cities without a land-use grid; the result is labelled synthetic.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        The ``roads`` layer (EPSG:4326) with ``highway``.
    cell_deg : float
        Cell size, degrees.

    Returns
    -------
    geopandas.GeoDataFrame
        Square cells with ``residential_area`` (m²) and ``source = "synthetic"``.
    """
    minx, miny, maxx, maxy = roads.total_bounds
    cells = [
        shapely.box(x, y, x + cell_deg, y + cell_deg)
        for x in _frange(minx, maxx, cell_deg) for y in _frange(miny, maxy, cell_deg)
    ]
    grid = gpd.GeoDataFrame(geometry=cells, crs=4326)
    utm = roads.estimate_utm_crs()
    resid = roads[roads["highway"].isin(list(RESIDENTIAL_HIGHWAYS))]
    grid["residential_area"] = _road_metres(resid, grid, utm) * _FLOOR_M2_PER_M
    grid["source"] = "synthetic"
    return grid


def land_use_grid(roads: gpd.GeoDataFrame, pois: gpd.GeoDataFrame | None = None, *,
                  cell_deg: float = CELL_DEG) -> gpd.GeoDataFrame:
    """The bike model's grid from the road network (and shops, if any), synthetic.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        The ``roads`` layer (EPSG:4326) with ``highway``.
    pois : geopandas.GeoDataFrame, optional
        Shop points; none in a city built from an OSM file alone.
    cell_deg : float
        Cell size, degrees.

    Returns
    -------
    geopandas.GeoDataFrame
        :func:`proxy_grid` cells with ``road_length`` (m), ``residential_area``,
        ``commercial_area`` (non-residential road metres × 60 m², the work-floor proxy
        that gives the synthetic trips their morning tide), ``shop_count``, and the
        synthetic activity index as ``start_count`` = ``end_count`` (module docstring);
        ``source = "synthetic"``, ``basis = "land use"``. Cells without roads are dropped.

    Examples
    --------
    >>> from twin import City
    >>> grid = land_use_grid(City.load().layers["roads"].data)  # doctest: +SKIP
    """
    grid = proxy_grid(roads, cell_deg)
    utm = roads.estimate_utm_crs()
    grid["road_length"] = _road_metres(roads, grid, utm)
    resid_m = grid["residential_area"] / _FLOOR_M2_PER_M
    grid["commercial_area"] = (grid["road_length"] - resid_m).clip(lower=0.0) * _FLOOR_M2_PER_M
    shops = np.zeros(len(grid))
    if pois is not None and len(pois):
        pts = pois[pois.geometry.geom_type == "Point"]
        joined = gpd.sjoin(pts[["geometry"]], grid[["geometry"]], predicate="within")
        shops = joined["index_right"].value_counts().reindex(grid.index).fillna(0).to_numpy(float)
    grid["shop_count"] = shops
    activity = grid["road_length"] + 2 * resid_m + SHOP_M * grid["shop_count"]
    grid["start_count"] = activity.to_numpy(float)
    grid["end_count"] = activity.to_numpy(float)
    grid["basis"] = "land use"
    grid = grid[grid["road_length"] > 0].copy()
    grid.index = pd.RangeIndex(len(grid), name="fid")
    return grid
