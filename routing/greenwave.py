"""Green wave (一路绿灯): signal priority plans along an emergency route.

For a route and a departure time, the vehicle's arrival time at every signalized
intersection is predicted (:mod:`routing.arrivals`: the ETA model's kinematics and turns,
at the run's pace; the path's cruise times by default). For each such signal the planner
gives the approach's phase a green window ``[arrival - lead - early, arrival + hold +
late]``:

* **lead** lets the queue standing ahead of the vehicle discharge before it arrives:
  ``lead = LEAD_BASE_S + SATURATION_HEADWAY_S × queued vehicles per lane``, where the
  queue is the arrivals of one red period on the approach's lanes (at
  :data:`ARRIVALS_PER_LANE_PER_S`);
* **hold** keeps green until the vehicle has cleared the junction;
* **early** and **late** widen the window by shares of the time to the arrival
  (``widen``): a prediction is less sure the farther ahead it is. Every position update
  re-plans the windows ahead, so they narrow as the vehicle comes near, and the
  controller releases a green once the run has passed.

The action per signal is ``none`` (the normal plan is green over the whole window),
``extend`` (the phase is green at the start of the window but would end before it closes:
hold it), ``early`` (bring the phase forward: the conflicting phase is cut to its minimum
green and the approach turns green at the window start) or ``normal`` (no window is held:
the vehicle crosses on the fixed-time plan, see below). After a window the controller
recovers to the normal plan within :data:`RECOVERY_CYCLES` cycles (the shifted time is
taken back from the served phase over that span).

Times. Windows of different runs are compared in **absolute** time (seconds since the
epoch), so runs straddling midnight are no special case. The fixed-time plans run on the
local clock (seconds since local midnight), which the caller passes as ``clock_s``, the
clock reading at departure.

The windows are planned from the departure (or the last position update). Validated in
SUMO (``benchmarks/sumo``, which drives the twin's own runs and executes the served
controller messages): applied open loop, as planned at dispatch, they save little — an
engine in traffic is tens of seconds off its predicted arrival a few junctions on; with
AVL re-planning the windows follow the engine. A controller should therefore treat
``green_end_s`` as the latest end of the hold, released when the run has passed.

Without the plan, the vehicle waits at each red as the fixed-time plans dictate, and
where another run holds a conflicting phase, until that window closes: the ETA without
priority (:func:`eta_without_priority` when no other run is active).

Several runs (:data:`PRIORITY_RULE`). Windows already granted to other runs are kept;
a plan never takes one away. Runs on the same phase of a junction share its green (their
windows may overlap). Where a granted window on another phase blocks the new window, the
vehicle either waits for it to close (and then gets its own window) or crosses on the
fixed-time plan outside the blocked time, whichever is earlier; the choice, the wait and
the runs it yields to are listed in ``conflicts`` before the vehicle leaves. Arriving
earlier never makes a crossing later (first-in first-out), so taking the earliest crossing
at each junction gives the earliest arrival over the route, and never a later one than
crossing every junction on the normal plan: **no plan is slower than no priority**. (Should
rounding ever make it so, the run is planned without priority: ``priority`` false, no
window held.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from routing.engine import Path
from routing.network import RoadNetwork, SignalPlan

__all__ = [
    "LEAD_BASE_S",
    "SATURATION_HEADWAY_S",
    "ARRIVALS_PER_LANE_PER_S",
    "HOLD_S",
    "RECOVERY_CYCLES",
    "PRIORITY_RULE",
    "SignalPriority",
    "Window",
    "GreenWave",
    "ActiveWindows",
    "plan_green_wave",
    "eta_without_priority",
    "queue_clearance_lead",
]

LEAD_BASE_S = 4.0
SATURATION_HEADWAY_S = 2.0
ARRIVALS_PER_LANE_PER_S = 0.1
HOLD_S = 4.0
RECOVERY_CYCLES = 2
#: How a plan treats the windows of other runs (quoted in every conflict).
PRIORITY_RULE = ("first dispatched keeps its green window: a later run waits for it or "
                 "crosses on the normal signal plan, whichever is earlier")
_MAX_STEPS = 200  # bound of the search for a free moment at one junction


@dataclass
class SignalPriority:
    """The plan of one signal on the route (times in seconds after departure).

    ``held`` is False where no window is held (``action == "normal"``): the vehicle
    crosses in the fixed-time green ``[green_start_s, green_end_s]``.
    """

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
    held: bool = True

    def to_dict(self) -> dict:
        """JSON-ready dict (every field is a scalar)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Window:
    """A green window granted to a run at one junction, in absolute seconds (epoch)."""

    run_id: str
    node: int
    phase: str
    start: float
    end: float
    incident_id: str | None = None
    lon: float = 0.0
    lat: float = 0.0
    #: expected arrival at the stop line (absolute); NaN when unknown (``end - HOLD_S``)
    arrival: float = float("nan")

    def overlaps(self, start: float, end: float) -> bool:
        """Whether ``[start, end)`` intersects this window."""
        return start < self.end and self.start < end


