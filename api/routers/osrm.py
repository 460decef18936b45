"""OSRM-compatible ``/route/v1`` and ``/table/v1`` on the same engines as the native API.

Profiles: ``driving`` is normal traffic at the request time (as ``POST /routes``);
``fire`` and ``ambulance`` are the emergency profiles with the green wave, the ETA
``POST /dispatch`` ranks by (no emergency run is created, no key is needed). Errors are
OSRM's ``{"code", "message"}`` bodies with HTTP 400, answered by this router's own route
class, not by the service's generic error handlers (the body also carries ``detail``, the
field the service's error schema requires).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from api.deps import get_city
from api.osrm import (
    MAX_ROUTE_COORDINATES,
    MAX_TABLE_COORDINATES,
    PROFILES,
    ROUTE_ANNOTATIONS,
    OsrmError,
    error_body,
    format_route,
    format_table,
    parse_annotations,
    parse_coordinates,
    parse_indices,
    parse_radiuses,
)
from routing.errors import InvalidVehicle, PointTooFar, RoutingError, Unreachable
from routing.network import MAX_SNAP_M
from twin.city import City

__all__ = ["router", "OsrmRoute"]

Profile = Literal["driving", "fire", "ambulance"]


def _osrm_error(code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=400)


def _validation_message(exc: RequestValidationError) -> tuple[str, str]:
    """OSRM code and message of a parameter FastAPI refused (path: InvalidUrl)."""
    errors = exc.errors()
    in_path = any(list(e.get("loc", ()))[:1] == ["path"] for e in errors)
    parts = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("path", "query")]
        name = loc[-1] if loc else "request"
        if name == "profile":
            parts.append(f"unknown profile; this service has {', '.join(PROFILES)}")
        else:
            parts.append(f"{name}: {e.get('msg', 'invalid')}")
    return ("InvalidUrl" if in_path else "InvalidQuery"), "; ".join(parts)


class OsrmRoute(APIRoute):
    """A route whose errors are answered in OSRM's form (HTTP 400, ``{"code", "message"}``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def osrm_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _osrm_error(*_validation_message(exc))
            except OsrmError as exc:
                return _osrm_error(exc.code, exc.message)
            except PointTooFar as exc:
                return _osrm_error("NoSegment", f"could not find a matching segment: {exc}")
            except Unreachable as exc:
                return _osrm_error("NoRoute", f"impossible route between points: {exc}")
            except InvalidVehicle as exc:
                return _osrm_error("InvalidUrl", str(exc))
            except RoutingError as exc:
                return _osrm_error("InvalidValue", str(exc))

        return osrm_handler


router = APIRouter(tags=["osrm"], route_class=OsrmRoute)


class _Options(BaseModel):
    """Options both services take (OSRM's general options, and ``depart_at``)."""

    radiuses: str | None = Field(None, max_length=4000, description=(
        "snapping radius per coordinate in metres, ';'-separated (empty or 'unlimited': the "
        f"service limit, {MAX_SNAP_M:.0f} m, which also caps larger values)"))
    bearings: str | None = Field(None, max_length=4000, description="not supported (400)")
    approaches: str | None = Field(None, max_length=4000, description=(
        "only 'unrestricted' (or empty) per coordinate"))
    exclude: str | None = Field(None, max_length=200, description="no classes: not supported")
    hints: str | None = Field(None, max_length=20000, description="accepted and ignored")
    generate_hints: bool = Field(True, description="accepted; no hints are generated")
    skip_waypoints: bool = Field(False, description="leave out the waypoint objects")
    snapping: Literal["default", "any"] = "default"
    depart_at: dt.datetime | None = Field(None, description=(
        "extension: departure time for 'driving' (peak or off-peak speeds); default now"))

    def check(self, n: int) -> list[float]:
        """Refuse what is not supported; the snapping radius per coordinate."""
        if self.bearings:
            raise OsrmError("InvalidOptions", "bearings are not supported by this service")
        if self.approaches and any(a not in ("", "unrestricted") for a in self.approaches.split(";")):
            raise OsrmError("InvalidOptions", "approaches other than 'unrestricted' are not supported")
        if self.exclude:
            raise OsrmError("InvalidValue", f"exclude {self.exclude[:40]!r}: this service defines "
                            "no classes to exclude")
        return parse_radiuses(self.radiuses, n, MAX_SNAP_M)


