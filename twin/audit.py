"""The audit log: who changed shared operational state (emergency runs, scenarios), when.

Append-only and durable like the edit logs, shared by every process serving the twin:
``_audit.jsonl`` beside the bundle's edit logs (``City.edits_dir``), or rows of the
``_edits`` table (collection ``_audit``) of a twin on PostGIS. An entry names the actor
by a label (a role and a short hash of the API key, never the key itself).

Examples
--------
>>> log = audit_log(City.load())                                      # doctest: +SKIP
>>> log.record("scenario.create", actor="planner:1a2b3c4d", subject="s-1",
...            detail={"closed_roads": 3})                            # doctest: +SKIP
>>> [e["action"] for e in log.entries()]                              # doctest: +SKIP
['scenario.create']
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from layers.versions import ChangeLog, FileLog, parse_time

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["AUDIT_LOG", "AuditLog", "audit_log"]

#: Name of the audit log (``<edits_dir>/_audit.jsonl``, or the ``_edits`` collection).
AUDIT_LOG = "_audit"
_OPEN: weakref.WeakKeyDictionary[City, AuditLog] = weakref.WeakKeyDictionary()
_OPEN_LOCK = threading.Lock()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AuditLog:
    """An append-only log of actions, shared through a :class:`layers.versions.ChangeLog`.

    Parameters
    ----------
    log : ChangeLog
        Where entries are stored (a :class:`FileLog` or a ``PostgisEditLog``).
    clock : callable, optional
        ``() -> aware datetime``; default the system clock (UTC).
    """

    def __init__(self, log: ChangeLog, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.log = log
        self.clock = clock or _utc_now
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _catch_up(self) -> None:
        self._entries.extend(e for e in self.log.read_new() if isinstance(e, dict))

    def record(self, action: str, *, actor: str, subject: str,
               detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store one entry durably before returning it.

        Parameters
        ----------
        action : str
            What was done, ``<kind>.<verb>`` (``run.create``, ``scenario.delete``).
        actor : str
            Who did it: a label, never a secret (``dispatcher:1a2b3c4d``).
        subject : str
            What it was done to (a run id, a scenario id).
        detail : dict, optional
            JSON-ready facts worth keeping (vehicle, departure, incident).

        Returns
        -------
        dict
            ``id``, ``time`` (ISO 8601, UTC), ``actor``, ``action``, ``subject``, ``detail``.
        """
        entry = {"id": uuid.uuid4().hex, "time": self.clock().astimezone(dt.UTC).isoformat(),
                 "actor": str(actor), "action": str(action), "subject": str(subject),
                 "detail": dict(detail or {})}
        with self._lock, self.log.exclusive():
            self._catch_up()  # an append follows what the other processes stored
            self.log.append(entry)
            self._entries.append(entry)
        return entry

    def entries(self, since: str | dt.datetime | None = None) -> list[dict[str, Any]]:
        """Every entry (of every process), oldest first; only those after ``since`` if given.

        Raises
        ------
        layers.errors.InvalidQuery
            ``since`` is not an ISO 8601 time.
        """
        with self._lock:
            if self.log.has_new():
                self._catch_up()
            entries = list(self._entries)
        if since is None:
            return entries
        after = parse_time(since)
        return [e for e in entries if parse_time(e["time"]) > after]


def _entry_key(entry: dict[str, Any]) -> tuple[str, int]:
    return entry["id"], 1


def audit_log(city: City) -> AuditLog:
    """The audit log of a city (one per City object, opened on first use).

    On PostGIS it is the ``_edits`` table (collection ``_audit``), else
    ``<edits_dir>/_audit.jsonl``.
    """
    with _OPEN_LOCK:
        if city not in _OPEN:
            engine = city.database_engine
            if engine is not None:
                from layers.postgis import PostgisEditLog, ensure_edits_table

                ensure_edits_table(engine, city.database_schema)
                log: ChangeLog = PostgisEditLog(engine, city.database_schema, AUDIT_LOG,
                                                key=_entry_key, write_through=False)
            else:
                log = FileLog(city.edits_dir / f"{AUDIT_LOG}.jsonl")
            _OPEN[city] = AuditLog(log)
        return _OPEN[city]
