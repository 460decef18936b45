"""Shared-bike quota zoning on H3 cells (共享单车有序骑): ``city.bikes``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layers.registry import OSM_ATTRIBUTION
from twin.bikes.service import BikeService
from twin.bundle import BuildContext

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["BikeService", "load", "build_step"]

_ATTRIBUTION = "Mobike Shanghai sample (CC0) + synthetic trips (citytwin) | " + OSM_ATTRIBUTION


def _service(layers) -> BikeService:  # noqa: ANN001 - a LayerRegistry
    return BikeService(layers["bike_grid"].data, layers["pois"].data, layers["roads"].data)


def build_step(ctx: BuildContext) -> None:
    """Register ``bike_cells`` (H3 res 9 quotas) and ``bike_fences`` for the tile service."""
    if "bike_grid" not in ctx.layers:
        return
    service = _service(ctx.layers)
    cells = service.quotas(res=9).rename_axis("fid")
    ctx.layers.add("bike_cells", cells, title="单车配额 Bike quotas (H3 res 9)",
                   source="synthetic", attribution=_ATTRIBUTION, minzoom=10,
                   description="Quota per H3 cell from real demand and synthetic trips")
    fences = service.fences(res=9).rename_axis("fid")
    ctx.layers.add("bike_fences", fences, title="电子围栏 Parking fences", source="synthetic",
                   attribution=_ATTRIBUTION, minzoom=13,
                   description="Parking fences on the street nearest each busy cell")


def load(city: City) -> BikeService:
    """Open the bike model on the city's bike grid, POIs and roads."""
    return _service(city.layers)


