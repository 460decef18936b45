"""School-district matching (学位信息一键查 / 学区划片): the City's ``city.schools``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from layers.registry import OSM_ATTRIBUTION
from twin.bundle import BuildContext
from twin.schools.service import LEVELS, SchoolService

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["LEVELS", "SchoolService", "load", "build_step"]


def build_step(ctx: BuildContext) -> None:
    """Register the ``school_districts`` layer (both levels) so the layer service tiles it."""
    if "schools" not in ctx.layers or "homes" not in ctx.layers or not len(ctx.layers["homes"].data):
        return
    service = SchoolService(ctx.graph, ctx.layers["schools"].data, ctx.layers["homes"].data)
    frames = [service.districts(level) for level in LEVELS
              if (service.schools["level"] == level).any()]
    if not frames:
        return
    districts = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    districts = districts.drop(columns="school").rename_axis("fid")
    ctx.layers.add("school_districts", districts, title="学区 School districts (synthetic demand)",
                   source="synthetic", attribution="synthetic (citytwin) | " + OSM_ATTRIBUTION,
                   minzoom=11, description="Capacity-constrained districts from the exact assignment")


def load(city: City) -> SchoolService:
    """Open the school service on the city's schools, homes and road graph."""

    def geocode(text: str) -> list[dict]:
        return city.address.geocode(text, limit=1)

    return SchoolService(city.graph, city.layers["schools"].data, city.layers["homes"].data,
                         geocoder=geocode)