@dataclass
class GreenWave:
    """A route's green wave: the signal plans, both ETAs and the conflicts met.

    Attributes
    ----------
    depart : float
        Departure, absolute seconds (epoch).
    clock_s : float
        The departure on the signal plans' local clock (seconds since local midnight).
    priority : bool
        False when the run is planned without priority (no window held).
    """

    signals: list[SignalPriority]
    eta_s: float
    eta_without_priority_s: float
    depart: float
    clock_s: float
    conflicts: list[dict] = field(default_factory=list)
    priority: bool = True

    def windows(self, run_id: str, incident_id: str | None = None) -> list[Window]:
        """The windows this wave holds, in absolute time."""
        return [Window(run_id, s.node, s.phase, self.depart + s.green_start_s,
                       self.depart + s.green_end_s, incident_id, s.lon, s.lat,
                       self.depart + s.arrival_s)
                for s in self.signals if s.held]


class ActiveWindows:
    """The granted windows of the active runs, indexed by junction.

    A plan then looks only at the runs that cross the same junctions, not at every run.
    """

    def __init__(self, windows: Iterable[Window] = ()) -> None:
        self._by_node: dict[int, dict[str, list[Window]]] = {}
        self._nodes: dict[str, set[int]] = {}
        for w in windows:
            self._put(w)

    def _put(self, window: Window) -> None:
        self._by_node.setdefault(window.node, {}).setdefault(window.run_id, []).append(window)
        self._nodes.setdefault(window.run_id, set()).add(window.node)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._nodes

    def add(self, run_id: str, windows: Iterable[Window]) -> None:
        """Index a run's windows (replacing its earlier ones)."""
        self.remove(run_id)
        self._nodes[run_id] = set()
        for w in windows:
            if w.run_id != run_id:
                raise ValueError(f"window of {w.run_id!r} added as {run_id!r}")
            self._put(w)

    def remove(self, run_id: str) -> None:
        """Forget a run (no error if it is not indexed)."""
        for node in self._nodes.pop(run_id, ()):
            runs = self._by_node.get(node)
            if runs is not None:
                runs.pop(run_id, None)
                if not runs:
                    del self._by_node[node]

    def at(self, node: int) -> Iterator[Window]:
        """Every granted window at ``node``."""
        for windows in list(self._by_node.get(node, {}).values()):
            yield from windows

    def __iter__(self) -> Iterator[Window]:
        for runs in list(self._by_node.values()):
            for windows in list(runs.values()):
                yield from windows


def queue_clearance_lead(red_s: float) -> float:
    """Seconds of green needed before the vehicle arrives to discharge the queue of one red."""
    queued_per_lane = ARRIVALS_PER_LANE_PER_S * red_s
    return LEAD_BASE_S + SATURATION_HEADWAY_S * queued_per_lane


def eta_without_priority(network: RoadNetwork, path: Path,
                         clock_s: float) -> tuple[float, list[float]]:
    """ETA when the vehicle waits at each red of the fixed-time plans.

    Parameters
    ----------
    clock_s : float
        Departure on the plans' clock (seconds since local midnight).

    Returns
    -------
    eta : float
        Seconds from departure to arrival.
    waits : list of float
        Wait at each node of the path (0 where there is no signal).
    """
    t = clock_s
    waits = [0.0]
    for i in range(1, len(path.nodes)):
        t += float(path.times[i] - path.times[i - 1])
        signal = network.signal_at(path, i)
        wait = signal[0].wait_at(signal[1], t) if signal is not None else 0.0
        waits.append(wait)
        t += wait
    return t - clock_s, waits


def _free_window_start(start: float, length: float, blockers: list[Window]) -> float:
    """Earliest ``s >= start`` with ``[s, s + length)`` clear of every blocker."""
    for _ in range(_MAX_STEPS):
        hit = [b.end for b in blockers if b.overlaps(start, start + length)]
        if not hit:
            return start
        start = max(hit)
    return start


