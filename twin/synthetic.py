"""Synthetic facilities for a twin where no open data exists.

No openly licensed source gives schools with capacities, fire stations, ambulance bases
or residential blocks with households for the embedded city, so they are generated here,
reproducibly (a fixed seed), from the real layers, and every record carries
``source = "synthetic"``. The method (also in ``data/README.md``):

* **homes** — residential blocks. Each real 1 km Mobike grid cell over the network
  carries its OSM ``residential_area`` (m²). Floor area = residential area × a floor-area
  ratio of :data:`FLOOR_AREA_RATIO`; households = floor area / :data:`M2_PER_HOUSEHOLD`.
  Blocks are placed at points along the residential and tertiary roads of the cell,
  offset :data:`BLOCK_OFFSET_M` from the centreline, and the cell's households are split
  over them (Dirichlet). Population = households × :data:`PERSONS_PER_HOUSEHOLD`;
  children of primary (6–11) and middle (12–14) school age are Poisson draws with the
  shares :data:`PRIMARY_SHARE`, :data:`MIDDLE_SHARE` of the population.
* **schools** — primary and middle schools placed by k-means on the children of each
  level (so schools sit where children live, not evenly), snapped to the nearest road;
  capacity = level demand × :data:`CAPACITY_RATIO` split in proportion to the k-means
  cluster sizes and rounded to classes of 45 (primary) or 50 (middle).
* **fire stations** and **ambulance stations** — k-means over the road nodes' positions;
  each station sits at the node nearest a cluster centre, so stations are spread.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.cluster.vq import kmeans2

__all__ = [
    "FLOOR_AREA_RATIO",
    "M2_PER_HOUSEHOLD",
    "PERSONS_PER_HOUSEHOLD",
    "PRIMARY_SHARE",
    "MIDDLE_SHARE",
    "CAPACITY_RATIO",
    "BLOCK_OFFSET_M",
    "make_homes",
    "make_schools",
    "make_stations",
]

FLOOR_AREA_RATIO = 3.0
M2_PER_HOUSEHOLD = 80.0
PERSONS_PER_HOUSEHOLD = 2.4
PRIMARY_SHARE = 0.045
MIDDLE_SHARE = 0.022
CAPACITY_RATIO = {"primary": 0.92, "middle": 1.05}
CLASS_SIZE = {"primary": 45, "middle": 50}
BLOCK_OFFSET_M = 25.0
BLOCK_SPACING_M = 120.0
_SOURCE = "synthetic"


def _utm(gdf: gpd.GeoDataFrame) -> object:
    return gdf.estimate_utm_crs()


def make_homes(
    roads: gpd.GeoDataFrame, grid: gpd.GeoDataFrame, *, seed: int = 42
) -> gpd.GeoDataFrame:
    """Generate residential blocks with households, population and school-age children.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        The ``roads`` layer (EPSG:4326) with ``highway``.
    grid : geopandas.GeoDataFrame
        Real grid cells with ``residential_area`` (m²).
    seed : int
        Random seed.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``id``, ``households``, ``population``, ``children_primary``,
        ``children_middle``, ``grid_cell``, ``source`` = ``"synthetic"``.
    """
    rng = np.random.default_rng(seed)
    utm = _utm(roads)
    local = roads[roads["highway"].isin(["residential", "tertiary", "unclassified",
                                          "secondary"])].to_crs(utm)
    grid_m = grid.to_crs(utm)
    rows = []
    for cell_id, cell in grid_m.iterrows():
        # the cell may be clipped to the network: keep the clipped share of its area
        share_in = float(cell.get("area_share", 1.0))
        area = float(cell.get("residential_area", 0.0) or 0.0) * share_in
        if area <= 0:
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
        households_total = area * FLOOR_AREA_RATIO / M2_PER_HOUSEHOLD
        shares = rng.dirichlet(np.full(len(points), 4.0))
        for p, share in zip(points, shares, strict=True):
            households = int(round(households_total * share))
            if households <= 0:
                continue
            population = int(round(households * PERSONS_PER_HOUSEHOLD))
            rows.append(
                {
                    "households": households,
                    "population": population,
                    "children_primary": int(rng.poisson(population * PRIMARY_SHARE)),
                    "children_middle": int(rng.poisson(population * MIDDLE_SHARE)),
                    "grid_cell": int(cell_id),
                    "geometry": p,
                }
            )
    homes = gpd.GeoDataFrame(rows, geometry="geometry", crs=utm).to_crs(4326)
    homes.insert(0, "id", [f"H{i:05d}" for i in range(len(homes))])
    homes["source"] = _SOURCE
    homes.index = pd.RangeIndex(len(homes), name="fid")
    return homes


def _nearest_road(roads: gpd.GeoDataFrame, pts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    utm = _utm(roads)
    named = roads[roads["name"].notna()].to_crs(utm)[["name", "geometry"]]
    joined = gpd.sjoin_nearest(pts.to_crs(utm), named, how="left", distance_col="road_dist_m")
    return joined[~joined.index.duplicated()].to_crs(4326)


def make_schools(
    homes: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, counts: dict[str, int] | None = None,
    seed: int = 42,
) -> gpd.GeoDataFrame:
    """Generate primary and middle schools with capacities near their pupils.

    Parameters
    ----------
    homes : geopandas.GeoDataFrame
        From :func:`make_homes`.
    roads : geopandas.GeoDataFrame
        The ``roads`` layer, for names and snapping.
    counts : dict, optional
        Schools per level; default scales with demand (about one school per 450 pupils).
    seed : int
        Random seed.

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``id``, ``name``, ``level``, ``capacity``, ``address``, ``source``.
    """
    utm = _utm(homes)
    xy = np.column_stack([homes.to_crs(utm).geometry.x, homes.to_crs(utm).geometry.y])
    frames = []
    for level, column in (("primary", "children_primary"), ("middle", "children_middle")):
        demand = homes[column].to_numpy(dtype=float)
        total = demand.sum()
        k = (counts or {}).get(level) or max(2, int(round(total / 450)))
        weights = np.repeat(np.arange(len(xy)), demand.astype(int))
        sample = xy[weights] if len(weights) >= k else xy
        centroids, labels = kmeans2(sample, k, seed=seed, minit="++")
        sizes = np.bincount(labels, minlength=k).astype(float)
        sizes = sizes / sizes.sum() * total * CAPACITY_RATIO[level]
        unit = CLASS_SIZE[level]
        capacity = np.maximum(unit * 6, np.round(sizes / unit) * unit).astype(int)
        pts = gpd.GeoDataFrame(
            {"level": level, "capacity": capacity},
            geometry=gpd.points_from_xy(centroids[:, 0], centroids[:, 1]), crs=utm,
        )
        frames.append(pts)
    schools = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=utm).to_crs(4326)
    near = _nearest_road(roads, schools)
    rng = np.random.default_rng(seed)
    doors = rng.integers(1, 400, size=len(schools))
    label = {"primary": "小学", "middle": "中学"}
    ordinal = schools.groupby("level").cumcount() + 1
    schools["name"] = [
        f"模拟{road}{label[lvl]}{i}" if isinstance(road, str) else f"模拟第{i}{label[lvl]}"
        for road, lvl, i in zip(near["name"], schools["level"], ordinal, strict=True)
    ]
    schools["address"] = [
        f"上海市{road}{door}号" if isinstance(road, str) else None
        for road, door in zip(near["name"], doors, strict=True)
    ]
    schools.insert(0, "id", [f"S{i:03d}" for i in range(len(schools))])
    schools["source"] = _SOURCE
    schools.index = pd.RangeIndex(len(schools), name="fid")
    return schools[["id", "name", "level", "capacity", "address", "source", "geometry"]]


def make_stations(
    graph: nx.MultiDiGraph, *, kind: str, count: int, prefix: str, name_format: str,
    seed: int = 42, exclude: list[int] | None = None,
) -> gpd.GeoDataFrame:
    """Place ``count`` stations at road nodes spread over the network (k-means).

    The road nodes are clustered into ``count`` groups by position; each station sits at
    the node nearest its group's centre, so every station serves a similar share of the
    network.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        The road graph (nodes with ``x``, ``y``).
    kind : str
        ``"fire"`` or ``"ambulance"``.
    count : int
        Number of stations.
    prefix : str
        Id prefix (``"F"``).
    name_format : str
        Name template with ``{i}`` (``"模拟消防站{i}"``).
    seed : int
        Random seed of the clustering.
    exclude : list of int, optional
        Nodes already taken (e.g. by other stations).

    Returns
    -------
    geopandas.GeoDataFrame
        Points with ``id``, ``name``, ``kind``, ``node``, ``source``.
    """
    ids = np.array(list(graph.nodes))
    xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in ids])
    scale = np.array([np.cos(np.radians(xy[:, 1].mean())), 1.0]) * 111_320
    xy_m = (xy - xy.mean(axis=0)) * scale
    centroids, _ = kmeans2(xy_m, count, seed=seed, minit="++")
    free = ~np.isin(ids, exclude or [])
    taken: list[int] = []
    for c in centroids:
        dist = np.linalg.norm(xy_m - c, axis=1)
        dist[~free] = np.inf
        best = int(np.argmin(dist))
        taken.append(best)
        free[best] = False
    gdf = gpd.GeoDataFrame(
        {
            "id": [f"{prefix}{i + 1}" for i in range(count)],
            "name": [name_format.format(i=i + 1) for i in range(count)],
            "kind": kind,
            "node": [int(ids[t]) for t in taken],
            "source": _SOURCE,
        },
        geometry=gpd.points_from_xy(xy[taken, 0], xy[taken, 1]),
        crs=4326,
    )
    gdf.index = pd.RangeIndex(len(gdf), name="fid")
    return gdf
