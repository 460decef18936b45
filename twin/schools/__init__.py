"""School-district matching (学位信息一键查 / 学区划片): the City's ``city.schools``.

Build: :func:`homes_step` makes the ``homes`` layer early (the raster and routing steps
read it), from the land-use grid and, when the city brings one, a population GeoTIFF
(``ctx.extras["inputs"]["population"]``). :func:`build_step` (last) makes the ``schools``
layer — the real schools of ``ctx.extras["inputs"]["schools"]`` (GeoJSON / CSV, WGS84,
GCJ-02 or BD-09) inside the extent, plus generated schools where the data has none — and
the ``school_districts`` layer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from layers.registry import OSM_ATTRIBUTION
from twin.bundle import BuildContext
from twin.schools._build import (
    SYNTHETIC_ATTRIBUTION,
    address_prefix,
    make_city_homes,
    make_city_schools,
)
from twin.schools.official import CommitteeIndex
from twin.schools.service import LEVELS, SchoolService

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["derive", "LEVELS", "SchoolService", "CommitteeIndex", "load", "build_step", "homes_step"]

logger = logging.getLogger(__name__)


def homes_step(ctx: BuildContext, grid: gpd.GeoDataFrame) -> None:
    """Register the ``homes`` layer: residential blocks over the road network's extent.

    Parameters
    ----------
    ctx : BuildContext
        Needs the ``roads`` layer; ``ctx.extras["inputs"]["population"]`` (a GeoTIFF of
        persons per pixel, any CRS) replaces the land-use population estimate.
    grid : geopandas.GeoDataFrame
        Cells with ``residential_area`` (the Mobike grid, or a proxy from the roads).
    """
    population = (ctx.extras.get("inputs") or {}).get("population")
    homes, report = make_city_homes(ctx.layers["roads"].data, grid, seed=ctx.seed,
                                    population=population)
    ctx.extras.setdefault("report", {})["homes"] = report
    if population is not None:
        title = "住宅街坊 Residential blocks (synthetic, population from raster)"
        attribution = f"population: {population.name} | {SYNTHETIC_ATTRIBUTION}"
        description = (f"Blocks placed along residential roads; persons per land-use cell "
                       f"from {population.name} ({report.get('raster_persons_in_extent', 0)} "
                       f"in the extent, {report['persons']} placed)")
    else:
        title = "住宅街坊 Residential blocks (synthetic)"
        attribution = SYNTHETIC_ATTRIBUTION
        description = "Generated reproducibly from the land-use grid; see data/README.md"
    ctx.layers.add("homes", homes, title=title, source="synthetic", attribution=attribution,
                   minzoom=14, description=description)


def _build_geocoder(ctx: BuildContext):  # noqa: ANN202 - a callable or None
    directory = ctx.bundle_dir / "address"
    if not (directory / "doors.parquet").is_file():
        return None
    from address.gazetteer import Gazetteer
    from address.geocode import Geocoder

    geocoder = Geocoder(Gazetteer.load(directory))
    return lambda text: geocoder.geocode(text, limit=1)


def build_step(ctx: BuildContext) -> None:
    """Register the ``schools`` layer (real + generated) and ``school_districts``.

    The report (``ctx.extras["report"]["schools"]``, the log and the layer's description)
    says how many real schools were kept and how many outside the extent were dropped.
    """
    if "homes" not in ctx.layers or not len(ctx.layers["homes"].data):
        logger.warning("no homes: the schools step is skipped")
        return
    homes = ctx.layers["homes"].data
    schools_file = (ctx.extras.get("inputs") or {}).get("schools")
    schools, report = make_city_schools(
        homes, ctx.layers["roads"].data, prefix=address_prefix(ctx), seed=ctx.seed,
        schools_file=schools_file, geocode=_build_geocoder(ctx) if schools_file else None)
    ctx.extras.setdefault("report", {})["schools"] = report
    n_real = report["real"]
    if schools_file is not None:
        summary = (f"{n_real} real schools, {report['outside_dropped']} outside the extent "
                   f"dropped (of {report['in_file']} in {schools_file.name}); "
                   f"{report['synthetic']} generated where the data has none")
        attribution = (f"schools: {schools_file.name} (coordinates converted to WGS84) | "
                       f"{SYNTHETIC_ATTRIBUTION}")
    else:
        summary = f"{report['synthetic']} generated schools; see data/README.md"
        attribution = SYNTHETIC_ATTRIBUTION
    source = ("real+synthetic" if n_real and report["synthetic"]
              else "real" if n_real else "synthetic")
    ctx.layers.add("schools", schools, title="学校 Schools" + (" (synthetic)" if not n_real else ""),
                   source=source, attribution=attribution, minzoom=11,
                   description=summary + "; capacities without data are generated "
                   "(capacity_source)")
    service = SchoolService(ctx.graph, schools, homes)
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
    """The city's current school service (derived from its layers; see :mod:`twin.live`)."""
    return city.live.model("schools")


def derive(city: City, frames: Mapping[str, gpd.GeoDataFrame], *,
           base: SchoolService | None = None,
           versions: dict[str, int] | None = None) -> SchoolService:
    """The school service on the ``schools`` and ``homes`` layers as they are now.

    A school's capacity, a new or closed school, or the pupils of a home change the
    assignment, the districts, lookups and shortfalls of the next answer. The walking
    network and the residents' committees are shared with ``base``.
    """
    if base is not None:
        walk, committees, geocoder = base.walk, base.committees, base.geocoder
    else:
        layers = city.layers
        walk, committees = None, CommitteeIndex(
            layers["communities"].data if "communities" in layers else None,
            layers["streets"].data if "streets" in layers else None)

        def geocoder(text: str) -> list[dict]:
            return city.address.geocode(text, limit=1)

    return SchoolService(city.graph, frames["schools"], frames["homes"], geocoder=geocoder,
                         committees=committees, walk=walk, versions=versions)
