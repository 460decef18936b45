"""Reading and writing the controller's JSON messages: times and checked fields.

:func:`iso` writes a time as :meth:`routing.controller.PriorityRequest.to_json` does;
:class:`Message` reads the fields of a received message back and, for a malformed one,
raises a :class:`ValueError` that names the message and the field's path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["iso", "Message"]

T = TypeVar("T")


def iso(t: dt.datetime | None) -> str | None:
    """ISO 8601 with the offset, to the millisecond (None stays None)."""
    return None if t is None else t.isoformat(timespec="milliseconds")


def _show(value: object) -> str:
    """A value and its JSON kind, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int | float):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, Mapping):
        kind = "an object"
    elif isinstance(value, list | tuple):
        kind = "an array"
    else:
        kind = type(value).__name__
    text = repr(value)
    return f"{kind} {text if len(text) <= 60 else text[:57] + '...'}"


class Message:
    """A JSON object being read: typed access to its fields, errors naming their path.

    Parameters
    ----------
    data : mapping
        The object.
    name : str
        The message, for errors (``priority request '1:fire-1:1'``).
    path : str
        Where the object is in the message (``""`` at the top, ``schedule[2]``).
    """

    def __init__(self, data: Mapping[str, Any], name: str, path: str = "") -> None:
        self.data = data
        self.name = name
        self.path = path

    @classmethod
    def of(cls, data: object, name: str, path: str = "") -> Message:
        """``data`` as a message; a ValueError when it is not a JSON object."""
        if not isinstance(data, Mapping):
            where = f"{name}: {path}" if path else name
            raise ValueError(f"{where}: expected a JSON object, got {_show(data)}")
        return cls(data, name, path)

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, why: str) -> ValueError:
        """The error to raise for field ``key``."""
        return ValueError(f"{self.name}: {self._at(key)}: {why}")

    def get(self, key: str) -> Any:
        """A field's raw value; a ValueError when it is missing."""
        if key not in self.data:
            raise ValueError(f"{self.name}: missing key {self._at(key)!r}")
        return self.data[key]

    def _expected(self, key: str, what: str, value: object) -> ValueError:
        return self.error(key, f"expected {what}, got {_show(value)}")

    def integer(self, key: str) -> int:
        """An integer field."""
        v = self.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._expected(key, "an integer", v)
        return v

    def number(self, key: str) -> float:
        """A number field, as a float."""
        v = self.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self._expected(key, "a number", v)
        return float(v)

    def text(self, key: str) -> str:
        """A string field."""
        v = self.get(key)
        if not isinstance(v, str):
            raise self._expected(key, "a string", v)
        return v

    def choice(self, key: str, options: Iterable[str]) -> str:
        """A string field that is one of ``options``."""
        v = self.text(key)
        options = tuple(options)
        if v not in options:
            raise self.error(key, f"{v!r} is not one of {', '.join(options)}")
        return v

    def time(self, key: str) -> dt.datetime:
        """An ISO 8601 time with its UTC offset, as an aware datetime."""
        v = self.get(key)
        if not isinstance(v, str):
            raise self._expected(key, "an ISO 8601 time", v)
        try:
            t = dt.datetime.fromisoformat(v)
        except ValueError:
            raise self.error(key, f"{v!r} is not an ISO 8601 time") from None
        if t.utcoffset() is None:
            raise self.error(key, f"{v!r} has no UTC offset (times must be aware)")
        return t

    def optional(self, key: str, read: Callable[[Message, str], T]) -> T | None:
        """``read(self, key)``, or None when the field is null (it must be present)."""
        return None if self.get(key) is None else read(self, key)

    def obj(self, key: str) -> Message:
        """An object field."""
        return Message.of(self.get(key), self.name, self._at(key))

    def strings(self, key: str) -> list[str]:
        """An array of strings."""
        v = self.get(key)
        if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
            raise self._expected(key, "an array of strings", v)
        return list(v)

    def numbers(self, key: str) -> dict[str, float]:
        """An object of numbers (name -> value)."""
        m = self.obj(key)
        return {k: m.number(k) for k in m.data}

    def objects(self, key: str) -> list[Message]:
        """An array of objects."""
        v = self.get(key)
        if not isinstance(v, list | tuple):
            raise self._expected(key, "an array", v)
        return [Message.of(x, self.name, f"{self._at(key)}[{i}]") for i, x in enumerate(v)]

    def copy(self) -> dict[str, Any]:
        """The object as a new dict (a shallow copy)."""
        return dict(self.data)
