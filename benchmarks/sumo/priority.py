"""Executes the planner's priority requests on SUMO traffic lights, and nothing else.

The controller in SUMO has no look-ahead of its own and reads no vehicle: it receives
:class:`routing.controller.PriorityRequest` objects (from the emergency runs' windows,
re-planned on AVL fixes or not) and plays each request's ``schedule`` — the twin phase's
green, yellow and all-red states of :mod:`tls` — from the takeover until the recovery
resumes the fixed-time plan, when the light's ``twin`` program is put back at the phase
the plan's clock shows. A twin junction may have several SUMO lights
(:func:`tls.lights_by_node`): a request switches all of them, each to its own states of
the same twin phase and interval. The limits (minimum service of the phase cut,
pedestrian clearance, yellow, all-red, maximum pre-emption) are in the schedules, decided
by :mod:`routing.controller`; this module only switches lights.

A request that disappears (the run passed the junction, per its AVL) while its
priority green is on is released (:func:`routing.controller.release_request`): the
green ends after the phase's minimum service and the recovery starts then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tls import TwinLight, align, lights_by_node

from routing.controller import Limits, PriorityRequest, release_request, state_at
from routing.network import SignalPlan
from routing.profiles import clock_seconds

__all__ = ["Executor"]

_STATE = {"green": 0, "yellow": 1, "all_red": 2}


@dataclass
class Executor:
    """Plays priority requests on the matched SUMO lights.

    Parameters
    ----------
    traci : module
        ``libsumo`` or ``traci``.
    lights : mapping of SUMO tls id to TwinLight
        Every SUMO light running a twin plan (:func:`tls.twin_lights`); a request for a
        twin junction switches all its lights.
    plans : mapping of twin node to SignalPlan
    epoch : datetime.datetime
        The aware time of simulation second 0.
    tz : datetime.tzinfo
        The plans' clock zone.
    limits : routing.controller.Limits
        The controller limits (for the release of a request that disappears).

    Attributes
    ----------
    requests : dict
        The requests in force (key -> request).
    executed : dict
        Requests executed (key -> their last version), for the measures.
    nodes : dict
        Twin node -> its SUMO lights (built from ``lights``).
    """

    traci: object
    lights: Mapping[str, TwinLight]
    plans: Mapping[int, SignalPlan]
    epoch: dt.datetime
    tz: dt.tzinfo
    limits: Limits = Limits()
    requests: dict[str, PriorityRequest] = field(default_factory=dict)
    #: requests executed (key -> the last version), for the measures
    executed: dict[str, PriorityRequest] = field(default_factory=dict)
    _controlled: set[int] = field(default_factory=set)
    ignored: int = 0
    nodes: dict[int, list[TwinLight]] = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = lights_by_node(self.lights)

    def when(self, sim_s: float) -> dt.datetime:
        """The aware time of a simulation second."""
        return self.epoch + dt.timedelta(seconds=sim_s)

    def clock(self, sim_s: float) -> float:
        """The plan clock (seconds since local midnight) at a simulation second."""
        return clock_seconds(self.when(sim_s), self.tz)

    def update(self, requests: Iterable[PriorityRequest], sim_s: float) -> None:
        """Replace the request set (the controller's ``GET /signals/requests``); requests
        released there finish their recovery (:func:`routing.controller.current_requests`
        keeps them)."""
        now = self.when(sim_s)
        new = {r.key: r for r in requests if r.junction in self.nodes}
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
            phase, what = st
            for light in self.nodes[r.junction]:
                self.traci.trafficlight.setRedYellowGreenState(light.tls,
                                                               light.states[phase][_STATE[what]])
        for node in self._controlled - busy:  # back on the fixed-time plan, in step
            align(self.traci, {light.tls: light for light in self.nodes[node]}, self.clock(sim_s))
        self._controlled = busy
        self.requests = {k: r for k, r in self.requests.items() if now < r.ends_at}
