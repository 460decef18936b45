"""Build step: the raster layers of a twin (COGs in ``<bundle>/rasters``).

* ``population_density`` — persons per km² on a 100 m Web Mercator grid, from the
  (synthetic) ``homes`` layer.
* ``fire_travel_time`` — minutes from the nearest fire station by the emergency profile
  with green wave, for every 50 m cell within 150 m of a routable road node.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.transform import Affine
from scipy.spatial import cKDTree

from layers.raster import write_cog
from layers.registry import OSM_ATTRIBUTION
from routing.engine import PathEngine
from routing.network import RoadNetwork
from routing.profiles import Profile
from twin.bundle import BuildContext

__all__ = ["build_step", "DENSITY_CELL_M", "TRAVEL_CELL_M"]

DENSITY_CELL_M = 100.0
TRAVEL_CELL_M = 50.0
MAX_ROAD_DISTANCE_M = 150.0


def _grid(bounds_3857: np.ndarray, cell: float) -> tuple[Affine, int, int]:
    left, bottom, right, top = bounds_3857
    left, bottom = np.floor(left / cell) * cell, np.floor(bottom / cell) * cell
    right, top = np.ceil(right / cell) * cell, np.ceil(top / cell) * cell
    width, height = int((right - left) / cell), int((top - bottom) / cell)
    return Affine(cell, 0, left, 0, -cell, top), width, height


def _density(ctx: BuildContext) -> None:
    homes = ctx.layers["homes"].data.to_crs(3857)
    roads = ctx.layers["roads"].data.to_crs(3857)
    transform, width, height = _grid(roads.total_bounds, DENSITY_CELL_M)
    cols = ((homes.geometry.x - transform.c) / DENSITY_CELL_M).astype(int).to_numpy()
    rows = ((transform.f - homes.geometry.y) / DENSITY_CELL_M).astype(int).to_numpy()
    grid = np.zeros((height, width))
    ok = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    np.add.at(grid, (rows[ok], cols[ok]), homes["population"].to_numpy(dtype=float)[ok])
    density = grid / (DENSITY_CELL_M * DENSITY_CELL_M / 1e6)
    density[density == 0] = np.nan
    from_raster = "population_source" in homes and (homes["population_source"] == "raster").all()
    basis = "homes placed on a population raster" if from_raster else "synthetic homes"
    write_cog(ctx.bundle_dir / "rasters" / "population_density.tif", density, transform,
              unit="persons/km²", description=f"Population density ({basis})",
              attribution=("population raster + " if from_raster else "synthetic (citytwin) | ")
              + OSM_ATTRIBUTION, vmin=0.0,
              vmax=float(np.nanpercentile(density, 95)) if np.isfinite(density).any() else 1.0)


def _fire_travel_time(ctx: BuildContext) -> None:
    stations = ctx.layers["fire_stations"].data
    network = RoadNetwork.from_layers(ctx.graph, ctx.layers["signals"].data)
    engine = PathEngine(network, Profile.emergency("fire"))
    sources, _ = network.snap_many(stations.geometry.x, stations.geometry.y)
    minutes = engine.multi_source(sources) / 60.0
    roads = ctx.layers["roads"].data.to_crs(3857)
    transform, width, height = _grid(roads.total_bounds, TRAVEL_CELL_M)
    xs = transform.c + (np.arange(width) + 0.5) * TRAVEL_CELL_M
    ys = transform.f - (np.arange(height) + 0.5) * TRAVEL_CELL_M
    gx, gy = np.meshgrid(xs, ys)
    nodes = pd.DataFrame(network.xy, columns=["lon", "lat"])
    pts = gpd.GeoSeries(gpd.points_from_xy(nodes["lon"], nodes["lat"]), crs=4326).to_crs(3857)
    routable = np.flatnonzero(network.routable)
    tree = cKDTree(np.column_stack([pts.x.to_numpy()[routable], pts.y.to_numpy()[routable]]))
    dist, pos = tree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    values = minutes[routable[pos]]
    values[dist > MAX_ROAD_DISTANCE_M] = np.nan
    write_cog(ctx.bundle_dir / "rasters" / "fire_travel_time.tif", values.reshape(gx.shape),
              transform, unit="min", description="Minutes from the nearest fire station "
              "(emergency profile with green wave; stations synthetic)",
              attribution="synthetic (citytwin) | " + OSM_ATTRIBUTION, vmin=0.0, vmax=8.0,
              reverse=True)


def build_step(ctx: BuildContext) -> None:
    """Write the raster layers into ``ctx.bundle_dir / "rasters"``."""
    if "homes" in ctx.layers and len(ctx.layers["homes"].data):
        _density(ctx)
    if "fire_stations" in ctx.layers and len(ctx.layers["fire_stations"].data):
        _fire_travel_time(ctx)
