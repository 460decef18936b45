"""Errors raised by the twin (build, load, settings)."""

from __future__ import annotations

from layers.errors import BundleError

__all__ = ["TwinError", "BuildError", "SourceNotFound", "BundleError", "DatabaseError",
           "SignalPlanError", "ExportError", "InvalidScenario", "ScenarioNotFound"]


class TwinError(Exception):
    """Base class of every twin error."""


class BuildError(TwinError, RuntimeError):
    """Building a city bundle failed."""


class SourceNotFound(BuildError, FileNotFoundError):
    """A source file for the build is missing or of an unsupported type."""


class DatabaseError(TwinError, ConnectionError):
    """The PostGIS database cannot be used (bad URL, unreachable, no postgis extension)."""


class SignalPlanError(BuildError, ValueError):
    """A signal timing plan file is malformed or names junctions / roads the city lacks."""


class ExportError(TwinError, ValueError):
    """An export cannot be made as asked (bad format, zoom range, layers or output path)."""


class InvalidScenario(TwinError, ValueError):
    """A what-if scenario's edits are malformed or name layers / features the city lacks."""


class ScenarioNotFound(TwinError, LookupError):
    """No stored scenario has that id (never made, deleted, or expired)."""