def _normal_crossing(plan: SignalPlan, phase: int, arrive: float, to_clock: float,
                     blockers: list[Window]) -> float:
    """Earliest moment ``>= arrive`` (absolute) when the fixed-time plan shows green on
    ``phase`` outside every blocker. ``to_clock`` turns absolute into plan-clock seconds."""
    t = arrive
    for _ in range(_MAX_STEPS):
        t += plan.wait_at(phase, t + to_clock)
        hit = [b.end for b in blockers if b.start <= t < b.end]
        if not hit:
            return t
        t = max(hit)
    return t


def _held(network: RoadNetwork, path: Path, i: int, plan: SignalPlan, phase: int,
          start: float, end: float, arrive: float, lead: float, depart: float, to_clock: float,
          nominal: float) -> SignalPriority:
    """A held window ``[start, end]`` (absolute) at the path's node ``i`` for an arrival
    at ``arrive``."""
    g_start, g_end = plan.green_window(phase, start + to_clock)
    if g_start <= start + to_clock and g_end >= end + to_clock:
        action = "none"
    elif g_start <= start + to_clock < g_end:
        action = "extend"
    else:
        action = "early"
    return SignalPriority(
        node=int(network.node_ids[path.nodes[i]]), lon=float(network.xy[path.nodes[i], 0]),
        lat=float(network.xy[path.nodes[i], 1]), arrival_s=arrive - depart,
        phase=plan.phases[phase]["name"], green_start_s=start - depart,
        green_end_s=end - depart, action=action, lead_s=arrive - start,
        normal_wait_s=plan.wait_at(phase, nominal + to_clock),
        recovery_end_s=end - depart + RECOVERY_CYCLES * plan.cycle_s, cycle_s=plan.cycle_s)


def _normal(network: RoadNetwork, path: Path, i: int, plan: SignalPlan, phase: int,
            crossing: float, lead: float, depart: float, to_clock: float,
            nominal: float) -> SignalPriority:
    """No window at the path's node ``i``: the vehicle crosses at ``crossing`` (absolute)."""
    g_start, g_end = plan.green_window(phase, crossing + to_clock)
    return SignalPriority(
        node=int(network.node_ids[path.nodes[i]]), lon=float(network.xy[path.nodes[i], 0]),
        lat=float(network.xy[path.nodes[i], 1]), arrival_s=crossing - depart,
        phase=plan.phases[phase]["name"], green_start_s=g_start - to_clock - depart,
        green_end_s=g_end - to_clock - depart, action="normal", lead_s=lead,
        normal_wait_s=plan.wait_at(phase, nominal + to_clock),
        recovery_end_s=g_end - to_clock - depart, cycle_s=plan.cycle_s, held=False)


def _blockers(active: ActiveWindows | None, node: int, phase: str, run_id: str) -> list[Window]:
    """The windows of other runs at ``node`` on other phases than ``phase``."""
    if active is None:
        return []
    return [w for w in active.at(node) if w.run_id != run_id and w.phase != phase]


def _without_priority(network: RoadNetwork, path: Path, times: np.ndarray, depart: float,
                      clock_s: float, active: ActiveWindows | None,
                      run_id: str) -> tuple[list[SignalPriority], float]:
    """Every signal crossed on the fixed-time plan as the other runs' windows interrupt
    it (no window held for this run), and the ETA: what no priority gives. ``times``:
    the unimpeded arrival at each node (seconds after ``depart``)."""
    to_clock = clock_s - depart
    signals, t = [], depart
    for i in range(1, len(path.nodes)):
        t += float(times[i] - times[i - 1])
        signal = network.signal_at(path, i)
        if signal is None:
            continue
        plan, phase = signal
        name = plan.phases[phase]["name"]
        lead = queue_clearance_lead(plan.cycle_s - plan.phases[phase]["green_s"])
        node = int(network.node_ids[path.nodes[i]])
        crossing = _normal_crossing(plan, phase, t, to_clock, _blockers(active, node, name, run_id))
        signals.append(_normal(network, path, i, plan, phase, crossing, lead, depart,
                               to_clock, t))
        t = crossing
    return signals, t - depart


