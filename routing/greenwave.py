"""Green wave (一路绿灯): signal priority plans along an emergency route.

For a route and a departure time, the vehicle's arrival time at every signalized
intersection is known from the emergency profile. For each such signal the planner
gives the approach's phase a green window ``[arrival - lead, arrival + hold]``:

* **lead** lets the queue standing ahead of the vehicle discharge before it arrives:
  ``lead = LEAD_BASE_S + SATURATION_HEADWAY_S × queued vehicles per lane``, where the
  queue is the arrivals of one red period on the approach's lanes (at
  :data:`ARRIVALS_PER_LANE_PER_S`);
* **hold** keeps green until the vehicle has cleared the junction.

The action per signal is ``none`` (the normal plan is green over the whole window),
``extend`` (the phase is green at the start of the window but would end before it closes:
hold it), or ``early`` (bring the phase forward: the conflicting phase is cut to its minimum
green and the approach turns green at the window start). After the window the controller
recovers to the normal plan within :data:`RECOVERY_CYCLES` cycles (the shifted time is
taken back from the served phase over that span).

The windows are planned from the departure (or the last position update). Validated in
SUMO (``benchmarks/sumo``), the leads clear the queues when each window is re-planned
from the vehicle's live position and green is held until the vehicle has passed (no stop
at a red in 30 runs up to the peak demand). Applied open loop, as planned at departure,
they do not: the simulated vehicle passed the first signal 12 s earlier to 23 s later
than planned (start from standstill, where the route joins the street), more than
:data:`HOLD_S`, and then waited at reds. A controller should therefore re-plan on every
position update (:meth:`routing.service.RoutingService.update_position`) and treat
``green_end_s`` as the earliest end of the hold, not a fixed one.

Without the plan, the vehicle waits at each red as the fixed-time plans dictate (the
ETA without priority). Two vehicles needing one intersection in overlapping windows on
different phases are resolved by :func:`resolve_conflicts`: the earlier-dispatched run
keeps its window (first come, first served); the later one's window starts when the
first clears, and its ETA grows by that wait.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from routing.engine import Path
from routing.network import RoadNetwork

__all__ = [
    "LEAD_BASE_S",
    "SATURATION_HEADWAY_S",
    "ARRIVALS_PER_LANE_PER_S",
    "HOLD_S",
    "RECOVERY_CYCLES",
    "SignalPriority",
    "GreenWave",
    "plan_green_wave",
    "eta_without_priority",
    "resolve_conflicts",
    "ActiveWindows",
    "queue_clearance_lead",
]

LEAD_BASE_S = 4.0
SATURATION_HEADWAY_S = 2.0
ARRIVALS_PER_LANE_PER_S = 0.1
HOLD_S = 4.0
RECOVERY_CYCLES = 2


@dataclass
class SignalPriority:
    """The priority plan of one signal on the route (times in seconds after departure)."""

    node: int
    lon: float
    lat: float
    arrival_s: float
    phase: str
    green_start_s: float
    green_end_s: float
    action: str
    lead_s: float
    normal_wait_s: float
    recovery_end_s: float
    cycle_s: float

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class GreenWave:
    """A route's green wave: the signal plans and both ETAs."""

    signals: list[SignalPriority]
    eta_s: float
    eta_without_priority_s: float
    depart_s: float
    conflicts: list[dict]


def queue_clearance_lead(red_s: float) -> float:
    """Seconds of green needed before the vehicle arrives to discharge the queue of one red."""
    queued_per_lane = ARRIVALS_PER_LANE_PER_S * red_s
    return LEAD_BASE_S + SATURATION_HEADWAY_S * queued_per_lane


def eta_without_priority(network: RoadNetwork, path: Path, depart_s: float) -> tuple[float, list[float]]:
    """ETA when the vehicle waits at each red of the fixed-time plans.

    Returns
    -------
    eta : float
        Seconds from departure to arrival.
    waits : list of float
        Wait at each node of the path (0 where there is no signal).
    """
    t = depart_s
    waits = [0.0]
    for i, edge in enumerate(path.edges):
        t += float(path.times[i + 1] - path.times[i])
        node = int(network.node_ids[path.nodes[i + 1]])
        plan = network.plans.get(node)
        wait = 0.0
        if plan is not None and i + 1 < len(path.nodes) - 1:
            u = int(network.node_ids[path.nodes[i]])
            wait = plan.wait_at(plan.phase_of(u, int(network.edge_key[edge])), t)
        waits.append(wait)
        t += wait
    return t - depart_s, waits


