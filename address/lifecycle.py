"""The life of a standard address: create, edit, retire, merge; versions and as-of reads.

Every change is stored durably in a shared change log before it is applied, so no accepted
write is lost across restarts; the log is replayed when the book opens. Several processes
(server workers) may share one log: each write holds the log's exclusive lock and first
applies what the others stored, so versions, uniqueness and new codes are checked against
the latest state, and reads pick up the others' changes. Edits name the version they were
based on; a stale version raises :class:`AddressVersionConflict`. Codes are allocated once
and never change.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from address.errors import (
    AddressVersionConflict,
    CodeNotFound,
    DuplicateAddress,
    InvalidAddress,
    InvalidCoordinates,
)
from address.gazetteer import Gazetteer
from address.model import make_code
from address.normalize import normalize

__all__ = ["AddressBook", "AddressLog", "EDITABLE"]

logger = logging.getLogger(__name__)

EDITABLE = ("road", "number", "sub_number", "lon", "lat", "names", "district_code")
_STATUSES = ("active", "retired", "merged")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _parse_time(value: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidAddress(f"not an ISO 8601 time: {value[:40]!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class AddressLog(Protocol):
    """A durable change log shared by the processes that edit one address book
    (a JSON-lines file under ``flock``, or a database table)."""

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the log's exclusive lock (across processes)."""

    def read_new(self) -> list[dict[str, Any]]:
        """Entries stored since the last call."""

    def append(self, entry: dict[str, Any]) -> None:
        """Store one entry durably before returning (the caller holds :meth:`exclusive`)."""

    def has_new(self) -> bool:
        """Whether entries were stored since the last :meth:`read_new` (cheap)."""


