"""Errors of the school-district model."""

from __future__ import annotations

__all__ = ["SchoolError", "InvalidLevel", "HomeNotFound", "InvalidSchoolInput"]


class SchoolError(Exception):
    """Base class of every school-model error."""


class InvalidLevel(SchoolError, ValueError):
    """A school level other than ``kindergarten``, ``primary`` or ``middle``, or one the
    city has no schools of."""


class HomeNotFound(SchoolError, LookupError):
    """The address or point cannot be placed on the network; ``candidates`` may help."""

    def __init__(self, message: str, *, candidates: list | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


class InvalidSchoolInput(SchoolError, ValueError):
    """A schools or homes table is missing columns or has bad values."""
