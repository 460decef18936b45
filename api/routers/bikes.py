"""Shared-bike quotas over HTTP (共享单车有序骑)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import get_city
from api.geojson import feature_collection
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["bikes"])


@router.get("/bikes/quotas", summary="Quota per H3 cell (合理投放量), demand at an hour")
def get_quotas(
    res: Annotated[int, Query(description="H3 resolution 7-10")] = 9,
    hour: Annotated[int | None, Query(description="0-23; omit for the whole day")] = None,
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """GeoJSON; properties ``h3`` (cell id string), ``quota``, ``pickups``, ``dropoffs``,
    ``net_flow``, ``basis`` (``real`` or ``simulated`` trips) and ``source``; 400 for a
    resolution outside 7-10 or an hour outside 0-23."""
    bikes = city.bikes
    return feature_collection(bikes.quotas(res=res, hour=hour), bikes.versions)


@router.get("/bikes/fences", summary="Parking fences (电子围栏)")
def get_fences(res: Annotated[int, Query()] = 9, city: City = Depends(get_city)) -> dict[str, Any]:
    """GeoJSON polygons with ``capacity`` and the cell's ``quota``."""
    bikes = city.bikes
    return feature_collection(bikes.fences(res=res), bikes.versions)


@router.get("/bikes/rebalancing", summary="Rebalancing moves before a peak")
def get_rebalancing(period: Annotated[str, Query(max_length=4)] = "am",
                    res: Annotated[int, Query()] = 9,
                    city: City = Depends(get_city)) -> dict[str, Any]:
    """Moves (from cell, to cell, bikes, metres) of the exact min-cost plan; ``am`` or ``pm``."""
    moves = city.bikes.rebalancing(period=period, res=res)
    return {"period": period, "bikes_moved": int(moves["bikes"].sum()) if len(moves) else 0,
            "moves": moves.to_dict("records")}


@router.get("/bikes/metrics", summary="精准投放率 and 乱停乱放率, ours vs the status quo, with "
            "what each figure is measured on")
def get_metrics(res: Annotated[int, Query()] = 9, city: City = Depends(get_city)) -> dict[str, Any]:
    """``figures``: each figure as ``{value, basis, what}``, ``basis`` = ``real`` or
    ``simulated`` (trips; ``real`` for the held-out real grid cells; ``none`` where the city
    cannot have the figure); ``days`` per held-out day; ``how`` explains every computation.
    422 when the city's trips have fewer than two days."""
    return city.bikes.metrics(res=res)