class AddressBook:
    """Versioned standard door addresses over a gazetteer.

    Parameters
    ----------
    gazetteer : Gazetteer
        Its door table is the current state; edits replace it.
    log : AddressLog, optional
        Durable change log, replayed on open and shared with other processes.
    """

    def __init__(self, gazetteer: Gazetteer, log: AddressLog | None = None) -> None:
        self.gazetteer = gazetteer
        self.log = log
        self.history: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if log is not None:
            self._catch_up()

    # -- sharing --------------------------------------------------------------------
    def sync(self) -> bool:
        """Apply the changes other processes stored since; True when there were any."""
        if self.log is None or not self.log.has_new():
            return False
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> bool:
        assert self.log is not None
        entries = self.log.read_new()
        for change in entries:
            if not isinstance(change, dict) or not isinstance(change.get("after"), dict):
                logger.warning("skipping a malformed address change")
                continue
            self._apply(change)
        return bool(entries)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This book's lock, and the log's across processes, with the log caught up."""
        with self._lock:
            if self.log is None:
                yield
                return
            with self.log.exclusive():
                self._catch_up()
                yield

    # -- reads ------------------------------------------------------------------------
    def get(self, code: str, *, as_of: str | None = None) -> dict[str, Any]:
        """The record of ``code`` now, or as it was at ``as_of``.

        Raises
        ------
        CodeNotFound
        """
        self.sync()
        if as_of is None:
            record = self.gazetteer.door(code)
        else:
            when = _parse_time(as_of)
            record = None
            base = next((c for c in self.history if c["code"] == code), None)
            if base is None:
                record = self.gazetteer.door(code)
            else:
                record = base["before"]
                for change in self.history:
                    if change["code"] == code and _parse_time(change["time"]) <= when:
                        record = change["after"]
        if record is None:
            raise CodeNotFound(f"no standard address with code {code!r}")
        return _clean(record)

    def changes(self, code: str) -> list[dict[str, Any]]:
        """Every change of one address, oldest first."""
        self.get(code)
        return [c for c in self.history if c["code"] == code]

    # -- writes -----------------------------------------------------------------------
    def create(self, *, road: str, number: int, lon: float, lat: float,
               sub_number: str | None = None, names: str | None = None,
               district_code: str | None = None) -> dict[str, Any]:
        """Add a door address; returns the new record with its code.

        Raises
        ------
        DuplicateAddress
            That road already has that door number.
        """
        fields = self._validated({"road": road, "number": number, "lon": lon, "lat": lat,
                                  "sub_number": sub_number, "names": names,
                                  "district_code": district_code})
        with self._exclusive():
            self._unique(fields["road"], fields["number"], None)
            division = fields.get("district_code") or self.gazetteer.roads.get(
                fields["road"], None) and self.gazetteer.roads[fields["road"]].district_code
            code = self._next_code(division or self.gazetteer.default_code)
            record = {"code": code, "road": fields["road"], "number": fields["number"],
                      "sub_number": fields.get("sub_number"), "lon": fields["lon"],
                      "lat": fields["lat"], "names": fields.get("names") or "",
                      "district_code": division or None, "status": "active", "version": 1,
                      "source": "edit"}
            return self._commit("create", code, None, record)

    def update(self, code: str, *, expected_version: int, **fields: Any) -> dict[str, Any]:
        """Edit an active address at ``expected_version`` (the code never changes)."""
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise InvalidAddress(f"cannot edit {', '.join(sorted(unknown))}; editable: "
                                 f"{', '.join(EDITABLE)}")
        with self._exclusive():
            before = self._current(code, expected_version)
            merged = {**before, **{k: v for k, v in fields.items() if v is not None}}
            valid = self._validated({k: merged.get(k) for k in EDITABLE})
            self._unique(valid["road"], valid["number"], code)
            after = {**before, **valid, "version": before["version"] + 1}
            return self._commit("update", code, before, after)

    def retire(self, code: str, *, expected_version: int) -> dict[str, Any]:
        """Retire an address (it stays readable, as_of included)."""
        with self._exclusive():
            before = self._current(code, expected_version)
            return self._commit("retire", code, before,
                                {**before, "status": "retired", "version": before["version"] + 1})

    def merge(self, code: str, *, into: str, expected_version: int) -> dict[str, Any]:
        """Merge ``code`` into ``into`` (a duplicate of it): ``code`` points to ``into``."""
        with self._exclusive():
            if into == code:
                raise InvalidAddress("cannot merge an address into itself")
            target = self.gazetteer.door(into)
            if target is None or target["status"] != "active":
                raise CodeNotFound(f"no active standard address with code {into!r}")
            before = self._current(code, expected_version)
            return self._commit("merge", code, before, {
                **before, "status": "merged", "merged_into": into, "version": before["version"] + 1})

    # -- internals --------------------------------------------------------------------
    def _current(self, code: str, expected_version: int) -> dict[str, Any]:
        record = self.gazetteer.door(code)
        if record is None:
            raise CodeNotFound(f"no standard address with code {code!r}")
        if record["status"] != "active":
            raise InvalidAddress(f"address {code} is {record['status']}; it cannot change")
        if int(record["version"]) != int(expected_version):
            raise AddressVersionConflict(
                f"address {code} is at version {record['version']}, not {expected_version}",
                current_version=int(record["version"]))
        return dict(record)

    def _validated(self, fields: dict[str, Any]) -> dict[str, Any]:
        try:
            road = normalize(str(fields["road"]))
        except (ValueError, KeyError):
            raise InvalidAddress("road is required") from None
        number = fields.get("number")
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 100_000:
            raise InvalidAddress("number must be an integer door number (1 to 99999)")
        lon, lat = fields.get("lon"), fields.get("lat")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float) or not (
                -180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidCoordinates("lon and lat must be WGS84 numbers in range")
        return {**fields, "road": road, "number": int(number), "lon": float(lon),
                "lat": float(lat)}

    def _unique(self, road: str, number: int, own_code: str | None) -> None:
        code = self.gazetteer.door_code(road, number)
        if code is not None and code != own_code:
            raise DuplicateAddress(f"{road}{number}号 already exists as {code}",
                                   existing_code=code)

    def _next_code(self, division: str) -> str:
        prefix = make_code(division, "door", 0)[:13]
        return make_code(division, "door", self.gazetteer.next_code(prefix))

    def _commit(self, op: str, code: str, before: dict | None, after: dict) -> dict[str, Any]:
        change = {"op": op, "code": code, "time": _now(), "before": _clean(before) if before
                  else None, "after": _clean(after)}
        if self.log is not None:  # durable first: a failed write is never applied
            self.log.append(change)
        self._apply(change)
        return _clean(after)

    def _apply(self, change: dict[str, Any]) -> None:
        self.gazetteer.upsert_door(change["after"])
        self.history.append(change)


def _clean(record: dict[str, Any] | None) -> dict[str, Any]:
    out = {}
    for k, v in (record or {}).items():
        if v is None or (isinstance(v, float) and v != v):
            out[k] = None
        elif hasattr(v, "item"):
            out[k] = v.item()
        else:
            out[k] = v
    return out
