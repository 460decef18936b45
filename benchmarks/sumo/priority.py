"""Executes the planner's priority requests on SUMO traffic lights, and nothing else.

The controller in SUMO has no look-ahead of its own and reads no vehicle: it receives
:class:`routing.controller.PriorityRequest` objects (from the emergency runs' windows,
re-planned on AVL fixes or not) and plays each request's ``schedule`` — the twin phase's
green, yellow and all-red states of :mod:`tls` — from the takeover until the recovery
resumes the fixed-time plan, when the light's ``twin`` program is put back at the phase
the plan's clock shows. The limits (minimum service of the phase cut, pedestrian
clearance, yellow, all-red, maximum pre-emption) are in the schedules, decided by
:mod:`routing.controller`; this module only switches lights.

A request that disappears (the run passed the junction, per its AVL) while its
priority green is on is released (:func:`routing.controller.release_request`): the
green ends after the phase's minimum service and the recovery starts then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tls import TwinLight, align

from routing.controller import Limits, PriorityRequest, release_request, state_at
from routing.network import SignalPlan

__all__ = ["Executor"]

_STATE = {"green": 0, "yellow": 1, "all_red": 2}


@dataclass
class Executor:
    """Plays priority requests on the matched SUMO lights.

    Parameters
    ----------
    traci : module
        ``libsumo`` or ``traci``.
    lights : mapping of twin node to TwinLight
    plans : mapping of twin node to SignalPlan
    epoch : datetime.datetime
        The aware time of simulation second 0.
    tz : datetime.tzinfo
        The plans' clock zone.
    """

    traci: object
    lights: Mapping[int, TwinLight]
    plans: Mapping[int, SignalPlan]
    epoch: dt.datetime
    tz: dt.tzinfo
    limits: Limits = Limits()
    requests: dict[str, PriorityRequest] = field(default_factory=dict)
    #: requests executed (key -> the last version), for the measures
    executed: dict[str, PriorityRequest] = field(default_factory=dict)
    _controlled: set[int] = field(default_factory=set)
    ignored: int = 0

    def when(self, sim_s: float) -> dt.datetime:
        """The aware time of a simulation second."""
        return self.epoch + dt.timedelta(seconds=sim_s)

    def clock(self, sim_s: float) -> float:
        """The plan clock (seconds since local midnight) at a simulation second."""
        local = self.when(sim_s).astimezone(self.tz)
        return (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()

    def update(self, requests: Iterable[PriorityRequest], sim_s: float) -> None:
        """Replace the request set (the controller's ``GET /signals/requests``); requests
        released there finish their recovery (:func:`routing.controller.current_requests`
        keeps them)."""
        now = self.when(sim_s)
        new = {r.key: r for r in requests if r.junction in self.lights}
        for key, old in self.requests.items():  # a set without them: release here
            if key not in new and old.takeover_at is not None and old.takeover_at <= now < old.ends_at:
                new[key] = release_request(self.plans[old.junction], old, now=now, tz=self.tz,
                                           limits=self.limits)
        self.requests = new
        for key, r in new.items():
            if r.takeover_at is not None:
                self.executed[key] = r

    def step(self, sim_s: float) -> None:
        """Set the lights for the simulation second ``sim_s``."""
        now = self.when(sim_s)
        busy: set[int] = set()
        # the request that took over last rules its junction (later plans build on earlier)
        for r in sorted(self.requests.values(), key=lambda r: r.takeover_at or now, reverse=True):
            if r.junction in busy or r.takeover_at is None or r.takeover_at > now:
                continue
            st = state_at(r, now)
            if st is None:
                continue
            busy.add(r.junction)
            light = self.lights[r.junction]
            phase, what = st
            self.traci.trafficlight.setRedYellowGreenState(light.tls,
                                                           light.states[phase][_STATE[what]])
        for node in self._controlled - busy:  # back on the fixed-time plan, in step
            align(self.traci, {self.lights[node].tls: self.lights[node]}, self.clock(sim_s))
        self._controlled = busy
        self.requests = {k: r for k, r in self.requests.items() if now < r.ends_at}
