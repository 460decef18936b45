"""Errors of the shared-bike model."""

from __future__ import annotations

__all__ = ["BikeError", "InvalidResolution", "InvalidHour", "InvalidPeriod", "InvalidTrips",
           "BikeInputMissing"]


class BikeError(Exception):
    """Base class of every bike-model error."""


class InvalidResolution(BikeError, ValueError):
    """An H3 resolution outside the supported range."""


class InvalidHour(BikeError, ValueError):
    """An hour outside 0-23."""


class InvalidPeriod(BikeError, ValueError):
    """A rebalancing period other than am or pm."""


class InvalidTrips(BikeError, ValueError):
    """A trip table without the Mobike columns or with unusable values."""


class BikeInputMissing(BikeError, LookupError):
    """The city lacks an input the bike model needs (e.g. its roads layer)."""
