"""Shared-bike quota zoning on H3 cells (共享单车有序骑): ``city.bikes``.

Works in every city: demand comes from a real trip file when the build is given one
(``build_city(..., inputs={"trips": path})``, ``twin build --trips FILE``), else from
trips simulated on the real Mobike grid (the embedded Shanghai) or on a land-use proxy of
the road network (any other city, :func:`twin.bikes.landuse.land_use_grid`). Every output
says which (``basis``: ``"real"`` or ``"simulated"``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from layers.registry import OSM_ATTRIBUTION, LayerRegistry
from twin.bikes.errors import BikeInputMissing
from twin.bikes.landuse import land_use_grid
from twin.bikes.service import BikeService
from twin.bikes.trips import MOBIKE_COLUMNS, read_trips
from twin.bundle import BuildContext

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["derive", "BikeService", "TRIPS_DIR", "load", "build_step", "service_from_layers"]

logger = logging.getLogger(__name__)

#: Bundle sub-directory holding a city's real trips (``trips.parquet``, ``trips.json``).
TRIPS_DIR = "bikes"
_LANDUSE_LAYER = "bike_landuse_grid"


def _attribution(service: BikeService) -> str:
    parts = []
    if service.demand_basis == "real":
        parts.append("Mobike Shanghai sample (CC0)")
    parts.append("real trips" if service.basis == "real" else "synthetic trips (citytwin)")
    return " + ".join(parts) + " | " + OSM_ATTRIBUTION


def service_from_layers(layers: LayerRegistry | Any, *, trips: pd.DataFrame | None = None,
                        **options: Any) -> BikeService:
    """The bike service on a city's layers: the real ``bike_grid`` if present, else the
    land-use grid (``bike_landuse_grid``, or computed from ``roads``).

    Raises
    ------
    BikeInputMissing
        The city has no ``roads`` layer.
    """
    if "roads" not in layers:
        raise BikeInputMissing("bikes need the city's roads layer, which this city lacks")
    roads = layers["roads"].data
    pois = layers["pois"].data if "pois" in layers else None
    if "bike_grid" in layers:
        grid = layers["bike_grid"].data
    elif _LANDUSE_LAYER in layers:
        grid = layers[_LANDUSE_LAYER].data
    else:
        grid = None
    return BikeService(grid, pois, roads, trips=trips, **options)


def _write_trips(bundle_dir: Path, path: Path, trips: pd.DataFrame) -> None:
    target = bundle_dir / TRIPS_DIR
    target.mkdir(parents=True, exist_ok=True)
    columns = [c for c in MOBIKE_COLUMNS if c in trips.columns]
    frame = trips[columns].copy()
    if "track" in frame.columns:
        frame["track"] = frame["track"].astype(str)
    frame.to_parquet(target / "trips.parquet", index=False)
    (target / "trips.json").write_text(json.dumps(
        {"basis": "real", "file": path.name, "trips": len(frame)}, indent=2))


def _read_trips(bundle_dir: Path) -> pd.DataFrame | None:
    path = Path(bundle_dir) / TRIPS_DIR / "trips.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def build_step(ctx: BuildContext) -> None:
    """Register ``bike_cells`` (H3 res 9 quotas) and ``bike_fences`` for the tile service.

    Uses the real trips of ``ctx.extras["inputs"]["trips"]`` when given (stored in the
    bundle), and registers the land-use grid (``bike_landuse_grid``, synthetic) when the
    city has no real Mobike grid.

    Raises
    ------
    InvalidTrips
        The trip file is unreadable or not in the Mobike schema.
    """
    if "roads" not in ctx.layers or not len(ctx.layers["roads"].data):
        logger.warning("no roads: the bike layers are not built")
        return
    inputs = ctx.extras.get("inputs") or {}
    trips = None
    if inputs.get("trips") is not None:
        trips = read_trips(inputs["trips"])
        _write_trips(ctx.bundle_dir, Path(inputs["trips"]), trips)
    if "bike_grid" not in ctx.layers:
        pois = ctx.layers["pois"].data if "pois" in ctx.layers else None
        grid = land_use_grid(ctx.layers["roads"].data, pois)
        ctx.layers.add(_LANDUSE_LAYER, gpd.GeoDataFrame(grid, crs=4326),
                       title="单车需求代理网格 Bike demand proxy (land use, synthetic)",
                       source="synthetic", attribution="synthetic (citytwin) | " + OSM_ATTRIBUTION,
                       minzoom=10, description="~1 km cells with a land-use activity index "
                       "(road and residential-road metres, shops) standing in for bike demand")
    service = service_from_layers(ctx.layers, trips=trips)
    source = "trips" if service.basis == "real" else "synthetic"
    cells = service.quotas(res=9).rename_axis("fid")
    ctx.layers.add("bike_cells", cells, title="单车配额 Bike quotas (H3 res 9)",
                   source=source, attribution=_attribution(service), minzoom=12,
                   description=f"Quota per H3 cell on a dry working day; {service.source}")
    fences = service.fences(res=9).rename_axis("fid")
    ctx.layers.add("bike_fences", fences, title="电子围栏 Parking fences", source=source,
                   attribution=_attribution(service), minzoom=13,
                   description="Parking fences on the street nearest each busy cell; "
                   f"{service.source}")


def load(city: City) -> BikeService:
    """The city's current bike model (derived from its layers; see :mod:`twin.live`)."""
    return city.live.model("bikes")


def derive(city: City, frames: Mapping[str, gpd.GeoDataFrame], *,
           base: BikeService | None = None,
           versions: dict[str, int] | None = None) -> BikeService:
    """The bike model with the parking fences of the ``bike_fences`` layer as they are now.

    The demand model (fitted once, on trips) is shared with ``base``; an edited, added or
    removed fence changes the quota of its cell (see :meth:`BikeService.with_fences`).
    """
    if base is None:
        base = service_from_layers(city.layers, trips=_read_trips(city.bundle_dir))
        if "bike_fences" not in frames:
            return base
        return base.with_fences(frames["bike_fences"], versions=versions, baseline=True)
    return base.with_fences(frames.get("bike_fences"), versions=versions)
