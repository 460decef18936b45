"""Emergency routing over HTTP: routes, green waves, dispatch, isochrones, coverage."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Caller, require_dispatcher, require_role
from api.deps import get_city, get_view, no_scenario
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["routing"])
# Every handler is a plain ``def``: FastAPI runs it in the thread pool, so no CPU work (a
# route query, a scenario's first derivation, a durable write) ever holds the event loop.


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
    """An emergency run with a green wave (``depart_at``: 5 min ago to 24 h ahead)."""

    vehicle: Literal["fire", "ambulance"] = "fire"
    incident_id: str | None = Field(None, min_length=1, max_length=64,
                                    pattern=r"^[A-Za-z0-9_.:\-]+$",
                                    description="the incident several runs serve together")


class PositionUpdate(BaseModel):
    """A live position of an emergency vehicle."""

    model_config = ConfigDict(extra="forbid")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    at: dt.datetime | None = Field(None, description="when the fix was measured (default now)")
    accuracy_m: float = Field(15.0, gt=0, le=500, description="1-sigma horizontal accuracy")


class DispatchRequest(BaseModel):
    """Which station reaches an incident first."""

    model_config = ConfigDict(extra="forbid")
    incident: Location
    vehicle: Literal["fire", "ambulance"] = "fire"
    limit: int = Field(5, ge=1, le=50)
    depart_at: dt.datetime | None = Field(
        None, description="when (roads closed over a window then are avoided); default now")


@router.post("/routes", summary="Fastest route for normal traffic")
def post_route(body: RouteRequest, view: Any = Depends(get_view)) -> dict[str, Any]:
    """Route as GeoJSON geometry with ``distance_m`` and ``eta_s`` (signal delays included)."""
    return view.routing.route(body.origin.as_dict(), body.destination.as_dict(),
                              depart_at=body.depart_at)


#: Reading one run (its route and position history) is for dispatchers too.
_read_runs = require_role("dispatcher", "admin", write=False)
RunId = Annotated[str, PathParam(max_length=64)]
# Run writes hold a cross-process lock and fsync (or commit): plain ``def`` handlers, so
# they run in the thread pool, off the event loop.


@router.post("/routes/emergency", dependencies=[Depends(no_scenario)],
             summary="Dispatch an emergency run with its green wave (一路绿灯)")
def post_emergency(body: EmergencyRequest, caller: Caller = Depends(require_dispatcher),
                   city: City = Depends(get_city)) -> dict[str, Any]:
    """Route, ETA with and without priority, and the priority plan of every signal, planned
    around the other active runs' green windows and shared by every worker. Needs a
    ``dispatcher`` or ``admin`` key."""
    return city.runs.create(body.origin.as_dict(), body.destination.as_dict(),
                            vehicle=body.vehicle, depart_at=body.depart_at,
                            incident_id=body.incident_id, actor=caller.actor)


@router.get("/routes/emergency", summary="Signals held for emergency runs (no vehicles)")
def get_held_signals(city: City = Depends(get_city)) -> dict[str, Any]:
    """Per junction and phase, the green windows held now or later (ISO 8601 start/end)
    and how many runs and incidents share them."""
    return city.runs.held_signals()


@router.get("/routes/emergency/{run_id}", summary="One active emergency run")
def get_emergency(run_id: RunId, caller: Caller = Depends(_read_runs),
                  city: City = Depends(get_city)) -> dict[str, Any]:
    """The run as last planned, by any worker; ``404`` when it is not active."""
    return city.runs.get(run_id)


@router.post("/routes/emergency/{run_id}/position", dependencies=[Depends(no_scenario)],
             summary="Re-plan from a live position")
def post_position(run_id: RunId, body: PositionUpdate,
                  caller: Caller = Depends(require_dispatcher),
                  city: City = Depends(get_city)) -> dict[str, Any]:
    """The run re-planned from the reported position."""
    return city.runs.update_position(run_id, body.lon, body.lat, body.at,
                                     accuracy_m=body.accuracy_m, actor=caller.actor)


@router.delete("/routes/emergency/{run_id}", status_code=204,
               summary="Finish an emergency run (its green windows are released)")
def delete_emergency(run_id: RunId, caller: Caller = Depends(require_dispatcher),
                     city: City = Depends(get_city)) -> Response:
    """End the run; ``404`` when there is no such active run."""
    city.runs.finish(run_id, actor=caller.actor)
    return Response(status_code=204)


@router.post("/dispatch", summary="Stations ranked by ETA to an incident (消防一键护航)")
def post_dispatch(body: DispatchRequest, view: Any = Depends(get_view)) -> dict[str, Any]:
    """Ranked stations with ETA with and without green wave."""
    routing = view.routing
    return {"incident": body.incident.as_dict(), "vehicle": body.vehicle,
            "stations": routing.dispatch(body.incident.as_dict(), vehicle=body.vehicle,
                                         limit=body.limit, depart_at=body.depart_at),
            "versions": routing.versions}


@router.get("/coverage", summary="Share of roads and households reached in N minutes")
def get_coverage(
    vehicle: Literal["fire", "ambulance"] = "fire",
    minutes: Annotated[float, Query(gt=0, le=60)] = 5.0,
    remove: Annotated[list[str] | None, Query(description="station ids taken out")] = None,
    close: Annotated[list[str] | None, Query(
        max_length=500, description="road feature ids closed (a one-shot scenario)")] = None,
    depart_at: Annotated[dt.datetime | None, Query(
        description="when (roads closed over a window then are left out); default now")] = None,
    view: Any = Depends(get_view),
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Coverage with and without green wave; what-if via ``remove``, ``close`` or a
    stored ``scenario`` (``close`` adds its closures on top of the scenario's edits)."""
    from twin.scenarios import Scenario

    if close:
        edits = [{"layer": "roads", "id": fid, "properties": {"closed": True}} for fid in close]
        view = Scenario.from_edits(city, [*getattr(view, "edits", []), *edits])
    return view.routing.coverage(vehicle=vehicle, minutes=minutes,
                                 remove_stations=remove or (), depart_at=depart_at)


@router.get("/isochrones", summary="Area a station reaches within N minutes")
def get_isochrone(
    station: Annotated[str, Query(min_length=1, max_length=64)],
    minutes: Annotated[float, Query(gt=0, le=60)] = 5.0,
    depart_at: Annotated[dt.datetime | None, Query()] = None,
    view: Any = Depends(get_view),
) -> dict[str, Any]:
    """A GeoJSON Feature with the isochrone polygon."""
    iso = view.routing.isochrone(station, minutes, depart_at=depart_at)
    return {"type": "Feature", "geometry": iso.pop("geometry"), "properties": iso}
