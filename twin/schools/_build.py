"""Build helpers of the school model: homes (early) and schools (real + generated)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from layers.registry import OSM_ATTRIBUTION
from twin import synthetic
from twin.bundle import BuildContext
from twin.schools.inputs import population_by_cell, read_schools

__all__ = ["make_city_homes", "make_city_schools", "address_prefix", "served_areas",
           "extent_of", "SERVED_BUFFER_M"]

logger = logging.getLogger(__name__)

SYNTHETIC_ATTRIBUTION = "synthetic (citytwin), derived from " + OSM_ATTRIBUTION
#: How far around the convex hull of a level's real schools their data is taken to be
#: complete: generated schools of that level are only made for homes outside (metres).
SERVED_BUFFER_M = {"kindergarten": 500.0, "primary": 700.0, "middle": 1000.0}


def address_prefix(ctx: BuildContext) -> str:
    """The division written before a road in generated addresses: ``"上海市"`` for the
    embedded city, the division's name when a build step put one in
    ``ctx.extras["division"]`` (a str, or a mapping / object with ``name``), else ``""``."""
    if ctx.extras.get("embedded"):
        return "上海市"
    division = ctx.extras.get("division")
    if isinstance(division, str):
        return division
    name = division.get("name") if isinstance(division, dict) else getattr(division, "name", None)
    return name if isinstance(name, str) else ""


def _utm(gdf: gpd.GeoDataFrame) -> object:
    return gdf.estimate_utm_crs()


def make_city_homes(roads: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, *, seed: int,
                    population: Path | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Homes over the road network's extent from a land-use grid (and a population raster).

    The grid cells are clipped to the bounding box of the roads; each keeps the share of
    its area inside (``area_share``) so the land-use estimate is not counted for the
    clipped part. With ``population`` the persons of each clipped cell come from the
    raster (:func:`~twin.schools.inputs.population_by_cell`).

    Returns
    -------
    tuple
        The homes and a report (``population_source``, raster persons in the extent,
        persons placed).
    """
    core_area = shapely.box(*roads.total_bounds)
    cells = grid[grid.intersects(core_area)].copy()
    clipped = cells.geometry.intersection(core_area)
    utm = _utm(roads)
    cells["area_share"] = clipped.to_crs(utm).area / cells.geometry.to_crs(utm).area
    cells["geometry"] = clipped
    persons = None
    if population is not None:
        persons = population_by_cell(population, cells)
    homes = synthetic.make_homes(roads, cells, seed=seed, population=persons)
    report = {"population_source": "raster" if persons is not None else "land_use",
              "persons": int(homes["population"].sum()) if len(homes) else 0}
    if persons is not None:
        report["raster_persons_in_extent"] = round(float(persons.sum()))
        if persons.sum() > 0:
            lost = 1 - report["persons"] / persons.sum()
            if lost > 0.05:
                logger.warning("%.0f%% of the raster's population lies in cells without "
                               "residential roads and got no homes", 100 * lost)
    return homes, report


def extent_of(roads: gpd.GeoDataFrame) -> shapely.Geometry:
    """The twin's extent (WGS84): the bounding box of the roads, as for the homes."""
    return shapely.box(*roads.total_bounds)


def served_areas(real: gpd.GeoDataFrame) -> dict[str, shapely.Geometry]:
    """Per level, the convex hull of the real schools buffered by :data:`SERVED_BUFFER_M`."""
    out = {}
    if real is None or not len(real):
        return out
    utm = _utm(real)
    for level, group in real.groupby("level"):
        pts = group.to_crs(utm).geometry
        area = shapely.MultiPoint(list(pts)).convex_hull.buffer(
            SERVED_BUFFER_M.get(level, 700.0))
        out[str(level)] = gpd.GeoSeries([area], crs=utm).to_crs(4326).iloc[0]
    return out


def _nearest_demand_capacity(schools: gpd.GeoDataFrame, homes: gpd.GeoDataFrame) -> np.ndarray:
    """Capacity of each school from the pupils of the homes nearest to it (among the
    schools of its level), rounded to classes (:func:`twin.synthetic.class_capacity`)."""
    utm = _utm(homes)
    hm = homes.to_crs(utm)
    hxy = np.column_stack([hm.geometry.x, hm.geometry.y])
    sm = schools.to_crs(utm)
    out = np.zeros(len(schools), dtype=int)
    column = {"kindergarten": "children_kindergarten", "primary": "children_primary",
              "middle": "children_middle"}
    for level, idx in schools.groupby("level").indices.items():
        sxy = np.column_stack([sm.geometry.x.to_numpy()[idx], sm.geometry.y.to_numpy()[idx]])
        _, nearest = cKDTree(sxy).query(hxy)
        pupils = np.bincount(nearest, weights=homes[column[level]].to_numpy(float),
                             minlength=len(idx))
        out[idx] = synthetic.class_capacity(pupils, level)
    return out


def make_city_schools(
    homes: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, prefix: str, seed: int,
    schools_file: Path | None = None, geocode: Callable[[str], list[dict]] | None = None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Real schools inside the extent plus generated ones where the real data has none.

    For each level with real schools, generated schools of that level are made only for
    the homes outside the real schools' served area (:func:`served_areas`); the levels the
    data lacks are generated as a whole. Real schools without a capacity get one from
    the pupils of their nearest homes (``capacity_source = "synthetic"``).

    Returns
    -------
    tuple
        The schools (``source`` ``"real"`` / ``"synthetic"``) and a report: ``real``
        (kept), ``outside_dropped``, ``in_file``, ``levels_real``.
    """
    real = None
    report: dict = {"in_file": 0, "real": 0, "outside_dropped": 0, "levels_real": []}
    if schools_file is not None:
        real = read_schools(schools_file, geocode=geocode)
        inside = real.intersects(extent_of(roads)).to_numpy()
        report.update(in_file=len(real), real=int(inside.sum()),
                      outside_dropped=int((~inside).sum()))
        real = real[inside].reset_index(drop=True)
        report["levels_real"] = sorted(set(real["level"]))
        logger.info("%d real schools, %d outside the extent dropped", report["real"],
                    report["outside_dropped"])
    generated = synthetic.make_schools(homes, roads, address_prefix=prefix, seed=seed,
                                       exclude=served_areas(real))
    frames = [generated]
    if real is not None and len(real):
        real = real.copy()
        frames.insert(0, real)
    schools = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                               crs=4326)
    if len(schools):
        need = schools["capacity"].isna().to_numpy()
        if need.any():
            estimate = _nearest_demand_capacity(schools, homes)
            schools.loc[need, "capacity"] = estimate[need]
            schools.loc[need, "capacity_source"] = "synthetic"
        schools["capacity"] = schools["capacity"].astype(int)
    schools["id"] = [f"S{i:03d}" for i in range(len(schools))]
    for column in ("catchment_committees", "catchment_text", "crs_in", "location"):
        if column not in schools:
            schools[column] = None
    schools.loc[schools["source"] == "synthetic", "location"] = "generated"
    schools.index = pd.RangeIndex(len(schools), name="fid")
    report["synthetic"] = int((schools["source"] == "synthetic").sum())
    report["by_level"] = {str(k): {str(s): int(n) for s, n in v.items()} for k, v in
                          schools.groupby("level")["source"].value_counts().unstack(
                              fill_value=0).iterrows()}
    columns = ["id", "name", "level", "capacity", "capacity_source", "address", "source",
               "catchment_committees", "catchment_text", "crs_in", "location", "geometry"]
    return schools[columns], report