def plan_green_wave(network: RoadNetwork, path: Path, depart_s: float = 0.0) -> GreenWave:
    """Priority plans for every signalized intersection on ``path``.

    Parameters
    ----------
    network : RoadNetwork
        The network with its signal plans.
    path : Path
        Route at the emergency profile without signal delays.
    depart_s : float
        Departure time on the plans' clock (seconds since midnight).

    Returns
    -------
    GreenWave
    """
    signals = []
    for i in range(1, len(path.nodes) - 1):
        node = int(network.node_ids[path.nodes[i]])
        plan = network.plans.get(node)
        if plan is None:
            continue
        edge = path.edges[i - 1]
        u = int(network.node_ids[path.nodes[i - 1]])
        phase = plan.phase_of(u, int(network.edge_key[edge]))
        arrival = depart_s + float(path.times[i])
        red = plan.cycle_s - plan.phases[phase]["green_s"]
        lead = queue_clearance_lead(red)
        start, end = arrival - lead, arrival + HOLD_S
        g_start, g_end = plan.green_window(phase, start)
        if g_start <= start and g_end >= end:
            action = "none"
        elif g_start <= start < g_end:
            action = "extend"
        else:
            action = "early"
        signals.append(SignalPriority(
            node=node, lon=float(network.xy[path.nodes[i], 0]),
            lat=float(network.xy[path.nodes[i], 1]), arrival_s=arrival - depart_s,
            phase=plan.phases[phase]["name"], green_start_s=start - depart_s,
            green_end_s=end - depart_s, action=action, lead_s=lead,
            normal_wait_s=plan.wait_at(phase, arrival),
            recovery_end_s=end - depart_s + RECOVERY_CYCLES * plan.cycle_s,
            cycle_s=plan.cycle_s))
    eta_without, _ = eta_without_priority(network, path, depart_s)
    return GreenWave(signals=signals, eta_s=path.duration_s,
                     eta_without_priority_s=eta_without, depart_s=depart_s, conflicts=[])


def _shift(sig: SignalPriority, seconds: float) -> None:
    sig.arrival_s += seconds
    sig.green_start_s += seconds
    sig.green_end_s += seconds
    sig.recovery_end_s += seconds


class ActiveWindows:
    """The green windows of the active runs, indexed by signal node.

    A conflict check then looks only at the runs that cross the same signals, not at
    every active run.
    """

    def __init__(self) -> None:
        self._by_node: dict[int, dict[str, list[SignalPriority]]] = {}
        self._waves: dict[str, GreenWave] = {}

    @classmethod
    def from_mapping(cls, active: Mapping[str, GreenWave]) -> ActiveWindows:
        """Index a ``run id -> wave`` mapping."""
        index = cls()
        for run_id, wave in active.items():
            index.add(run_id, wave)
        return index

    def __len__(self) -> int:
        return len(self._waves)

    def add(self, run_id: str, wave: GreenWave) -> None:
        """Index a run's windows (replacing its earlier ones)."""
        self.remove(run_id)
        self._waves[run_id] = wave
        for sig in wave.signals:
            self._by_node.setdefault(sig.node, {}).setdefault(run_id, []).append(sig)

    def remove(self, run_id: str) -> None:
        """Forget a run (no error if it is not indexed)."""
        wave = self._waves.pop(run_id, None)
        if wave is None:
            return
        for sig in wave.signals:
            runs = self._by_node.get(sig.node)
            if runs is not None:
                runs.pop(run_id, None)
                if not runs:
                    del self._by_node[sig.node]

    def at(self, node: int) -> Iterator[tuple[str, GreenWave, SignalPriority]]:
        """``(run id, wave, signal)`` of every active window at ``node``."""
        for run_id, sigs in list(self._by_node.get(node, {}).items()):
            wave = self._waves[run_id]
            for sig in sigs:
                yield run_id, wave, sig


def resolve_conflicts(new: GreenWave, new_id: str,
                      active: Mapping[str, GreenWave] | ActiveWindows) -> GreenWave:
    """Shift ``new``'s windows where they overlap an active run's on another phase.

    The active (earlier-dispatched) runs keep their windows; at a contested signal the
    new run's window starts when the earlier one ends, the delay propagates to every
    later signal and to the ETA, and each conflict is reported.

    Parameters
    ----------
    new : GreenWave
        The new run's plan (changed in place and returned).
    new_id : str
        Its run id (its own windows in ``active`` are ignored).
    active : mapping of run id to GreenWave, or ActiveWindows
        The runs that keep their windows.
    """
    index = active if isinstance(active, ActiveWindows) else ActiveWindows.from_mapping(active)
    delay = 0.0
    conflicts = []
    for sig in new.signals:
        _shift(sig, delay)
        for other_id, other, o in index.at(sig.node):
            if other_id == new_id or o.phase == sig.phase:
                continue
            a0 = new.depart_s + sig.green_start_s
            a1 = new.depart_s + sig.green_end_s
            b0 = other.depart_s + o.green_start_s
            b1 = other.depart_s + o.green_end_s
            if a0 < b1 and b0 < a1:
                shift = b1 - a0
                delay += shift
                _shift(sig, shift)
                conflicts.append({"node": sig.node, "with": other_id, "delay_s": round(shift, 1),
                                  "rule": "first dispatched keeps its green window"})
    new.eta_s += delay
    new.conflicts = conflicts
    return new


def arrival_times(path: Path, depart_s: float) -> np.ndarray:
    """Absolute arrival time at each node of ``path``."""
    return depart_s + path.times
