"""The ONE table from library errors to HTTP status codes, and the handlers that use it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from address import errors as address_errors
from layers import errors as layer_errors
from routing import errors as routing_errors
from twin import errors as twin_errors
from twin.bikes import errors as bike_errors
from twin.schools import errors as school_errors

__all__ = ["ERROR_STATUS", "status_for", "install_error_handlers"]

logger = logging.getLogger(__name__)

#: (exception class, HTTP status), most specific first. Library code never knows HTTP.
ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (address_errors.AddressNotFound, 404),
    (address_errors.CodeNotFound, 404),
    (address_errors.DuplicateAddress, 409),
    (address_errors.AddressVersionConflict, 409),
    (address_errors.InvalidCoordinates, 400),
    (address_errors.InvalidAddress, 400),
    (address_errors.AddressUnavailable, 409),
    (layer_errors.LayerNotFound, 404),
    (layer_errors.FeatureNotFound, 404),
    (layer_errors.TileOutOfRange, 404),
    (layer_errors.InvalidQuery, 400),
    (layer_errors.InvalidFeature, 422),
    (layer_errors.VersionConflict, 409),
    (layer_errors.StoreUnavailable, 503),
    (layer_errors.StoreError, 503),
    (layer_errors.BundleError, 503),
    (bike_errors.InvalidResolution, 400),
    (bike_errors.InvalidHour, 400),
    (bike_errors.InvalidPeriod, 400),
    (bike_errors.InvalidTrips, 422),
    (school_errors.InvalidLevel, 400),
    (school_errors.HomeNotFound, 404),
    (school_errors.InvalidSchoolInput, 422),
    (routing_errors.PointTooFar, 422),
    (routing_errors.Unreachable, 422),
    (routing_errors.InvalidVehicle, 400),
    (routing_errors.InvalidRequest, 400),
    (routing_errors.StationNotFound, 404),
    (routing_errors.VehicleNotFound, 404),
    (routing_errors.InvalidDeparture, 422),
    (routing_errors.NodeNotFound, 404),
    (twin_errors.InvalidScenario, 422),
    (twin_errors.ScenarioNotFound, 404),
    (twin_errors.DatabaseError, 503),
    (twin_errors.SourceNotFound, 404),
    (twin_errors.TwinError, 500),
    (LookupError, 404),
    (ValueError, 400),
]


def status_for(exc: Exception) -> int | None:
    """HTTP status of a library error, or None when the table does not know it."""
    for cls, status in ERROR_STATUS:
        if isinstance(exc, cls):
            return status
    return None


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc) or 500
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    body: dict[str, object] = {"detail": str(exc) or exc.__class__.__name__,
                               "error": exc.__class__.__name__}
    for attr in ("current_version", "candidates", "existing_code"):
        value = getattr(exc, attr, None)
        if value is not None:
            body[attr] = value
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse({"detail": f"invalid request: {reasons}", "errors": errors},
                        status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Install the handlers once: every class in :data:`ERROR_STATUS` gets its status."""
    seen: set[type[Exception]] = set()
    for cls, _ in ERROR_STATUS:
        if cls not in seen:
            app.add_exception_handler(cls, _library_error)
            seen.add(cls)
    app.add_exception_handler(RequestValidationError, _validation_error)
