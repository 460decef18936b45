"""Errors raised by the standard-address service."""

from __future__ import annotations

__all__ = [
    "AddressError",
    "InvalidAddress",
    "AddressNotFound",
    "CodeNotFound",
    "AddressVersionConflict",
    "InvalidCoordinates",
    "DuplicateAddress",
    "AddressUnavailable",
]


class AddressError(Exception):
    """Base class of every address error."""


class InvalidAddress(AddressError, ValueError):
    """The text is empty, too long, or has no address content."""


class AddressNotFound(AddressError, LookupError):
    """No standard address matches; ``candidates`` holds the nearest ones, if any."""

    def __init__(self, message: str, *, candidates: list[dict] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


class CodeNotFound(AddressError, LookupError):
    """No standard address has that code."""


class AddressVersionConflict(AddressError, RuntimeError):
    """An edit was based on a version that is no longer current."""

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class InvalidCoordinates(AddressError, ValueError):
    """Coordinates out of range or an unknown coordinate system."""


class DuplicateAddress(AddressError, ValueError):
    """An active standard address with the same road and door number exists."""

    def __init__(self, message: str, *, existing_code: str) -> None:
        super().__init__(message)
        self.existing_code = existing_code


class AddressUnavailable(AddressError, RuntimeError):
    """The city has no standard addresses: it lies in no known Chinese division, so there
    are no province, city and district names and no division codes to build them on.
    ``missing`` names what is missing."""

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []
