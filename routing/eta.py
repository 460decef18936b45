"""Honest ETAs of emergency runs: kinematics, turns, queues and what the controller leaves.

The routing engines' travel times are cruise times (length ÷ profile speed). A fire
engine is slower than that: it starts from standstill at the station, slows for turns,
and waits at reds — behind the cars queued there — when there is no priority, or for the
**residual waits** the controller's limits leave (:mod:`routing.controller`) when there
is. :func:`eta` walks the path edge by edge with those effects:

* **Kinematics.** On each edge the vehicle accelerates at :attr:`EtaModel.accel_mps2`
  towards the edge's profile speed, and brakes at :attr:`EtaModel.decel_mps2` to the
  speed it must have at the end of the edge (the next edge's speed, the turn's speed,
  or 0 where it stops); a trapezoid or triangle speed profile per edge.
* **Turns.** The turn speed follows the lateral acceleration on the turn's radius
  (:attr:`EtaModel.lateral_mps2`; radii by turn: :data:`TURN_RADIUS_M`), the turn being
  the change of bearing between the incoming and outgoing edges
  (:func:`routing.signals.turn_of`).
* **Signals with priority.** The vehicle stops only where the controller leaves a
  residual wait (``residual_waits``), then waits that long.
* **Signals without priority** (``priority=False``). With the arrival known
  (``arrivals="known"``), the vehicle brakes to a stop at a red, waits for green, then
  for the queue ahead of it to discharge: the cars that arrived on its lane since the
  red began (the approach's class flow per lane, :data:`routing.signals.LANE_FLOW_VPH`)
  leave one :attr:`EtaModel.saturation_headway_s` apart after the start-up lost time;
  a green that starts less than the discharge of a full red's queue before the vehicle
  arrives still holds the vehicle until that queue has left. With a random arrival
  (``arrivals="random"``), the expected wait — Webster's uniform delay ``(C − g)² / 2C``
  plus the chance of a red times the expected queue discharge and the cost of the stop.
  With the arrival known only as well as the run's pace (``arrivals="uncertain"``), the
  mean of :attr:`EtaModel.members` known-arrival trajectories whose driving times are
  scaled by :func:`pace_factors` (spread :attr:`EtaModel.pace_cv`): the phase met at a
  near signal is as good as known, at a far one hardly (its wait tends to the random
  arrival's), and each trajectory keeps the progression through coordinated signals
  after a stop — which the random-arrival expectation, charging every signal its
  uniform delay, misses (it overestimated SUMO's no-priority runs by 10–22 % in median).

Both ETAs of a run (:func:`routing.arrivals.honest_etas`) start from standstill; a
position update continues from the matched speed part way along the current edge
(``start_speed_mps``, ``offset_m``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from routing.engine import Path
from routing.network import RoadNetwork, SignalPlan
from routing.profiles import Profile
from routing.signals import LANE_FLOW_VPH, SATURATION_FLOW_VPHPL, turn_of

__all__ = [
    "ARRIVALS",
    "TURN_RADIUS_M",
    "EtaModel",
    "EtaResult",
    "edge_speeds",
    "turn_speeds",
    "eta",
    "pace_factors",
]

#: How :func:`eta` meets the fixed-time plans without priority.
ARRIVALS = ("known", "random", "uncertain")

#: Radius of the path through a junction by turn (m).
TURN_RADIUS_M: dict[str, float] = {"right": 10.0, "left": 20.0, "uturn": 6.0}


@functools.lru_cache(maxsize=64)
def pace_factors(pace_cv: float, members: int) -> tuple[float, ...]:
    """Driving-time factors of the members of an ``"uncertain"`` ETA.

    The ``members`` mid-quantiles ``(k + ½) / members`` of a lognormal distribution of
    log-standard deviation ``pace_cv``, scaled to mean 1 (the ensemble drives as fast as
    the model on average).

    Parameters
    ----------
    pace_cv : float
        Spread of a run's driving time around the model's (≥ 0; 0: every factor is 1).
    members : int
        Number of factors (≥ 1).

    Returns
    -------
    tuple of float
        Ascending.

    Raises
    ------
    ValueError
        ``pace_cv`` negative or not finite, ``members`` below 1.
    """
    if not (math.isfinite(pace_cv) and pace_cv >= 0):
        raise ValueError("pace_cv must be finite and >= 0")
    if members < 1:
        raise ValueError("members must be >= 1")
    normal = NormalDist()
    f = np.exp([pace_cv * normal.inv_cdf((k + 0.5) / members) for k in range(members)])
    return tuple(float(x) for x in f / f.mean())


@dataclass(frozen=True)
class EtaModel:
    """Parameters of :func:`eta` (a fire engine by default).

    Attributes
    ----------
    accel_mps2, decel_mps2 : float
        Acceleration and braking.
    lateral_mps2 : float
        Lateral acceleration in a turn.
    startup_lost_s : float
        Start-up lost time of a queue when the green starts.
    saturation_headway_s : float
        Headway of queued cars leaving at green (3600 / saturation flow per lane).
    queue_share : float
        Share of the queue ahead that the vehicle waits for (1: all; a siren makes
        drivers clear the way). Fitted on SUMO's no-priority runs (median absolute error
        of the ``"uncertain"`` ETA; 0–0.2 fit about as well, 1 overestimates by ~10 %).
    pace_cv : float
        Spread (log-standard deviation) of a run's driving time around the model's, for
        ``arrivals="uncertain"`` (:func:`pace_factors`): the spread of SUMO's travel times
        with ideal priority (no signal waits) over the model's, from their quartiles.
    members : int
        Trajectories averaged with ``arrivals="uncertain"``.

    Raises
    ------
    ValueError
        ``pace_cv`` negative or not finite, ``members`` below 1, ``queue_share``
        outside [0, 1].
    """

    accel_mps2: float = 1.5
    decel_mps2: float = 3.0
    lateral_mps2: float = 3.0
    startup_lost_s: float = 2.0
    saturation_headway_s: float = 3600.0 / SATURATION_FLOW_VPHPL
    queue_share: float = 0.1
    pace_cv: float = 0.05
    members: int = 7

    def __post_init__(self) -> None:
        pace_factors(self.pace_cv, self.members)  # validates them
        if not 0.0 <= self.queue_share <= 1.0:
            raise ValueError("queue_share must be within [0, 1]")


@dataclass
class EtaResult:
    """An ETA and its parts.

    Attributes
    ----------
    eta_s : float
        Seconds from the start to the end of the path.
    arrival_s : numpy.ndarray
        Seconds from the start to each node of the path (the stop line at signals).
    waits_s : numpy.ndarray
        Wait at each node (signals: red, queue, residual waits).
    cruise_s : float
        The path's cruise time (what the routing engine says).
    parts : dict
        ``accel_s`` (lost to speed changes: start, turns, stops), ``signal_wait_s``.
    """

    eta_s: float
    arrival_s: np.ndarray
    waits_s: np.ndarray
    cruise_s: float
    parts: dict = field(default_factory=dict)


def edge_speeds(network: RoadNetwork, profile: Profile) -> np.ndarray:
    """Profile speed (m/s) on every edge, without signal delays."""
    times = network.edge_times(replace(profile, signal_delay=False))
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(np.isfinite(times), network.length / times, 0.0)
    return np.maximum(speed, 0.5)


def turn_speeds(network: RoadNetwork, path: Path, model: EtaModel = EtaModel()) -> np.ndarray:
    """Speed limit (m/s) of the turn at each node of ``path`` (inf where straight on)."""
    out = np.full(len(path.nodes), np.inf)
    ends = network.end_bearings[np.asarray(path.edges, dtype=np.int64)]
    for i in range(1, len(path.nodes) - 1):
        turn = turn_of(float(ends[i - 1, 1]), float(ends[i, 0]))
        if turn in TURN_RADIUS_M:
            out[i] = math.sqrt(model.lateral_mps2 * TURN_RADIUS_M[turn])
    return out


def _edge_time(length: float, v0: float, vc: float, v1: float, a: float, d: float
               ) -> tuple[float, float]:
    """Time over an edge from ``v0`` to exit speed at most ``v1``, cruise ``vc``; exit speed."""
    if length <= 0:
        return 0.0, min(v0, v1)
    vc = max(vc, 0.1)
    v1 = min(v1, vc)
    # exit speed reachable from v0 by accelerating over the whole edge
    v1 = min(v1, math.sqrt(v0 * v0 + 2 * a * length))
    if v0 > vc:  # brake to cruise first
        da, ta = (v0 * v0 - vc * vc) / (2 * d), (v0 - vc) / d
    else:
        da, ta = (vc * vc - v0 * v0) / (2 * a), (vc - v0) / a
    dd, td = (vc * vc - v1 * v1) / (2 * d), (vc - v1) / d
    if da + dd <= length:
        return ta + td + (length - da - dd) / vc, v1
    if v0 <= vc:  # triangle: peak speed vp
        vp2 = (length + v0 * v0 / (2 * a) + v1 * v1 / (2 * d)) / (1 / (2 * a) + 1 / (2 * d))
        vp = math.sqrt(max(vp2, max(v0, v1) ** 2))
        return (vp - v0) / a + (vp - v1) / d, v1
    # braking from above cruise all the way
    v1 = max(v1, math.sqrt(max(v0 * v0 - 2 * d * length, 0.0)))
    return 2 * length / max(v0 + v1, 0.1), v1


def _queue_wait(plan, phase: int, t: float, rate_per_lane: float, model: EtaModel) -> tuple[float, bool]:
    """Wait at a signal for a vehicle reaching the stop line at plan-clock ``t`` (known)."""
    gs, ge = plan.green_window(phase, t)
    red = plan.cycle_s - float(plan.phases[phase]["green_s"])
    h = model.saturation_headway_s * model.queue_share
    if gs > t:  # red: the queue ahead arrived since the red began
        red_start = gs - red
        ahead = rate_per_lane * max(0.0, t - red_start)
        return gs - t + model.startup_lost_s + ahead * h, True
    discharge_end = gs + model.startup_lost_s + rate_per_lane * red * h
    if t < discharge_end:
        return discharge_end - t, True
    return 0.0, False


def _random_wait(plan, phase: int, rate_per_lane: float, vc: float, model: EtaModel) -> float:
    """Expected wait at a signal for a random arrival: Webster's uniform delay, the chance
    of a red times the queue's discharge and the cost of the stop."""
    red = plan.cycle_s - float(plan.phases[phase]["green_s"])
    p_red = red / plan.cycle_s
    h = model.saturation_headway_s * model.queue_share
    wait = red * red / (2 * plan.cycle_s) + p_red * (
        model.startup_lost_s + rate_per_lane * red / 2 * h)
    return wait + p_red * (vc / (2 * model.accel_mps2) + vc / (2 * model.decel_mps2))


