"""The controller's message types: limits, windows, and the priority request with its JSON.

:class:`PriorityRequest` is what one junction's controller is asked to do;
:meth:`PriorityRequest.to_json` is the message served at ``GET /signals/requests`` and
:meth:`PriorityRequest.from_json` rebuilds the request from it (format in
``docs/controller.md``). Re-exported by :mod:`routing.controller`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routing._controller_json import Message, iso
from routing.signals import PED_WALK_S

__all__ = ["Limits", "PriorityWindow", "Interval", "Recovery", "PriorityRequest", "ACTIONS",
           "RECOVERY_METHODS", "CUT_HOWS"]

#: The actions a request may carry (see :class:`PriorityRequest`).
ACTIONS = ("none", "extend", "early", "pending")
#: The ways a junction recovers to coordination (see :class:`Recovery`).
RECOVERY_METHODS = ("none", "shorten", "lengthen")
#: What happens to a phase in the way of a request (``cut`` entries).
CUT_HOWS = ("cut", "skipped", "delayed")


@dataclass(frozen=True)
class Limits:
    """A controller's limits on priority.

    Attributes
    ----------
    min_green_s : float
        Minimum green of any phase once started (the plan's ``min_green_s`` wins when
        larger).
    ped_walk_s : float
        Walk interval before the pedestrian clearance.
    max_preempt_s : float
        Longest time a junction leaves its fixed-time plan for one request.
    lengthen_share : float
        Share of the cycle a recovery may add per cycle when it lengthens.
    ped_clearance_in_green : bool
        The pedestrian clearance runs inside the green (default: a cut phase keeps walk +
        clearance of green). False: it may overlap the yellow and all-red, as the plan's
        ``min_green_s`` assumes (the minimum service is then the minimum green).
    """

    min_green_s: float = 10.0
    ped_walk_s: float = PED_WALK_S
    max_preempt_s: float = 60.0
    lengthen_share: float = 0.2
    ped_clearance_in_green: bool = True


@dataclass(frozen=True)
class PriorityWindow:
    """A run's wish for green at one junction.

    Attributes
    ----------
    run_id : str
    node : int
        Junction (graph node id of the signal plan).
    phase : int
        Index of the plan phase serving the run's approach.
    start, end : datetime.datetime
        Green wanted from ``start`` (queue cleared by the arrival) to ``end`` (cleared).
    arrival : datetime.datetime
        Expected arrival at the stop line.
    """

    run_id: str
    node: int
    phase: int
    start: dt.datetime
    end: dt.datetime
    arrival: dt.datetime


@dataclass(frozen=True)
class Interval:
    """One phase of a temporary timing: green, then its yellow and all-red."""

    phase: int
    green_start: dt.datetime
    green_end: dt.datetime
    yellow_s: float
    all_red_s: float

    @property
    def end(self) -> dt.datetime:
        """End of the all-red."""
        return self.green_end + dt.timedelta(seconds=self.yellow_s + self.all_red_s)

    @property
    def green_s(self) -> float:
        """Green length."""
        return (self.green_end - self.green_start).total_seconds()


@dataclass(frozen=True)
class Recovery:
    """The transition back to coordination after a priority green.

    Attributes
    ----------
    method : str
        ``none`` (already in step), ``shorten`` or ``lengthen``.
    offset_error_s : float
        Seconds the junction is out of step when the priority green ends.
    cycles : int
        Cycles the transition takes.
    green_change_s : dict
        Phase name -> seconds each of its greens changes by during the transition
        (negative: shortened).
    resume_at : datetime.datetime
        When the fixed-time plan runs again.
    """

    method: str
    offset_error_s: float
    cycles: int
    green_change_s: dict[str, float]
    resume_at: dt.datetime


@dataclass(frozen=True)
class PriorityRequest:
    """What one junction's controller is asked to do for one or more runs.

    Attributes
    ----------
    junction : int
        Junction (graph node id).
    runs : tuple of str
        The runs served (one phase).
    phase, phase_name : int, str
        The phase to serve.
    action : str
        ``none`` (the fixed-time green covers the window), ``extend``, ``early``, or
        ``pending`` (announced, planned when the run comes within the planning horizon).
    window_start, window_end : datetime.datetime
        The window asked for.
    arrival : datetime.datetime
        The first run's expected arrival.
    green_start, green_end : datetime.datetime
        The green the phase gets (its fixed-time green for ``none``).
    takeover_at : datetime.datetime or None
        When the controller leaves its fixed-time plan (None for ``none``).
    hold_limit : datetime.datetime or None
        ``takeover_at`` + the maximum pre-emption: the green never extends past it.
    residual_wait_s : float
        Seconds the limits (or an earlier run's window) leave the vehicle waiting.
    cut : tuple of dict
        Phases cut or skipped: ``{"phase", "name", "green_s", "normal_green_s",
        "min_service_s"}``.
    recovery : Recovery or None
    schedule : tuple of Interval
        The temporary timing, from the takeover to ``recovery.resume_at``.
    conflicts : tuple of dict
        Earlier windows on another phase this request waits for.
    """

    junction: int
    runs: tuple[str, ...]
    phase: int
    phase_name: str
    action: str
    window_start: dt.datetime
    window_end: dt.datetime
    arrival: dt.datetime
    green_start: dt.datetime
    green_end: dt.datetime
    takeover_at: dt.datetime | None
    hold_limit: dt.datetime | None
    residual_wait_s: float
    cut: tuple[dict, ...] = ()
    recovery: Recovery | None = None
    schedule: tuple[Interval, ...] = ()
    conflicts: tuple[dict, ...] = ()

    @property
    def key(self) -> str:
        """Stable id of the request: junction, first run and phase."""
        return f"{self.junction}:{self.runs[0]}:{self.phase}"

    @property
    def ends_at(self) -> dt.datetime:
        """When the junction is back on its fixed-time plan (or the window ends)."""
        return self.recovery.resume_at if self.recovery is not None else self.window_end

    def to_json(self) -> dict:
        """The message served at ``GET /signals/requests`` (see ``docs/controller.md``)."""
        rec = None
        if self.recovery is not None:
            r = self.recovery
            rec = {"method": r.method, "offset_error_s": round(r.offset_error_s, 1),
                   "cycles": r.cycles,
                   "green_change_s": {k: round(v, 1) for k, v in r.green_change_s.items()},
                   "resume_at": iso(r.resume_at)}
        return {
            "id": self.key, "junction": self.junction, "runs": list(self.runs),
            "phase": self.phase, "phase_name": self.phase_name, "action": self.action,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "arrival": iso(self.arrival),
            "green": {"start": iso(self.green_start), "end": iso(self.green_end)},
            "takeover_at": iso(self.takeover_at), "hold_limit": iso(self.hold_limit),
            "residual_wait_s": round(self.residual_wait_s, 1),
            "cut": [dict(c) for c in self.cut], "recovery": rec,
            "schedule": [{"phase": iv.phase, "green_start": iso(iv.green_start),
                          "green_end": iso(iv.green_end), "yellow_s": iv.yellow_s,
                          "all_red_s": iv.all_red_s} for iv in self.schedule],
            "conflicts": [dict(c) for c in self.conflicts],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PriorityRequest:
        """The request a message of :meth:`to_json` describes (what a controller executes).

        Parameters
        ----------
        data : mapping
            The message (e.g. ``json.loads`` of one entry of ``GET /signals/requests``,
            or the ``request`` of an ``added`` / ``changed`` event). ``id`` is optional
            (it is derived from junction, first run and phase) but must match when given;
            unknown keys are ignored.

        Returns
        -------
        PriorityRequest
            Times are aware datetimes with the message's offsets. The message keeps
            milliseconds and rounds ``residual_wait_s`` and the recovery's seconds to 0.1 s,
            so ``from_json(r.to_json()).to_json() == r.to_json()``, and the schedule
            (:func:`routing.controller.state_at`) is the same except within a millisecond of
            its switching times.

        Raises
        ------
        ValueError
            The message is not an object, a key is missing, a value has the wrong type, a
            time is not ISO 8601 with an offset, the action, recovery method or a cut's
            ``how`` is unknown, there is no run, or ``id`` disagrees with the request. The
            message names the field (``schedule[1].green_end``).
        """
        name = "priority request"
        if isinstance(data, Mapping) and isinstance(data.get("id"), str):
            name += f" {data['id']!r}"
        m = Message.of(data, name)
        runs = tuple(m.strings("runs"))
        if not runs:
            raise m.error("runs", "no run (the first run makes the request's id)")
        window, green = m.obj("window"), m.obj("green")
        rec = m.optional("recovery", Message.obj)
        recovery = None if rec is None else Recovery(
            rec.choice("method", RECOVERY_METHODS), rec.number("offset_error_s"),
            rec.integer("cycles"), rec.numbers("green_change_s"), rec.time("resume_at"))
        req = cls(
            junction=m.integer("junction"), runs=runs, phase=m.integer("phase"),
            phase_name=m.text("phase_name"), action=m.choice("action", ACTIONS),
            window_start=window.time("start"), window_end=window.time("end"),
            arrival=m.time("arrival"), green_start=green.time("start"),
            green_end=green.time("end"), takeover_at=m.optional("takeover_at", Message.time),
            hold_limit=m.optional("hold_limit", Message.time),
            residual_wait_s=m.number("residual_wait_s"),
            cut=tuple(_cut(c) for c in m.objects("cut")), recovery=recovery,
            schedule=tuple(Interval(s.integer("phase"), s.time("green_start"),
                                    s.time("green_end"), s.number("yellow_s"),
                                    s.number("all_red_s")) for s in m.objects("schedule")),
            conflicts=tuple(_conflict(c) for c in m.objects("conflicts")))
        if "id" in m.data and m.data["id"] != req.key:
            raise m.error("id", f"{m.data['id']!r} is not junction:first run:phase {req.key!r}")
        return req


def _cut(m: Message) -> dict:
    """An entry of ``cut``: its ``phase`` and ``how`` checked, every field kept."""
    m.integer("phase")
    m.choice("how", CUT_HOWS)
    return m.copy()


def _conflict(m: Message) -> dict:
    """An entry of ``conflicts``: ``{"with": [runs], "wait_s"}``, every field kept."""
    m.number("wait_s")
    return {**m.copy(), "with": m.strings("with")}
