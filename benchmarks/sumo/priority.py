"""Signal priority through TraCI, the way a real priority controller switches a junction.

For every signal the emergency vehicle approaches, the controller receives a request
(the vehicle's controlled links at that signal) once the vehicle's ETA is within the
planned green lead plus the clearance time. Then:

1. **Target phase.** The phase of the signal's own program that gives green to every
   link leaving the vehicle's lanes (``getControlledLinks``: the vehicle's links and
   those of the queue ahead of it; protected ``G`` preferred), or, when no phase serves
   them all, a pre-emption state with green on those links only. Vehicles queued ahead
   of the emergency vehicle that wait at the same signal (e.g. a car making a U-turn
   through the median) have their links added to the request.
2. **Hold or bring forward.** If the requested links are green now, the current state
   is held (green extension). Otherwise the links that lose green go through
   :data:`routing.signals.YELLOW_S` of yellow and :data:`routing.signals.ALL_RED_S`
   of all-red before the target phase turns green (early green), so that vehicles
   inside the junction clear; links green in both states stay green.
3. **Recovery.** When the vehicle has passed the signal, the controller goes back to the
   normal program at the phase the unperturbed schedule shows at that time (through
   yellow and all-red if that phase differs), with the remaining time of that phase, so
   that the fixed-time schedule and its coordination are kept. A hold longer than
   :data:`MAX_HOLD_S` is given up (the signal recovers and serves no more requests),
   so that a blocked vehicle can never freeze a junction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import traci

from routing.signals import ALL_RED_S, YELLOW_S

__all__ = ["CLEARANCE_S", "MAX_HOLD_S", "Program", "PriorityController", "is_green"]

#: Seconds from a priority request to the target green (yellow + all-red).
CLEARANCE_S = YELLOW_S + ALL_RED_S
#: Longest priority hold of one signal; then it recovers and takes no further request.
MAX_HOLD_S = 90.0
#: Shortest remaining green given to the resumed phase at recovery.
MIN_RESUME_S = 5.0
_GREEN = "Gg"
_AMBER = "yYu"


def is_green(char: str) -> bool:
    """True for a green link state (protected ``G`` or permissive ``g``)."""
    return char in _GREEN


@dataclass
class Program:
    """A signal's normal fixed-time program and where it stood in its cycle."""

    program_id: str
    states: list[str]
    durations: list[float]
    anchor_time: float
    anchor_pos: float
    #: incoming lane of each link index
    lanes: list[str]

    @property
    def cycle(self) -> float:
        """Cycle length (s)."""
        return float(sum(self.durations))

    @classmethod
    def capture(cls, tls: str, now: float) -> Program:
        """Read the running program of ``tls`` and its position in the cycle at ``now``."""
        program_id = traci.trafficlight.getProgram(tls)
        logic = next(lg for lg in traci.trafficlight.getAllProgramLogics(tls)
                     if lg.programID == program_id)
        states = [p.state for p in logic.phases]
        durations = [float(p.duration) for p in logic.phases]
        phase = traci.trafficlight.getPhase(tls)
        remaining = traci.trafficlight.getNextSwitch(tls) - now
        pos = sum(durations[:phase]) + durations[phase] - remaining
        lanes = [group[0][0] if group else "" for group in traci.trafficlight.getControlledLinks(tls)]
        return cls(program_id, states, durations, now, pos, lanes)

    def phase_at(self, t: float) -> tuple[int, float]:
        """Phase index of the unperturbed schedule at ``t`` and the seconds it has left."""
        pos = (self.anchor_pos + t - self.anchor_time) % self.cycle
        start = 0.0
        for i, d in enumerate(self.durations):
            if pos < start + d:
                return i, start + d - pos
            start += d
        return len(self.durations) - 1, 0.0

    def approach(self, links: list[int]) -> list[int]:
        """The links leaving the same lanes as ``links``: the queue ahead of the vehicle."""
        lanes = {self.lanes[i] for i in links}
        return [j for j, lane in enumerate(self.lanes) if lane in lanes]

    def _phase_serving(self, links: list[int]) -> str | None:
        best, key = None, (-1, -1.0)
        for state, dur in zip(self.states, self.durations, strict=True):
            if all(is_green(state[i]) for i in links):
                k = (sum(state[i] == "G" for i in links), dur)
                if k > key:
                    best, key = state, k
        return best

    def target(self, links: list[int]) -> str:
        """The state that gives the vehicle's ``links`` and the queue ahead of it green.

        The longest phase of the program that serves every link leaving the vehicle's
        lanes (protected first), else one that serves the vehicle's own links. When no
        phase serves them all (the route crosses one controller twice, e.g. through the
        median of a dual carriageway), a pre-emption state: green for the vehicle's
        links, permissive green for the other links of its lanes, red elsewhere.
        """
        queue = self.approach(links)
        best = self._phase_serving(queue) or self._phase_serving(links)
        if best is None:
            best = "".join("G" if i in links else "g" if i in queue else "r"
                           for i in range(len(self.lanes)))
        return best