class RouteOptions(_Options):
    """Query options of ``/route/v1``."""

    overview: Literal["full", "simplified", "false"] = "simplified"
    geometries: Literal["polyline", "polyline6", "geojson"] = "polyline"
    steps: bool = Field(False, description="depart, one step per road name, arrive")
    annotations: str | None = Field(None, max_length=200, description=(
        "true, false or a comma-separated subset of duration, distance, speed, weight"))
    alternatives: str = Field("false", pattern=r"^(true|false|\d{1,2})$", description=(
        "accepted; there is always one route (as OSRM when no alternative exists)"))
    continue_straight: Literal["default", "false", "true"] = Field("default", description=(
        "u-turns at waypoints are not constrained: 'true' is not supported"))
    waypoints: str | None = Field(None, max_length=4000, description="not supported (400)")


class TableOptions(_Options):
    """Query options of ``/table/v1``."""

    sources: str = Field("all", max_length=4000, pattern=r"^(all|\d+(;\d+)*)$")
    destinations: str = Field("all", max_length=4000, pattern=r"^(all|\d+(;\d+)*)$")
    annotations: str = Field("duration", pattern=r"^(duration|distance)(,(duration|distance))*$")
    scale_factor: float = Field(1.0, gt=0, le=1e6, description="multiplies the durations")
    fallback_speed: float | None = Field(None, description="not supported (400)")
    fallback_coordinate: Literal["input", "snapped"] | None = Field(
        None, description="not supported (400)")


ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["code", "routes"],
    "properties": {
        "code": {"type": "string", "enum": ["Ok"]},
        "routes": {"type": "array", "items": {
            "type": "object", "required": ["distance", "duration", "legs", "weight", "weight_name"],
            "properties": {"distance": {"type": "number"}, "duration": {"type": "number"},
                           "weight": {"type": "number"}, "weight_name": {"type": "string"},
                           "geometry": {"description": "encoded polyline or GeoJSON LineString"},
                           "legs": {"type": "array", "items": {"type": "object"}}}}},
        "waypoints": {"type": "array", "items": {"type": "object"}},
    },
}
TABLE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["code"],
    "properties": {
        "code": {"type": "string", "enum": ["Ok"]},
        "durations": {"type": "array", "items": {"type": "array",
                                                 "items": {"type": ["number", "null"]}}},
        "distances": {"type": "array", "items": {"type": "array",
                                                 "items": {"type": ["number", "null"]}}},
        "sources": {"type": "array", "items": {"type": "object"}},
        "destinations": {"type": "array", "items": {"type": "object"}},
    },
}
_CODES = ("400: OSRM error body {code, message} with code InvalidUrl (malformed coordinates, "
          "unknown profile), InvalidQuery, InvalidOptions, InvalidValue, NoSegment (a point "
          f"farther than {MAX_SNAP_M:.0f} m from a road), NoRoute or TooBig.")
_PROFILE = PathParam(description="driving (normal traffic at the request time), fire or "
                     "ambulance (emergency profile with the green wave, the ETA /dispatch ranks by)")
_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_COORDS = PathParam(max_length=20000, pattern=(
    rf"^(?:polyline6?\([?-~]+\)|{_NUM},{_NUM}(?:;{_NUM},{_NUM})*)(?:\.json)?$"), description=(
    "lon,lat;lon,lat;... (WGS84), or polyline(...) / polyline6(...); an optional .json suffix"))