class _Leg(NamedTuple):
    """One edge of the path as :func:`_walk` drives it."""

    length: float  # metres left to drive on the edge
    vc: float  # profile speed
    v_next: float  # the speed it may leave the edge with (0 at the end)
    node: int  # node id at the end of the edge
    plan: SignalPlan | None  # the signal plan there (None: not signalized, or the end)
    phase: int  # the plan's phase serving the edge
    rate: float  # arrivals per second per lane on the edge


def _legs(network: RoadNetwork, path: Path, speeds: np.ndarray, turns: np.ndarray,
          offset_m: float) -> tuple[list[_Leg], float]:
    """The path's legs (the first ``offset_m`` driven already) and its cruise time."""
    legs, cruise = [], 0.0
    carry = max(0.0, float(offset_m))
    n = len(path.nodes)
    for i, e in enumerate(path.edges):
        used = min(carry, float(network.length[e]))
        carry -= used
        length = float(network.length[e]) - used
        vc = float(speeds[e])
        cruise += max(length, 0.0) / vc
        node = int(network.node_ids[path.nodes[i + 1]])
        last = i + 1 == n - 1
        plan, phase = network.signal_at(path, i + 1) or (None, 0)
        v_next = 0.0 if last else min(float(speeds[path.edges[i + 1]]), turns[i + 1])
        legs.append(_Leg(length, vc, v_next, node, plan, phase, _rate(network, e)))
    return legs, cruise


