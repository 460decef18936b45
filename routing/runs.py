"""Emergency runs: the run record, its planning, and the state derived from a run log.

A run is planned once when it is dispatched and again at every position update, always
against the green windows already granted to the other active runs
(:func:`routing.greenwave.plan_green_wave`). This module is pure: where the runs are
stored and shared between processes is the caller's business (``twin.runs``), which
feeds the stored entries to a :class:`RunBook`.

Times: departures and windows are absolute (aware datetimes, epoch seconds inside); the
signal plans' arithmetic runs on the local clock of the service's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routing.arrivals import Arrivals, predict, timed_wave
from routing.avl import Fix, RouteGeometry, RouteMatcher
from routing.controller import Limits
from routing.engine import Path, PathEngine
from routing.errors import InvalidDeparture, VehicleNotFound
from routing.greenwave import ActiveWindows, GreenWave, Window

if TYPE_CHECKING:
    from routing.service import RoutingService

__all__ = [
    "RUN_RETENTION_S",
    "MAX_PAST_S",
    "MAX_AHEAD_S",
    "EmergencyRun",
    "RunBook",
    "checked_time",
    "plan_run",
    "replan_from_position",
]

#: A run is released this long after its ETA (no more position updates).
RUN_RETENTION_S = 1800.0
#: Departures and positions are accepted this far before the service's clock ...
MAX_PAST_S = 300.0
#: ... and this far after it.
MAX_AHEAD_S = 86400.0


def checked_time(when: dt.datetime | None, now: dt.datetime, tz: dt.tzinfo, *,
                 name: str = "depart_at") -> dt.datetime:
    """``when`` as an aware time (``tz`` when it has none; ``now`` when None), within
    :data:`MAX_PAST_S` before and :data:`MAX_AHEAD_S` after ``now``.

    Raises
    ------
    InvalidDeparture
        Outside those bounds.
    """
    if when is None:
        return now
    when = when if when.tzinfo else when.replace(tzinfo=tz)
    ahead = (when - now).total_seconds()
    if not -MAX_PAST_S <= ahead <= MAX_AHEAD_S:
        raise InvalidDeparture(
            f"{name} {when.isoformat()} is {_span(ahead)} the service's clock "
            f"({now.isoformat(timespec='seconds')}); allowed: {MAX_PAST_S / 60:.0f} min before "
            f"to {MAX_AHEAD_S / 3600:.0f} h after")
    return when


def _span(seconds: float) -> str:
    word = "after" if seconds > 0 else "before"
    seconds = abs(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h {word}"
    return f"{seconds / 60:.1f} min {word}"


def _iso(epoch: float, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(round(epoch, 1), tz).isoformat(timespec="milliseconds")


def _signal_payload(sig: dict, depart: float, tz: dt.tzinfo) -> dict:
    out: dict[str, Any] = {"id": sig.pop("node")}
    for key, value in sig.items():
        digits = 6 if key in ("lon", "lat") else 1
        out[key] = round(value, digits) if isinstance(value, float) else value
    for key in ("arrival", "green_start", "green_end"):
        out[key] = _iso(depart + sig[f"{key}_s"], tz)
    return out


def _window_entry(w: Window) -> list:
    return [w.node, w.phase, w.start, w.end, w.lon, w.lat, w.arrival]


def _window(run_id: str, incident: str | None, entry: Sequence) -> Window:
    """A window of a run record (``[node, phase, start, end, lon, lat(, arrival)]``)."""
    node, phase, start, end, lon, lat, *arrival = entry
    return Window(run_id, int(node), str(phase), float(start), float(end), incident,
                  float(lon), float(lat), float(arrival[0]) if arrival else float("nan"))


@dataclass
class EmergencyRun:
    """An active emergency run: its last plan, its granted windows and its history.

    Attributes
    ----------
    id, vehicle : str
        Run id (``fire-12``) and vehicle type.
    destination : int
        Graph node id of the destination (stable across network versions).
    depart_at : datetime
        Departure of the current plan (the last position update), aware.
    dispatched_at : datetime
        When the run was created (the priority order between runs).
    plan : dict
        The plan as answered: geometry, distance, both ETAs, signals, conflicts, roads.
    windows : list of Window
        The green windows the plan holds (absolute times).
    incident_id : str, optional
        The incident several runs may share.
    revision : int
        1 at creation, +1 per re-plan.
    history : list of dict
        Reported positions (lon, lat, at).
    """

    id: str
    vehicle: str
    destination: int
    depart_at: dt.datetime
    dispatched_at: dt.datetime
    plan: dict
    windows: list[Window]
    incident_id: str | None = None
    revision: int = 1
    history: list[dict] = field(default_factory=list)

    @property
    def ends_at(self) -> dt.datetime:
        """When the run is released: :data:`RUN_RETENTION_S` after its ETA."""
        return self.depart_at + dt.timedelta(seconds=self.plan["eta_s"] + RUN_RETENTION_S)

    def payload(self, tz: dt.tzinfo) -> dict:
        """The run as answered (times ISO 8601 with the offset of ``tz``)."""
        arrive = self.depart_at + dt.timedelta(seconds=self.plan["eta_s"])
        return {"id": self.id, "vehicle": self.vehicle, "incident_id": self.incident_id,
                "revision": self.revision,
                "dispatched_at": self.dispatched_at.astimezone(tz).isoformat(),
                "depart_at": self.depart_at.astimezone(tz).isoformat(),
                "arrive_at": arrive.astimezone(tz).isoformat(timespec="milliseconds"),
                "expires_at": self.ends_at.astimezone(tz).isoformat(timespec="seconds"),
                **self.plan, "history": list(self.history)}

    def to_entry(self) -> dict:
        """JSON-ready record (what a run log stores)."""
        return {"id": self.id, "vehicle": self.vehicle, "destination": self.destination,
                "depart_at": self.depart_at.isoformat(),
                "dispatched_at": self.dispatched_at.isoformat(), "plan": self.plan,
                "windows": [_window_entry(w) for w in self.windows],
                "incident_id": self.incident_id, "revision": self.revision,
                "history": self.history}

    @classmethod
    def from_entry(cls, data: dict) -> EmergencyRun:
        """The run of a :meth:`to_entry` record."""
        run_id, incident = str(data["id"]), data.get("incident_id")
        return cls(id=run_id, vehicle=data["vehicle"], destination=int(data["destination"]),
                   depart_at=dt.datetime.fromisoformat(data["depart_at"]),
                   dispatched_at=dt.datetime.fromisoformat(data["dispatched_at"]),
                   plan=data["plan"],
                   windows=[_window(run_id, incident, entry) for entry in data["windows"]],
                   incident_id=incident, revision=int(data.get("revision", 1)),
                   history=list(data.get("history", [])))


def _answer(service: RoutingService, path: Path, wave: GreenWave) -> dict:
    return {"geometry": service._geojson(path), "distance_m": round(path.length_m, 1),
            "eta_s": round(wave.eta_s, 1),
            "eta_without_priority_s": round(wave.eta_without_priority_s, 1),
            "priority": wave.priority,
            "signals": [_signal_payload(s.to_dict(), wave.depart, service.tz)
                        for s in wave.signals],
            "conflicts": wave.conflicts, "roads": service._roads(path),
            "route_nodes": [int(n) for n in service.network.node_ids[path.nodes]],
            "versions": dict(getattr(service, "versions", None) or {})}


def plan_run(service: RoutingService, run_id: str, arrivals: Arrivals, *, vehicle: str,
             destination: int, dispatched_at: dt.datetime, active: ActiveWindows,
             incident_id: str | None = None, revision: int = 1,
             history: Sequence[dict] = (), limits: Limits = Limits(),
             keep_priority: bool = False) -> EmergencyRun:
    """Plan a run on its predicted arrivals, around the granted windows.

    Parameters
    ----------
    service : RoutingService
        The network and time zone to plan on.
    run_id : str
        The run's id (its own windows in ``active`` are replaced, not avoided).
    arrivals : Arrivals
        The route ahead and when the vehicle reaches each node
        (:func:`routing.arrivals.predict`); ``arrivals.at`` is the plan's departure.
    vehicle : str
        Vehicle type.
    destination : int
        Node index of the destination in ``service.network``.
    dispatched_at : datetime
        Aware time of the dispatch.
    active : ActiveWindows
        The other runs' windows (:data:`routing.greenwave.PRIORITY_RULE`).
    incident_id : str, optional
        The incident this run serves.
    revision : int
        The plan's revision.
    history : sequence of dict
        Positions reported so far.
    limits : Limits
        The signal controllers' limits (residual waits in the ETA).
    keep_priority : bool
        The run holds priority and keeps it (a re-plan on its way: the controllers may
        be running its windows).

    Returns
    -------
    EmergencyRun
        Planned by :func:`routing.arrivals.timed_wave`: honest ETAs; a run whose ETA with
        priority would not beat the one without holds no window.
    """
    path = arrivals.path
    wave = timed_wave(service.network, arrivals, service.eta_speeds(vehicle), run_id=run_id,
                      tz=service.tz, active=active, incident_id=incident_id, limits=limits,
                      keep_priority=keep_priority)
    plan = _answer(service, path, wave)
    plan["pace"] = round(arrivals.pace, 2)
    return EmergencyRun(
        id=run_id, vehicle=vehicle,
        destination=int(service.network.node_ids[destination]), depart_at=arrivals.at,
        dispatched_at=dispatched_at, plan=plan, windows=wave.windows(run_id, incident_id),
        incident_id=incident_id, revision=revision, history=list(history))


def _planned_path(service: RoutingService, engine: PathEngine, run: EmergencyRun) -> Path | None:
    """The path of the run's current plan on this network (None when it cannot be
    rebuilt: a plan without its nodes, or a junction the network no longer has)."""
    nodes = run.plan.get("route_nodes") or []
    if len(nodes) < 2:
        return None
    try:
        return engine.path_from_nodes([service.network.index(n) for n in nodes])
    except (LookupError, ValueError):
        return None


def replan_from_position(service: RoutingService, run: EmergencyRun, lon: float, lat: float,
                         at: dt.datetime, active: ActiveWindows, *,
                         accuracy_m: float = 15.0) -> EmergencyRun:
    """The run re-planned from a reported position (the one place that turns a position
    into a plan).

    The fix is matched to the run's own route (:mod:`routing.avl`: a filter of progress
    and speed along it, within the GPS error and a plausible-speed gate, never backwards
    beyond the noise; its state travels with the run, so any worker can take the next
    update), and the plan goes on from there: every signal not yet passed keeps its
    window, re-planned from the matched progress extrapolated to the fix time. Only a real
    deviation (:data:`routing.avl.OFF_ROUTE_FIXES` fixes in a row off the route by more than
    ``max(3 × accuracy, 40 m)``) routes again, from where the vehicle is.

    Raises
    ------
    PointTooFar, NodeNotFound, Unreachable
    """
    network = service.network
    dst = network.index(run.destination)
    engine, _ = service.engine_at(run.vehicle, depart_at=at)  # closures in force then
    route = _planned_path(service, engine, run)
    record: dict = {"lon": lon, "lat": lat, "at": at.isoformat(), "accuracy_m": accuracy_m}
    if route is None:  # a plan without its route (or a junction since removed): route again
        return _rerouted(service, run, engine.route(network.snap(lon, lat)[0], dst), at,
                         active, record)
    geometry = RouteGeometry.from_path(network, route)
    started = dt.datetime.fromisoformat(run.plan.get("route_depart_at", run.depart_at.isoformat()))
    matcher = RouteMatcher.resume(geometry, started, run.plan.get("match"))
    match = matcher.update(Fix(lon, lat, at, accuracy_m), now=at)
    record.update(progress_m=round(match.progress_m, 1), distance_m=round(match.distance_m, 1),
                  off_route=match.off_fixes > 0)
    if match.off_route:  # a real deviation: route again from where it is now
        record["rerouted"] = True
        return _rerouted(service, run, engine.route(
            network.snap(match.now_lon, match.now_lat)[0], dst), at, active, record)
    arrivals = predict(network, route, service.eta_speeds(run.vehicle), at=match.now,
                       tz=service.tz, match=match, geometry=geometry, route_depart_at=started)
    new = plan_run(service, run.id, arrivals, vehicle=run.vehicle, destination=dst,
                   dispatched_at=run.dispatched_at, active=active,
                   incident_id=run.incident_id, revision=run.revision + 1,
                   history=[*run.history, record],
                   keep_priority=bool(run.plan.get("priority")) and bool(run.windows))
    # the route matched against stays the whole route, with the filter's state
    new.plan.update(route_nodes=run.plan["route_nodes"], route_depart_at=started.isoformat(),
                    match=matcher.state())
    return new


def _rerouted(service: RoutingService, run: EmergencyRun, path: Path, at: dt.datetime,
              active: ActiveWindows, record: dict) -> EmergencyRun:
    arrivals = predict(service.network, path, service.eta_speeds(run.vehicle), at=at,
                       tz=service.tz)
    return plan_run(service, run.id, arrivals, vehicle=run.vehicle,
                    destination=service.network.index(run.destination),
                    dispatched_at=run.dispatched_at, active=active, incident_id=run.incident_id,
                    revision=run.revision + 1, history=[*run.history, record])


class RunBook:
    """The active runs and their windows, derived from the entries of a run log.

    Entries are ``{"op": "create" | "replan", "run": EmergencyRun.to_entry()}`` and
    ``{"op": "finish", "id": ...}``; :meth:`apply` them in log order, then
    :meth:`expire` what ended by the service's clock.
    """

    def __init__(self) -> None:
        self.runs: dict[str, EmergencyRun] = {}
        self.windows = ActiveWindows()
        self.created = 0

    def apply(self, entry: dict) -> None:
        """Apply one log entry."""
        op = entry.get("op")
        if op in ("create", "replan"):
            run = EmergencyRun.from_entry(entry["run"])
            self.runs[run.id] = run
            self.windows.add(run.id, run.windows)
            self.created += op == "create"
        elif op == "finish":
            self.runs.pop(str(entry["id"]), None)
            self.windows.remove(str(entry["id"]))

    def expire(self, now: dt.datetime) -> list[str]:
        """Release the runs that ended before ``now``; their ids."""
        gone = [run_id for run_id, run in self.runs.items() if run.ends_at < now]
        for run_id in gone:
            del self.runs[run_id]
            self.windows.remove(run_id)
        return gone

    def next_id(self, vehicle: str) -> str:
        """The id of the next run (unique while the log is: count of runs ever created)."""
        return f"{vehicle}-{self.created + 1}"

    def get(self, run_id: str) -> EmergencyRun:
        """An active run.

        Raises
        ------
        VehicleNotFound
        """
        try:
            return self.runs[run_id]
        except KeyError:
            raise VehicleNotFound(f"no active emergency run {run_id!r}") from None

    def held_signals(self, now: dt.datetime, tz: dt.tzinfo) -> list[dict]:
        """The junctions held now or later: per junction and phase, the overlapping
        windows merged, with how many runs and incidents share them (no vehicles)."""
        return held_signals(self.windows, now.timestamp(), tz)


def held_signals(windows: Iterable[Window], now: float, tz: dt.tzinfo) -> list[dict]:
    """Windows that have not ended by ``now`` (epoch), merged per junction and phase."""
    groups: dict[tuple[int, str], list[Window]] = {}
    for w in windows:
        if w.end >= now:
            groups.setdefault((w.node, w.phase), []).append(w)
    held = []
    for (node, phase), group in groups.items():
        group.sort(key=lambda w: w.start)
        merged: list[list[Window]] = []
        for w in group:
            if merged and w.start <= max(x.end for x in merged[-1]):
                merged[-1].append(w)
            else:
                merged.append([w])
        for part in merged:
            incidents = {w.incident_id or f"run:{w.run_id}" for w in part}
            held.append({"id": node, "lon": round(part[0].lon, 6), "lat": round(part[0].lat, 6),
                         "phase": phase, "start": _iso(min(w.start for w in part), tz),
                         "end": _iso(max(w.end for w in part), tz),
                         "runs": len({w.run_id for w in part}), "incidents": len(incidents)})
    return sorted(held, key=lambda h: (h["start"], h["id"]))