def _snaps(city: City, points: list[tuple[float, float]], radiuses: list[float]) -> list[dict]:
    snaps = []
    for i, ((lon, lat), radius) in enumerate(zip(points, radiuses, strict=True)):
        try:
            snaps.append(city.routing.snap(lon, lat, max_distance_m=radius))
        except PointTooFar as exc:
            raise OsrmError("NoSegment", f"could not find a matching segment for coordinate {i}: "
                            f"{exc}") from None
    return snaps


@router.get("/route/v1/{profile}/{coordinates}", response_class=JSONResponse, response_model=None,
            summary="OSRM route service (route through two or more waypoints)",
            description="OSRM v5 `/route`: one leg per consecutive pair of coordinates. " + _CODES,
            responses={200: {"description": "OSRM route response",
                             "content": {"application/json": {"schema": ROUTE_SCHEMA}}}})
def osrm_route(profile: Annotated[Profile, _PROFILE], coordinates: Annotated[str, _COORDS],
               options: Annotated[RouteOptions, Query()],
               city: City = Depends(get_city)) -> JSONResponse:
    """OSRM's route answer from the engine of ``POST /routes`` (or ``/dispatch``)."""
    points = parse_coordinates(coordinates, limit=MAX_ROUTE_COORDINATES, minimum=2)
    radiuses = options.check(len(points))
    if options.waypoints:
        raise OsrmError("InvalidOptions", "the waypoints option is not supported: every "
                        "coordinate is a waypoint")
    if options.continue_straight == "true":
        raise OsrmError("InvalidOptions", "continue_straight=true is not supported (u-turns at "
                        "waypoints are not constrained)")
    annotations = parse_annotations(options.annotations, ROUTE_ANNOTATIONS)
    snaps = _snaps(city, points, radiuses)
    result = city.routing.route_legs([{"node": s["node"]} for s in snaps],
                                     vehicle=PROFILES[profile], depart_at=options.depart_at)
    return JSONResponse(format_route(result, snaps, overview=options.overview,
                                     geometries=options.geometries, steps=options.steps,
                                     annotations=annotations,
                                     skip_waypoints=options.skip_waypoints))


@router.get("/table/v1/{profile}/{coordinates}", response_class=JSONResponse, response_model=None,
            summary="OSRM table service (travel-time and distance matrix)",
            description=f"OSRM v5 `/table`, at most {MAX_TABLE_COORDINATES} coordinates; "
            "`null` where no route exists. " + _CODES,
            responses={200: {"description": "OSRM table response",
                             "content": {"application/json": {"schema": TABLE_SCHEMA}}}})
def osrm_table(profile: Annotated[Profile, _PROFILE], coordinates: Annotated[str, _COORDS],
               options: Annotated[TableOptions, Query()],
               city: City = Depends(get_city)) -> JSONResponse:
    """OSRM's table answer from the searches ``/dispatch`` runs."""
    points = parse_coordinates(coordinates, limit=MAX_TABLE_COORDINATES, minimum=1)
    radiuses = options.check(len(points))
    if options.fallback_speed is not None or options.fallback_coordinate is not None:
        raise OsrmError("InvalidOptions", "fallback_speed and fallback_coordinate are not "
                        "supported (null marks a pair without a route)")
    sources = parse_indices(options.sources, len(points), "sources")
    destinations = parse_indices(options.destinations, len(points), "destinations")
    annotations = options.annotations.split(",")
    snaps = _snaps(city, points, radiuses)
    result = city.routing.table([{"node": snaps[i]["node"]} for i in sources],
                                [{"node": snaps[j]["node"]} for j in destinations],
                                vehicle=PROFILES[profile], depart_at=options.depart_at,
                                distances="distance" in annotations)
    result["durations"] = result["durations"] * options.scale_factor
    return JSONResponse(format_table(result, [snaps[i] for i in sources],
                                     [snaps[j] for j in destinations], annotations=annotations,
                                     skip_waypoints=options.skip_waypoints))