def _walk(legs: list[_Leg], model: EtaModel, *, signals: str, clock_s: float, v0: float,
          residual_waits: Mapping[int, float], pace: float = 1.0
          ) -> tuple[np.ndarray, np.ndarray]:
    """Drive ``legs``: arrival at each node (the start's 0 first) and the wait there.

    ``signals``: ``"priority"`` (only ``residual_waits``), ``"known"`` or ``"random"``;
    ``pace`` scales the driving time (the waits follow from the arrivals it gives)."""
    arrival = np.zeros(len(legs) + 1)
    waits = np.zeros(len(legs) + 1)
    a, d = model.accel_mps2, model.decel_mps2
    t, v = 0.0, v0
    for i, leg in enumerate(legs):
        stop, wait = False, 0.0
        if leg.plan is not None and signals == "known":
            # time to the stop line if it does not stop, then decide
            dt_go, v_go = _edge_time(leg.length, v, leg.vc, leg.v_next, a, d)
            wait, stop = _queue_wait(leg.plan, leg.phase, clock_s + t + pace * dt_go, leg.rate,
                                     model)
            if stop:
                dt_edge, _ = _edge_time(leg.length, v, leg.vc, 0.0, a, d)
                wait, _ = _queue_wait(leg.plan, leg.phase, clock_s + t + pace * dt_edge,
                                      leg.rate, model)
            else:
                dt_edge, v = dt_go, v_go
        else:
            if leg.plan is not None and signals == "priority":
                wait = float(residual_waits.get(leg.node, 0.0))
                stop = wait > 0
            elif leg.plan is not None:
                wait = _random_wait(leg.plan, leg.phase, leg.rate, leg.vc, model)
            dt_edge, v = _edge_time(leg.length, v, leg.vc, 0.0 if stop else leg.v_next, a, d)
        t += pace * dt_edge
        arrival[i + 1] = t
        waits[i + 1] = wait
        t += wait
        if stop:
            v = 0.0
    return arrival, waits