def plan_green_wave(network: RoadNetwork, path: Path, depart: float = 0.0, *,
                    clock_s: float | None = None, active: ActiveWindows | None = None,
                    run_id: str = "", incident_id: str | None = None,
                    arrival_s: Sequence[float] | np.ndarray | None = None,
                    widen: tuple[float, float] = (0.0, 0.0), priority: bool = True) -> GreenWave:
    """Priority plan for every signalized intersection on ``path``, around granted windows.

    Parameters
    ----------
    network : RoadNetwork
        The network with its signal plans.
    path : Path
        Route at the emergency profile without signal delays.
    depart : float
        Departure in absolute seconds (epoch).
    clock_s : float, optional
        The departure on the plans' clock (seconds since local midnight); default
        ``depart`` (an absolute time whose clock is UTC).
    active : ActiveWindows, optional
        Windows granted to other runs; they are kept (:data:`PRIORITY_RULE`).
    run_id : str
        This run's id (its own windows in ``active`` are ignored: a re-plan replaces them).
    incident_id : str, optional
        This run's incident (reported in conflicts with runs of the same incident).
    arrival_s : sequence of float, optional
        The vehicle's unimpeded arrival at each node of ``path``, seconds after
        ``depart`` (default: the path's cruise times; :mod:`routing.arrivals` predicts
        them with kinematics, turns and the run's pace).
    widen : (float, float)
        The window at a signal opens ``widen[0]`` × the time to its arrival earlier and
        closes ``widen[1]`` × it later (an arrival is less sure the farther ahead it is).
    priority : bool
        False: hold no window (every signal crossed on the fixed-time plan).

    Returns
    -------
    GreenWave
        ``eta_s <= eta_without_priority_s`` always.

    Examples
    --------
    >>> service = City.load().routing                                     # doctest: +SKIP
    >>> path = service.engine("fire").route(0, 100)                      # doctest: +SKIP
    >>> plan_green_wave(service.network, path, 1.8e9, clock_s=8 * 3600)  # doctest: +SKIP
    """
    clock_s = depart if clock_s is None else clock_s
    to_clock = clock_s - depart
    times = np.asarray(path.times if arrival_s is None else arrival_s, dtype=float)
    if len(times) != len(path.nodes):
        raise ValueError(f"arrival_s has {len(times)} times for {len(path.nodes)} nodes")
    early_share, late_share = widen
    signals: list[SignalPriority] = []
    conflicts: list[dict] = []
    lag = 0.0  # waits so far
    for i in range(1, len(path.nodes) - 1):
        signal = network.signal_at(path, i)
        if signal is None:
            continue
        plan, phase = signal
        name = plan.phases[phase]["name"]
        arrive = depart + float(times[i]) + lag
        ahead = arrive - depart
        lead = queue_clearance_lead(plan.cycle_s - plan.phases[phase]["green_s"])
        before = lead + early_share * ahead  # green before the arrival
        after = HOLD_S + late_share * ahead  # green after it
        node = int(network.node_ids[path.nodes[i]])
        blockers = _blockers(active, node, name, run_id)
        start = _free_window_start(arrive - before, before + after, blockers)
        if start + before <= arrive:
            signals.append(_held(network, path, i, plan, phase, start, start + before + after,
                                 arrive, lead, depart, to_clock, arrive))
            continue
        crossing = _normal_crossing(plan, phase, arrive, to_clock, blockers)
        if start + before <= crossing:
            sig = _held(network, path, i, plan, phase, start, start + before + after,
                        start + before, lead, depart, to_clock, arrive)
            resolution = "waits for the granted window, then gets its own"
        else:
            sig = _normal(network, path, i, plan, phase, crossing, lead, depart, to_clock,
                          arrive)
            resolution = "crosses on the normal signal plan"
        wait = depart + sig.arrival_s - arrive
        lag += wait
        signals.append(sig)
        near = [b for b in blockers if b.overlaps(arrive - before, depart + sig.arrival_s + after)]
        conflicts.append({
            "node": node, "with": sorted({b.run_id for b in near}),
            "same_incident": incident_id is not None and any(
                b.incident_id == incident_id for b in near),
            "phase": name, "other_phases": sorted({b.phase for b in near}),
            "delay_s": round(wait, 1), "resolution": resolution, "rule": PRIORITY_RULE})
    normal, eta_without = _without_priority(network, path, times, depart, clock_s, active, run_id)
    eta = float(times[-1]) + lag
    if eta > eta_without + 1e-6 or not priority:  # slower than no priority: plan without it
        return GreenWave(signals=normal, eta_s=eta_without, eta_without_priority_s=eta_without,
                         depart=depart, clock_s=clock_s, conflicts=conflicts, priority=False)
    return GreenWave(signals=signals, eta_s=min(eta, eta_without),
                     eta_without_priority_s=eta_without, depart=depart, clock_s=clock_s,
                     conflicts=conflicts)