def _transition(current: str, target: str) -> tuple[str, str]:
    """Yellow and all-red states between ``current`` and ``target``."""
    yellow = "".join("y" if (is_green(c) and not is_green(t)) or c in _AMBER else c
                     for c, t in zip(current, target, strict=True))
    red = "".join(c if is_green(c) and is_green(t) else "r"
                  for c, t in zip(current, target, strict=True))
    return yellow, red


@dataclass
class _Signal:
    program: Program
    links: tuple[int, ...] = ()
    #: queued (state, seconds) steps; the last one with inf duration is held
    steps: list[tuple[str, float]] = field(default_factory=list)
    step_end: float = 0.0
    mode: str = "idle"  # idle | priority | recovery
    since: float = 0.0
    expired: bool = False


class PriorityController:
    """Applies priority requests to SUMO signals and recovers their programs.

    Parameters
    ----------
    programs : dict
        ``tls id -> Program`` captured before any priority (the normal schedules).
    """

    def __init__(self, programs: dict[str, Program]) -> None:
        self._signals = {tls: _Signal(p) for tls, p in programs.items()}
        self.actions: list[dict] = []

    @property
    def active(self) -> set[str]:
        """Signals under priority control now."""
        return {tls for tls, s in self._signals.items() if s.mode == "priority"}

    def request(self, tls: str, links: list[int], now: float) -> None:
        """Give green to ``links`` of ``tls`` as soon as a safe transition allows."""
        sig = self._signals[tls]
        key = tuple(sorted(set(links)))
        if sig.expired or (sig.mode == "priority" and sig.links == key):
            return
        if sig.mode != "priority":
            sig.since = now
        target = sig.program.target(links)
        current = traci.trafficlight.getRedYellowGreenState(tls)
        if all(is_green(current[i]) for i in links):
            action, steps = "extend", [(current, math.inf)]
        else:
            yellow, red = _transition(current, target)
            action, steps = "early", [(yellow, YELLOW_S), (red, ALL_RED_S), (target, math.inf)]
        sig.links, sig.mode, sig.steps = key, "priority", steps
        self.actions.append({"tls": tls, "time": now, "action": action})
        self._apply(tls, sig, now)

    def release(self, tls: str, now: float) -> None:
        """The vehicle has passed ``tls``: recover the normal program."""
        sig = self._signals[tls]
        if sig.mode != "priority":
            return
        current = traci.trafficlight.getRedYellowGreenState(tls)
        resume = sig.program.states[sig.program.phase_at(now + CLEARANCE_S)[0]]
        if all(is_green(r) or not is_green(c) for c, r in zip(current, resume, strict=True)):
            sig.steps = []
        else:
            yellow, red = _transition(current, resume)
            sig.steps = [(yellow, YELLOW_S), (red, ALL_RED_S)]
        sig.mode, sig.links = "recovery", ()
        self._apply(tls, sig, now)

    def step(self, now: float) -> None:
        """Advance the transitions whose time has come (call once per simulation step)."""
        for tls, sig in self._signals.items():
            if sig.mode == "priority" and now - sig.since > MAX_HOLD_S:
                sig.expired = True
                self.actions.append({"tls": tls, "time": now, "action": "expired"})
                self.release(tls, now)
            if sig.mode != "idle" and now >= sig.step_end:
                sig.steps.pop(0)
                self._apply(tls, sig, now)

    def _apply(self, tls: str, sig: _Signal, now: float) -> None:
        if sig.steps:
            state, seconds = sig.steps[0]
            traci.trafficlight.setRedYellowGreenState(tls, state)
            sig.step_end = now + seconds
            return
        if sig.mode == "recovery":
            index, left = sig.program.phase_at(now)
            traci.trafficlight.setProgram(tls, sig.program.program_id)
            traci.trafficlight.setPhase(tls, index)
            traci.trafficlight.setPhaseDuration(tls, max(left, MIN_RESUME_S))
            sig.mode = "idle"
