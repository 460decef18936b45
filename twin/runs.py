"""Glue: emergency runs as shared, durable state (``city.runs``).

Runs and their green windows live in the store every server process shares, like the
edits: ``_runs.jsonl`` beside the bundle's edit logs (fsynced per entry, ``flock``), or
rows of the ``_edits`` table (collection ``_runs``) of a twin on PostGIS (advisory lock,
``UNIQUE (run id, revision)``). Creating, re-planning and finishing a run hold the log's
exclusive lock: catch up with what the other processes stored, plan against the other
active runs' windows, append durably, then apply. Reads catch up first (a ``stat`` or one
indexed query when nothing is new). Opening replays the log, so a restart loses no run;
runs are released when finished or :data:`routing.runs.RUN_RETENTION_S` after their ETA
by the service's clock (:attr:`EmergencyRuns.clock`).

Each call plans on the current routing service (``city.routing``), and answers name the
layer versions it was derived from (``versions``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from layers.versions import ChangeLog, FileLog
from routing.arrivals import predict
from routing.errors import InvalidVehicle
from routing.profiles import VEHICLES
from routing.runs import (
    EmergencyRun,
    RunBook,
    checked_time,
    plan_run,
    replan_from_position,
)
from twin.audit import AuditLog, audit_log

if TYPE_CHECKING:
    from routing.service import Location, RoutingService
    from twin.city import City

__all__ = ["RUN_LOG", "RunStore", "EmergencyRuns", "run_log", "load"]

#: Name of the run log (``<edits_dir>/_runs.jsonl``, or the ``_edits`` collection).
RUN_LOG = "_runs"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RunStore:
    """A :class:`routing.runs.RunBook` kept in step with a shared, durable log.

    Parameters
    ----------
    log : ChangeLog
        The run log (replayed on open).
    """

    def __init__(self, log: ChangeLog) -> None:
        self.log = log
        self.book = RunBook()
        self._lock = threading.Lock()
        with self._lock:
            self._catch_up()

    def _catch_up(self) -> None:
        for entry in self.log.read_new():
            self.book.apply(entry)

    @contextmanager
    def reading(self, now: dt.datetime) -> Iterator[RunBook]:
        """The book caught up with the log and expired at ``now``, for reading."""
        with self._lock:
            if self.log.has_new():
                self._catch_up()
            self.book.expire(now)
            yield self.book

    @contextmanager
    def exclusive(self, now: dt.datetime) -> Iterator[RunBook]:
        """The book under the log's exclusive lock (across processes), caught up and
        expired at ``now``: plan and :meth:`append` inside."""
        with self._lock, self.log.exclusive():
            self._catch_up()
            self.book.expire(now)
            yield self.book

    def append(self, entry: dict[str, Any]) -> None:
        """Store an entry durably, then apply it (inside :meth:`exclusive`)."""
        self.log.append(entry)
        self.book.apply(entry)


class EmergencyRuns:
    """Emergency runs shared by every process serving a city (``city.runs``).

    Parameters
    ----------
    city : City
        Its ``routing`` service is read at every call (it changes when layers are edited).
    store : RunStore
        The shared runs.
    audit : AuditLog
        Where creations, re-plans and ends are recorded.
    clock : callable, optional
        ``() -> aware datetime``, the service's clock (default: the system clock). It
        bounds departures and releases ended runs.

    Examples
    --------
    >>> runs = City.load().runs                                          # doctest: +SKIP
    >>> run = runs.create({"station": "F1"}, {"lon": 121.484, "lat": 31.238},
    ...                   incident_id="fire-0815")                        # doctest: +SKIP
    >>> runs.held_signals()["signals"][0]["phase"]                        # doctest: +SKIP
    >>> runs.finish(run["id"])                                            # doctest: +SKIP
    """

    def __init__(self, city: City, store: RunStore, audit: AuditLog, *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self._city = city
        self.store = store
        self.audit = audit
        self.clock = clock or _utc_now

    def now(self) -> dt.datetime:
        """The service's clock (aware)."""
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=dt.UTC)

    @staticmethod
    def _answer(run: EmergencyRun, service: RoutingService) -> dict[str, Any]:
        return run.payload(service.tz)

    def create(self, origin: Location, destination: Location, *, vehicle: str = "fire",
               depart_at: dt.datetime | None = None, incident_id: str | None = None,
               actor: str = "python") -> dict[str, Any]:
        """Dispatch a run: route, green wave around the other runs' windows, stored.

        Parameters
        ----------
        origin, destination : Location
            ``{"lon", "lat"}``, ``{"address"}``, ``{"station"}`` or ``{"node"}``.
        vehicle : str
            ``fire`` or ``ambulance``.
        depart_at : datetime, optional
            Departure (default now), 5 min before to 24 h after the clock; without a time
            zone it is read in the city's.
        incident_id : str, optional
            Runs to one incident (a fire gets several engines) are counted together on
            the held signals and named in each other's conflicts.
        actor : str
            Who dispatched it, for the audit log (a label, never a key).

        Returns
        -------
        dict
            ``id``, ``vehicle``, ``incident_id``, ``revision``, ``dispatched_at``,
            ``depart_at``, ``arrive_at``, ``expires_at`` (ISO 8601 with offset),
            ``geometry``, ``distance_m``, ``eta_s`` (never above)
            ``eta_without_priority_s``, ``priority``, ``signals`` (per signal: id, lon,
            lat, phase, action, held, ``arrival_s`` / ``green_start_s`` / ``green_end_s``
            after departure and ``arrival`` / ``green_start`` / ``green_end`` ISO, ...),
            ``conflicts``, ``roads``, ``history``, ``versions``.

        Raises
        ------
        InvalidDeparture, InvalidVehicle, InvalidRequest, PointTooFar, StationNotFound,
        Unreachable
        """
        service = self._city.routing
        now = self.now()
        depart = checked_time(depart_at, now, service.tz)
        if vehicle not in VEHICLES:
            raise InvalidVehicle(f"unknown vehicle {vehicle!r}; use one of {', '.join(VEHICLES)}")
        src, dst = service.locate(origin), service.locate(destination)
        engine, _ = service.engine_at(vehicle, depart_at=depart)  # closures in force then
        path = engine.route(src, dst)
        arrivals = predict(service.network, path, service.eta_speeds(vehicle), at=depart,
                           tz=service.tz)
        with self.store.exclusive(now) as book:
            run_id = book.next_id(vehicle)
            run = plan_run(service, run_id, arrivals, vehicle=vehicle, destination=dst,
                           dispatched_at=now, active=book.windows, incident_id=incident_id)
            self.store.append({"op": "create", "id": run_id, "revision": run.revision,
                               "time": now.isoformat(), "run": run.to_entry()})
        self.audit.record("run.create", actor=actor, subject=run_id, detail={
            "vehicle": vehicle, "incident_id": incident_id, "depart_at": depart.isoformat(),
            "eta_s": run.plan["eta_s"], "priority": run.plan["priority"]})
        return self._answer(run, service)

    def update_position(self, run_id: str, lon: float, lat: float,
                        at: dt.datetime | None = None, *, accuracy_m: float = 15.0,
                        actor: str = "python") -> dict[str, Any]:
        """Re-plan a run from a live position (its windows are replaced): the fix (measured
        at ``at``, 1-sigma ``accuracy_m``) is matched to the run's own route, see
        :func:`routing.runs.replan_from_position`.

        Raises
        ------
        VehicleNotFound, InvalidDeparture, PointTooFar, Unreachable
        """
        service = self._city.routing
        now = self.now()
        when = checked_time(at, now, service.tz, name="at")
        with self.store.exclusive(now) as book:
            run = replan_from_position(service, book.get(run_id), float(lon), float(lat),
                                       when, book.windows, accuracy_m=float(accuracy_m))
            self.store.append({"op": "replan", "id": run_id, "revision": run.revision,
                               "time": now.isoformat(), "run": run.to_entry()})
        self.audit.record("run.replan", actor=actor, subject=run_id, detail={
            "lon": lon, "lat": lat, "at": when.isoformat(), "revision": run.revision,
            "eta_s": run.plan["eta_s"]})
        return self._answer(run, service)

    def finish(self, run_id: str, *, actor: str = "python") -> None:
        """End a run: its green windows are released.

        Raises
        ------
        VehicleNotFound
        """
        now = self.now()
        with self.store.exclusive(now) as book:
            run = book.get(run_id)
            self.store.append({"op": "finish", "id": run_id, "revision": run.revision + 1,
                               "time": now.isoformat()})
        self.audit.record("run.finish", actor=actor, subject=run_id,
                          detail={"revision": run.revision + 1})

    def get(self, run_id: str) -> dict[str, Any]:
        """An active run, as last planned (by any process).

        Raises
        ------
        VehicleNotFound
        """
        service = self._city.routing
        with self.store.reading(self.now()) as book:
            return self._answer(book.get(run_id), service)

    def active(self) -> list[dict[str, Any]]:
        """Every active run, oldest first."""
        service = self._city.routing
        with self.store.reading(self.now()) as book:
            return [self._answer(run, service) for run in book.runs.values()]

    def held_signals(self) -> dict[str, Any]:
        """The signals held now or later for emergency runs, without the vehicles.

        Returns
        -------
        dict
            ``time`` (the clock, ISO), ``runs`` (active runs) and ``signals``: per
            junction and phase, each merged window: ``id`` (junction node), ``lon``,
            ``lat``, ``phase``, ``start``, ``end`` (ISO 8601 with offset), ``runs`` and
            ``incidents`` sharing it.
        """
        tz = self._city.routing.tz
        now = self.now()
        with self.store.reading(now) as book:
            return {"time": now.astimezone(tz).isoformat(timespec="seconds"),
                    "runs": len(book.runs), "signals": book.held_signals(now, tz)}


def _run_key(entry: dict[str, Any]) -> tuple[str, int]:
    return str(entry["id"]), int(entry["revision"])


def run_log(city: City) -> ChangeLog:
    """The city's shared run log: ``_edits`` rows on PostGIS, else ``_runs.jsonl``."""
    engine = city.database_engine
    if engine is not None:
        from layers.postgis import PostgisEditLog, ensure_edits_table

        ensure_edits_table(engine, city.database_schema)
        return PostgisEditLog(engine, city.database_schema, RUN_LOG, key=_run_key,
                              write_through=False)
    return FileLog(city.edits_dir / f"{RUN_LOG}.jsonl")


def load(city: City) -> EmergencyRuns:
    """Open the city's emergency runs (replaying the shared log)."""
    return EmergencyRuns(city, RunStore(run_log(city)), audit_log(city))
