"""Errors raised by the layer service.

Every error subclasses :class:`LayerError` and, where it fits, a builtin so callers can
catch it generically (``except LookupError``).
"""

from __future__ import annotations

__all__ = [
    "LayerError",
    "LayerNotFound",
    "FeatureNotFound",
    "InvalidQuery",
    "InvalidFeature",
    "TileOutOfRange",
    "VersionConflict",
    "StoreError",
    "StoreUnavailable",
    "StoreMisconfigured",
    "BundleError",
]


class LayerError(Exception):
    """Base class of every layer-service error."""


class LayerNotFound(LayerError, LookupError):
    """No layer of that name is registered."""


class FeatureNotFound(LayerError, LookupError):
    """No feature with that id in the layer."""


class InvalidQuery(LayerError, ValueError):
    """A query parameter (bbox, limit, property filter, geometry) is invalid."""


class InvalidFeature(LayerError, ValueError):
    """A feature to write is invalid (bad GeoJSON, wrong geometry type, unknown field)."""


class TileOutOfRange(LayerError, ValueError):
    """Tile coordinates are outside the tile matrix or the layer's zoom range."""


class VersionConflict(LayerError, RuntimeError):
    """An edit was based on a version that is no longer current."""

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class StoreError(LayerError, RuntimeError):
    """A layer store failed."""


class StoreUnavailable(StoreError, ConnectionError):
    """The store (PostGIS server) cannot be reached."""


class StoreMisconfigured(StoreError):
    """The store is reachable but unusable (bad URL, missing PostGIS extension)."""


class BundleError(LayerError, OSError):
    """A bundle on disk is missing, incomplete or corrupt."""
