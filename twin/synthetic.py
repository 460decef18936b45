"""Synthetic facilities for a twin where no open data exists.

No openly licensed source gives school capacities, the schools a city's data lacks,
or residential blocks with households for the embedded city, so they are generated here,
reproducibly (a fixed seed), from the real layers, and every record carries
``source = "synthetic"``. The method (also in ``data/README.md``):

* **homes** — residential blocks. Each real 1 km Mobike grid cell over the network
  carries its OSM ``residential_area`` (m²). Floor area = residential area × a floor-area
  ratio of :data:`FLOOR_AREA_RATIO`; households = floor area / :data:`M2_PER_HOUSEHOLD`.
  Blocks are placed at points along the residential and tertiary roads of the cell,
  offset :data:`BLOCK_OFFSET_M` from the centreline, and the cell's households are split
  over them (Dirichlet). Population = households × :data:`PERSONS_PER_HOUSEHOLD`;
  children of kindergarten (3–5), primary (6–11) and middle (12–14) school age are
  Poisson draws with the shares :data:`KINDERGARTEN_SHARE`, :data:`PRIMARY_SHARE`,
  :data:`MIDDLE_SHARE` of the population. With a population raster the cell's population
  is the raster's sum over the cell instead (``population_source = "raster"``); the
  placement along the roads is the same.
* **schools** — kindergartens, primary and middle schools placed by k-means on the
  children of each level (so schools sit where children live, not evenly), snapped to
  the nearest road; capacity = level demand × :data:`CAPACITY_RATIO` split in proportion
  to the k-means cluster sizes and rounded to classes (:data:`CLASS_SIZE`). Where real
  schools of a level exist, only the homes outside their area (``exclude``) get
  generated schools of that level.

Fire stations and ambulance bases are sited by the planning rules in :mod:`twin.stations`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.cluster.vq import kmeans2

__all__ = [
    "FLOOR_AREA_RATIO",
    "M2_PER_HOUSEHOLD",
    "PERSONS_PER_HOUSEHOLD",
    "KINDERGARTEN_SHARE",
    "PRIMARY_SHARE",
    "MIDDLE_SHARE",
    "CAPACITY_RATIO",
    "CLASS_SIZE",
    "PUPILS_PER_SCHOOL",
    "SCHOOL_LEVELS",
    "BLOCK_OFFSET_M",
    "make_homes",
    "make_schools",
    "class_capacity",
]

FLOOR_AREA_RATIO = 3.0
M2_PER_HOUSEHOLD = 80.0
PERSONS_PER_HOUSEHOLD = 2.4
#: Shares of the population aged 3–5 / 6–11 / 12–14 (Shanghai-like; an assumption, the
#: kindergarten cohorts are smaller as births fell after 2017).
KINDERGARTEN_SHARE = 0.020
PRIMARY_SHARE = 0.045
MIDDLE_SHARE = 0.022
SCHOOL_LEVELS = ("kindergarten", "primary", "middle")
CAPACITY_RATIO = {"kindergarten": 1.0, "primary": 0.92, "middle": 1.05}
CLASS_SIZE = {"kindergarten": 30, "primary": 45, "middle": 50}
#: Default pupils per generated school (sets the number of schools of a level).
PUPILS_PER_SCHOOL = {"kindergarten": 300, "primary": 450, "middle": 450}
_DEMAND = {"kindergarten": "children_kindergarten", "primary": "children_primary",
           "middle": "children_middle"}
_LABEL = {"kindergarten": "幼儿园", "primary": "小学", "middle": "中学"}
BLOCK_OFFSET_M = 25.0
BLOCK_SPACING_M = 120.0
_SOURCE = "synthetic"


def _utm(gdf: gpd.GeoDataFrame) -> object:
    return gdf.estimate_utm_crs()


def make_homes(
    roads: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, *, seed: int = 42,
    population: np.ndarray | pd.Series | None = None,
) -> gpd.GeoDataFrame:
    """Generate residential blocks with households, population and school-age children.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        The ``roads`` layer (EPSG:4326) with ``highway``.
    grid : geopandas.GeoDataFrame
        Real grid cells with ``residential_area`` (m²) and optionally ``area_share`` (the
        share of the cell inside the network's extent).
    seed : int
        Random seed.
    population : array-like, optional
        Persons per grid cell (aligned with ``grid``), e.g. a population raster summed
        over each cell (:func:`twin.schools.inputs.population_by_cell`). It replaces the
        land-use estimate; the blocks are placed the same way.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``id``, ``households``, ``population``, ``children_kindergarten``,
        ``children_primary``, ``children_middle``, ``grid_cell``, ``source`` =
        ``"synthetic"`` and ``population_source`` (``"land_use"`` or ``"raster"``).
    """
    rng = np.random.default_rng(seed)
    # a stream of its own, so adding the kindergarten cohort left the other draws unchanged
    rng_k = np.random.default_rng([seed, 3])
    utm = _utm(roads)
    local = roads[roads["highway"].isin(["residential", "tertiary", "unclassified",
                                          "secondary"])].to_crs(utm)
    grid_m = grid.to_crs(utm)
    persons = None if population is None else np.asarray(population, dtype=float)
    if persons is not None and len(persons) != len(grid_m):
        raise ValueError(f"population has {len(persons)} values for {len(grid_m)} grid cells")
    rows = []
    for pos, (cell_id, cell) in enumerate(grid_m.iterrows()):
        if persons is None:
            # the cell may be clipped to the network: keep the clipped share of its area
            share_in = float(cell.get("area_share", 1.0))
            area = float(cell.get("residential_area", 0.0) or 0.0) * share_in
            households_total = area * FLOOR_AREA_RATIO / M2_PER_HOUSEHOLD
        else:
            households_total = persons[pos] / PERSONS_PER_HOUSEHOLD
        if not households_total > 0:
            continue
        lines = local.clip(cell.geometry)
        lines = lines[~lines.geometry.is_empty]
        if lines.empty:
            continue
        merged = shapely.line_merge(shapely.union_all(lines.geometry.values))
        parts = list(getattr(merged, "geoms", [merged]))
        points = []
        for line in parts:
            n = max(1, int(line.length // BLOCK_SPACING_M))
            for d in (np.arange(n) + 0.5) * line.length / n:
                side = rng.choice([-1.0, 1.0])
                off = line.offset_curve(side * BLOCK_OFFSET_M)
                if off.is_empty:
                    continue
                points.append(off.interpolate(d / line.length, normalized=True))
        points = [p for p in points if cell.geometry.contains(p)]
        if not points:
            continue
        shares = rng.dirichlet(np.full(len(points), 4.0))
        for p, share in zip(points, shares, strict=True):
            households = int(round(households_total * share))
            if households <= 0:
                continue
            people = int(round(households * PERSONS_PER_HOUSEHOLD))
            rows.append(
                {
                    "households": households,
                    "population": people,
                    "children_primary": int(rng.poisson(people * PRIMARY_SHARE)),
                    "children_middle": int(rng.poisson(people * MIDDLE_SHARE)),
                    "children_kindergarten": int(rng_k.poisson(people * KINDERGARTEN_SHARE)),
                    "grid_cell": int(cell_id),
                    "geometry": p,
                }
            )
    columns = ["households", "population", "children_kindergarten", "children_primary",
               "children_middle", "grid_cell", "geometry"]
    homes = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=utm).to_crs(4326)
    homes.insert(0, "id", [f"H{i:05d}" for i in range(len(homes))])
    homes["source"] = _SOURCE
    homes["population_source"] = "land_use" if persons is None else "raster"
    homes.index = pd.RangeIndex(len(homes), name="fid")
    return homes


def _nearest_road(roads: gpd.GeoDataFrame, pts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    utm = _utm(roads)
    named = roads[roads["name"].notna()].to_crs(utm)[["name", "geometry"]]
    joined = gpd.sjoin_nearest(pts.to_crs(utm), named, how="left", distance_col="road_dist_m")
    return joined[~joined.index.duplicated()].to_crs(4326)


def class_capacity(pupils: np.ndarray, level: str) -> np.ndarray:
    """Places for ``pupils`` × :data:`CAPACITY_RATIO` of a level, rounded to whole classes
    of :data:`CLASS_SIZE` (at least six classes)."""
    unit = CLASS_SIZE[level]
    places = np.asarray(pupils, dtype=float) * CAPACITY_RATIO[level]
    return np.maximum(unit * 6, np.round(places / unit) * unit).astype(int)


def make_schools(
    homes: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, address_prefix: str,
    levels: tuple[str, ...] | None = None, counts: dict[str, int] | None = None,
    exclude: dict[str, shapely.Geometry] | None = None, seed: int = 42,
) -> gpd.GeoDataFrame:
    """Generate schools of each level with capacities near their pupils.

    Parameters
    ----------
    homes : geopandas.GeoDataFrame
        From :func:`make_homes`.
    roads : geopandas.GeoDataFrame
        The ``roads`` layer, for names and snapping.
    address_prefix : str
        Put before the road in the generated addresses: the city's division as people
        write it (``"上海市"`` for the embedded city; ``""`` when unknown).
    levels : tuple of str, optional
        Levels to generate; default every level of :data:`SCHOOL_LEVELS` whose demand
        column the homes carry.
    counts : dict, optional
        Schools per level; default scales with demand (:data:`PUPILS_PER_SCHOOL`).
    exclude : dict, optional
        Level -> area (WGS84) already served by real schools of that level: only the
        homes outside it get generated schools, so real and generated ones do not overlap.
    seed : int
        Random seed.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``id``, ``name``, ``level``, ``capacity``, ``capacity_source``,
        ``address``, ``source`` (``"synthetic"``).
    """
    if levels is None:
        levels = tuple(lv for lv in SCHOOL_LEVELS if _DEMAND[lv] in homes.columns)
    utm = _utm(homes)
    homes_m = homes.to_crs(utm)
    xy_all = np.column_stack([homes_m.geometry.x, homes_m.geometry.y])
    frames = []
    for level in levels:
        keep = np.ones(len(homes), dtype=bool)
        area = (exclude or {}).get(level)
        if area is not None and not area.is_empty:
            keep = ~shapely.contains_xy(area, homes.geometry.x.to_numpy(),
                                        homes.geometry.y.to_numpy())
        xy = xy_all[keep]
        demand = homes[_DEMAND[level]].to_numpy(dtype=float)[keep]
        total = demand.sum()
        k = (counts or {}).get(level) or int(round(total / PUPILS_PER_SCHOOL[level]))
        if area is None or area.is_empty:
            k = max(k, 2)  # no real school of this level: at least two
        # (beside real schools, a remainder under half a school is left to them)
        k = min(k, int((demand > 0).sum()))
        if k < 1:
            continue
        weights = np.repeat(np.arange(len(xy)), demand.astype(int))
        if k == 1:
            centroids = np.average(xy, axis=0, weights=demand)[None, :]
            labels = np.zeros(len(weights), dtype=int)
        else:
            centroids, labels = kmeans2(xy[weights], k, seed=seed, minit="++")
        sizes = np.bincount(labels, minlength=k).astype(float)
        sizes = sizes / sizes.sum() * total
        pts = gpd.GeoDataFrame(
            {"level": level, "capacity": class_capacity(sizes, level)},
            geometry=gpd.points_from_xy(centroids[:, 0], centroids[:, 1]), crs=utm,
        )
        frames.append(pts)
    columns = ["id", "name", "level", "capacity", "capacity_source", "address", "source",
               "geometry"]
    if not frames:
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=4326)
    schools = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=utm).to_crs(4326)
    near = _nearest_road(roads, schools)
    rng = np.random.default_rng(seed)
    doors = rng.integers(1, 400, size=len(schools))
    ordinal = schools.groupby("level").cumcount() + 1
    schools["name"] = [
        f"模拟{road}{_LABEL[lvl]}{i}" if isinstance(road, str) else f"模拟第{i}{_LABEL[lvl]}"
        for road, lvl, i in zip(near["name"], schools["level"], ordinal, strict=True)
    ]
    schools["address"] = [
        f"{address_prefix}{road}{door}号" if isinstance(road, str) else None
        for road, door in zip(near["name"], doors, strict=True)
    ]
    schools.insert(0, "id", [f"S{i:03d}" for i in range(len(schools))])
    schools["capacity_source"] = _SOURCE
    schools["source"] = _SOURCE
    schools.index = pd.RangeIndex(len(schools), name="fid")
    return schools[columns]