def eta(network: RoadNetwork, path: Path, speeds: np.ndarray, *,
        model: EtaModel = EtaModel(), priority: bool = True,
        residual_waits: Mapping[int, float] | None = None, arrivals: str = "known",
        clock_s: float = 0.0, start_speed_mps: float = 0.0, offset_m: float = 0.0,
        turns: np.ndarray | None = None, pace: float = 1.0) -> EtaResult:
    """ETA along ``path``.

    Parameters
    ----------
    network : RoadNetwork
        With its signal plans.
    path : Path
    speeds : numpy.ndarray
        Profile speed per edge (:func:`edge_speeds`).
    model : EtaModel
    priority : bool
        With the green wave (only ``residual_waits`` at signals) or without (the
        fixed-time plans).
    residual_waits : mapping of node id to seconds, optional
        Waits the controller leaves (:attr:`routing.controller.PriorityRequest.residual_wait_s`).
    arrivals : {"known", "random", "uncertain"}
        Without priority: waits from the plans at the computed arrival times, expected
        for a random arrival, or the mean of :attr:`EtaModel.members` known-arrival
        trajectories with the driving time scaled by :func:`pace_factors` (the near
        signals' phases are known, the far ones' hardly).
    clock_s : float
        The start on the plans' clock (seconds since local midnight).
    start_speed_mps, offset_m : float
        Speed at the start and metres already driven from the first node (may reach
        past the first edge: the edges it covers take no time).
    turns : numpy.ndarray, optional
        :func:`turn_speeds` of ``path`` when already known.
    pace : float
        Factor on the driving time (a run's observed pace: :func:`routing.arrivals.predict`);
        without priority the plans are met at the arrivals it gives.

    Returns
    -------
    EtaResult
        With ``"uncertain"`` arrivals, ``arrival_s`` and ``waits_s`` are the members' means.

    Raises
    ------
    ValueError
        ``arrivals`` not one of the above, ``pace`` not positive and finite.
    """
    if arrivals not in ARRIVALS:
        raise ValueError(f"arrivals is one of {ARRIVALS}")
    if not (math.isfinite(pace) and pace > 0):
        raise ValueError("pace must be positive and finite")
    turns = turn_speeds(network, path, model) if turns is None else turns
    legs, cruise = _legs(network, path, speeds, turns, offset_m)
    kwargs = {"clock_s": clock_s, "v0": float(start_speed_mps),
              "residual_waits": residual_waits or {}}
    if priority or arrivals != "uncertain":
        arrival, waits = _walk(legs, model, signals="priority" if priority else arrivals,
                               pace=pace, **kwargs)
    else:
        runs = [_walk(legs, model, signals="known", pace=pace * f, **kwargs)
                for f in pace_factors(model.pace_cv, model.members)]
        arrival = np.mean([r[0] for r in runs], axis=0)
        waits = np.mean([r[1] for r in runs], axis=0)
    t = float(arrival[-1] + waits[-1]) if len(legs) else 0.0
    return EtaResult(eta_s=t, arrival_s=arrival, waits_s=waits, cruise_s=cruise,
                     parts={"accel_s": float(t - cruise - waits.sum()),
                            "signal_wait_s": float(waits.sum())})


def _rate(network: RoadNetwork, e: int) -> float:
    """Arrivals per second on one lane of edge ``e`` (class flow per lane)."""
    cls = str(network.road_class[e]).replace("_link", "")
    return LANE_FLOW_VPH.get(cls, 220.0) / 3600.0
