"""Emergency routing over HTTP: routes, green waves, dispatch, isochrones, coverage."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import get_city
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["routing"])
# Point-to-point routes take about a millisecond (contraction hierarchies): their handlers
# run on the event loop, which is cheaper than a hop to the thread pool and back. One-to-many
# work (dispatch, coverage, isochrones) stays in the thread pool.


class Location(BaseModel):
    """``{"lon", "lat"}``, ``{"address"}``, ``{"station"}`` or ``{"node"}``."""

    model_config = ConfigDict(extra="forbid")
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    address: str | None = Field(None, min_length=1, max_length=200)
    station: str | None = Field(None, min_length=1, max_length=64)
    node: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_form(self) -> Location:
        forms = [self.lon is not None and self.lat is not None, self.address is not None,
                 self.station is not None, self.node is not None]
        if sum(forms) != 1 or ((self.lon is None) != (self.lat is None)):
            raise ValueError("give exactly one of lon+lat, address, station or node")
        return self

    def as_dict(self) -> dict[str, Any]:
        """The location as the routing service takes it."""
        return self.model_dump(exclude_none=True)


class RouteRequest(BaseModel):
    """A route for normal traffic."""

    model_config = ConfigDict(extra="forbid")
    origin: Location
    destination: Location
    depart_at: dt.datetime | None = None


class EmergencyRequest(RouteRequest):
    """An emergency run with a green wave."""

    vehicle: Literal["fire", "ambulance"] = "fire"


class PositionUpdate(BaseModel):
    """A live position of an emergency vehicle."""

    model_config = ConfigDict(extra="forbid")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    at: dt.datetime | None = None


class DispatchRequest(BaseModel):
    """Which station reaches an incident first."""

    model_config = ConfigDict(extra="forbid")
    incident: Location
    vehicle: Literal["fire", "ambulance"] = "fire"
    limit: int = Field(5, ge=1, le=50)


@router.post("/routes", summary="Fastest route for normal traffic")
async def post_route(body: RouteRequest, city: City = Depends(get_city)) -> dict[str, Any]:
    """Route as GeoJSON geometry with ``distance_m`` and ``eta_s`` (signal delays included)."""
    return city.routing.route(body.origin.as_dict(), body.destination.as_dict(),
                              depart_at=body.depart_at)


@router.post("/routes/emergency", summary="Emergency route with its green wave (一路绿灯)")
async def post_emergency(body: EmergencyRequest, city: City = Depends(get_city)) -> dict[str, Any]:
    """Route, ETA with and without priority, and the priority plan of every signal."""
    return city.routing.emergency_route(body.origin.as_dict(), body.destination.as_dict(),
                                        vehicle=body.vehicle, depart_at=body.depart_at)


@router.post("/routes/emergency/{run_id}/position", summary="Re-plan from a live position")
async def post_position(run_id: Annotated[str, PathParam(max_length=64)], body: PositionUpdate,
                  city: City = Depends(get_city)) -> dict[str, Any]:
    """The run re-planned from the reported position."""
    return city.routing.update_position(run_id, body.lon, body.lat, body.at)


@router.delete("/routes/emergency/{run_id}", status_code=204,
               summary="Finish an emergency run (its green windows are released)")
async def delete_emergency(run_id: Annotated[str, PathParam(max_length=64)],
                     city: City = Depends(get_city)) -> Response:
    """Forget the run; ``404`` when there is no such active run."""
    city.routing.finish(run_id)
    return Response(status_code=204)


@router.post("/dispatch", summary="Stations ranked by ETA to an incident (消防一键护航)")
def post_dispatch(body: DispatchRequest, city: City = Depends(get_city)) -> dict[str, Any]:
    """Ranked stations with ETA with and without green wave."""
    return {"incident": body.incident.as_dict(), "vehicle": body.vehicle,
            "stations": city.routing.dispatch(body.incident.as_dict(), vehicle=body.vehicle,
                                              limit=body.limit)}


@router.get("/coverage", summary="Share of roads and households reached in N minutes")
def get_coverage(
    vehicle: Literal["fire", "ambulance"] = "fire",
    minutes: Annotated[float, Query(gt=0, le=60)] = 5.0,
    remove: Annotated[list[str] | None, Query(description="station ids taken out")] = None,
    close: Annotated[list[int] | None, Query(description="road edge ids closed")] = None,
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Coverage with and without green wave; what-if via ``remove`` and ``close``."""
    return city.routing.coverage(vehicle=vehicle, minutes=minutes,
                                 remove_stations=remove or (), close_edges=close or ())


@router.get("/isochrones", summary="Area a station reaches within N minutes")
def get_isochrone(
    station: Annotated[str, Query(min_length=1, max_length=64)],
    minutes: Annotated[float, Query(gt=0, le=60)] = 5.0,
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """A GeoJSON Feature with the isochrone polygon."""
    iso = city.routing.isochrone(station, minutes)
    return {"type": "Feature", "geometry": iso.pop("geometry"), "properties": iso}
