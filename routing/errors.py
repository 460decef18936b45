"""Errors raised by the routing library."""

from __future__ import annotations

__all__ = [
    "RoutingError",
    "NodeNotFound",
    "PointTooFar",
    "Unreachable",
    "InvalidVehicle",
    "InvalidRequest",
    "StationNotFound",
    "VehicleNotFound",
    "InvalidDeparture",
]


class RoutingError(Exception):
    """Base class of every routing error."""


class NodeNotFound(RoutingError, LookupError):
    """A node id is not in the network."""


class PointTooFar(RoutingError, ValueError):
    """A location is too far from the road network to be snapped."""


class Unreachable(RoutingError, LookupError):
    """No path exists between the two locations (one-way streets, closures)."""


class InvalidVehicle(RoutingError, ValueError):
    """Unknown vehicle type."""


class InvalidRequest(RoutingError, ValueError):
    """A parameter is out of range (minutes, batch size, time)."""


class StationNotFound(RoutingError, LookupError):
    """No station with that id."""


class VehicleNotFound(RoutingError, LookupError):
    """No active emergency run with that id."""


class InvalidDeparture(RoutingError, ValueError):
    """A departure (or position) time too far in the past or future of the service's clock."""
