"""School districts over HTTP (学位信息一键查)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import get_view
from api.geojson import feature_collection

__all__ = ["router"]

router = APIRouter(tags=["schools"])

Level = Annotated[str, Query(max_length=16, description="kindergarten, primary or middle")]


@router.get("/schools", summary="Schools with capacity and assigned pupils (GeoJSON)")
def get_schools(level: Level = "primary", view: Any = Depends(get_view)) -> dict[str, Any]:
    """Properties include ``capacity``, ``assigned`` and ``utilisation``; 400 for a bad level."""
    schools = view.schools
    return feature_collection(schools.schools_table(level), schools.versions)


@router.get("/schools/districts", summary="School districts (学区) as polygons")
def get_districts(level: Level = "primary", view: Any = Depends(get_view)) -> dict[str, Any]:
    """One polygon per school; ``parts`` = 1 for a contiguous district."""
    schools = view.schools
    return feature_collection(schools.districts(level), schools.versions)


@router.get("/schools/lookup", summary="Which school for this address (一键查)")
def lookup(
    address: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    level: Level = "primary",
    view: Any = Depends(get_view),
) -> dict[str, Any]:
    """School, district, walking distance and route, capacity status, and the official
    对口 school when the address names its residents' committee (else ``official`` is
    null); 404 with candidates."""
    schools = view.schools
    return {**schools.lookup(address=address, lon=lon, lat=lat, level=level), "versions": schools.versions}


@router.get("/schools/shortfall", summary="Missing places now and forecast (学位缺口)")
def shortfall(level: Level = "primary", view: Any = Depends(get_view)) -> dict[str, Any]:
    """Unplaced pupils per district and a five-year cohort forecast of the gap."""
    schools = view.schools
    return {**schools.shortfall(level), "versions": schools.versions}


@router.get("/schools/metrics", summary="Assignment quality vs the nearest-school baseline")
def metrics(level: Level = "primary", view: Any = Depends(get_view)) -> dict[str, Any]:
    """Capacity violations, share assigned, walking distances, contiguity."""
    schools = view.schools
    return {**schools.metrics(level), "versions": schools.versions}
