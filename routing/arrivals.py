"""When an emergency run will reach each junction ahead, and its honest ETAs.

One planner serves the API's runs (:mod:`routing.runs`), dispatch ranking
(:meth:`routing.service.RoutingService.dispatch`) and the SUMO validation
(``benchmarks/sumo``):

* :func:`predict` — the arrival at every node of the route from the ETA model
  (:func:`routing.eta.eta`: standing start, turn speeds, no wait at the signals the
  priority serves), from the station or from the position an AVL fix was matched to
  (:mod:`routing.avl`: progress, speed, the signals already passed), scaled by the run's
  **pace**: its elapsed time over what the model gave for the distance driven so far,
  within :data:`PACE_BOUNDS`, once :data:`PACE_AFTER_S` have been driven (traffic slows a
  fire engine more than the model knows; the pace carries that ahead).
* :func:`honest_etas` — both ETAs of a route: with priority, the residual waits the
  controller limits leave (:func:`routing.controller.current_requests` on the run's own
  windows) and the waits other runs' windows impose; without, the ETA model through the
  fixed-time plans with the arrivals' uncertainty (``arrivals="uncertain"``: the near
  signals' phases known, the far ones' hardly), or the waits the other runs' windows
  impose, whichever is longer.

The windows themselves are planned by :func:`routing.greenwave.plan_green_wave` on these
arrivals, widened by :data:`WIDEN` of the time to each arrival (:func:`timed_wave`). A run
holds windows when its ETA with priority beats the one without at dispatch, and keeps
them on its way: the controllers may be running them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from routing.avl import RouteGeometry, RouteMatch, remaining_path
from routing.controller import Limits, current_requests, plan_request, windows_from_wave
from routing.engine import Path
from routing.eta import EtaModel, EtaResult, eta, turn_speeds
from routing.greenwave import ActiveWindows, GreenWave, plan_green_wave
from routing.network import RoadNetwork
from routing.profiles import clock_seconds

__all__ = ["WIDEN", "PACE_BOUNDS", "PACE_AFTER_S", "Arrivals", "predict", "residual_waits",
           "honest_etas", "timed_wave"]

#: A window opens 10 % of the time to the arrival earlier and closes 30 % of it later.
WIDEN = (0.1, 0.3)
#: Bounds of the pace (elapsed time over the model's time for the distance driven).
PACE_BOUNDS = (0.9, 1.5)
#: The pace counts once the run has driven this long.
PACE_AFTER_S = 60.0


@dataclass(frozen=True)
class Arrivals:
    """Predicted arrivals along a route.

    Attributes
    ----------
    path : Path
        The route ahead (the rest of the route after a fix; ``extra["offset_m"]`` says how
        far past its first node the vehicle is).
    arrival_s : numpy.ndarray
        Seconds after ``at`` at each node of ``path`` (with priority: no signal wait).
    at : datetime.datetime
        When the vehicle is at the start of the prediction (aware).
    clock_s : float
        ``at`` on the signal plans' local clock.
    pace : float
        The factor applied to the model's times.
    start_speed_mps, offset_m : float
        Speed and progress past the first node at ``at``.
    passed : tuple of int
        Signal nodes already passed.
    turns : numpy.ndarray, optional
        Turn speed limits at each node of ``path`` (:func:`routing.eta.turn_speeds`).
    """

    path: Path
    arrival_s: np.ndarray
    at: dt.datetime
    clock_s: float
    pace: float = 1.0
    start_speed_mps: float = 0.0
    offset_m: float = 0.0
    passed: tuple[int, ...] = ()
    turns: np.ndarray | None = None


def _pace(network: RoadNetwork, path: Path, geometry: RouteGeometry, speeds: np.ndarray,
          match: RouteMatch, clock_s: float, model: EtaModel) -> float:
    """Elapsed time over the model's time to the matched progress (1 before
    :data:`PACE_AFTER_S`)."""
    elapsed = match.delay_s + geometry.planned_time_at(match.progress_m)
    if elapsed < PACE_AFTER_S:
        return 1.0
    whole = eta(network, path, speeds, model=model, priority=True, clock_s=clock_s)
    modelled = float(np.interp(match.progress_m, geometry.node_m, whole.arrival_s))
    if modelled <= 0:
        return 1.0
    return float(np.clip(elapsed / modelled, *PACE_BOUNDS))


def predict(network: RoadNetwork, path: Path, speeds: np.ndarray, *, at: dt.datetime,
            tz: dt.tzinfo, match: RouteMatch | None = None,
            geometry: RouteGeometry | None = None, route_depart_at: dt.datetime | None = None,
            model: EtaModel = EtaModel()) -> Arrivals:
    """Arrivals along ``path`` from a standing start at ``at``, or from a matched fix.

    Parameters
    ----------
    network : RoadNetwork
    path : Path
        The whole route (from the station).
    speeds : numpy.ndarray
        Profile speed per edge (:func:`routing.eta.edge_speeds`).
    at : datetime.datetime
        The departure, or the time the fix is extrapolated to (``match.now``).
    tz : datetime.tzinfo
        The signal plans' clock zone.
    match : RouteMatch, optional
        The fix matched to ``path`` (:meth:`routing.avl.RouteMatcher.update`).
    geometry : RouteGeometry, optional
        ``path``'s geometry (built when missing).
    route_depart_at : datetime.datetime, optional
        When the run left the start of ``path`` (for the pace; default ``at``).
    model : EtaModel

    Returns
    -------
    Arrivals
    """
    clock = clock_seconds(at, tz)
    if match is None:
        turns = turn_speeds(network, path, model)
        res = eta(network, path, speeds, model=model, priority=True, clock_s=clock, turns=turns)
        return Arrivals(path, res.arrival_s, at, clock, turns=turns)
    geometry = geometry or RouteGeometry.from_path(network, path)
    start_clock = clock_seconds(route_depart_at or at, tz)
    pace = _pace(network, path, geometry, speeds, match, start_clock, model)
    rest = remaining_path(path, match, geometry)
    offset = float(rest.extra.get("offset_m", 0.0))
    turns = turn_speeds(network, rest, model)
    res = eta(network, rest, speeds, model=model, priority=True, clock_s=clock,
              start_speed_mps=match.speed_mps, offset_m=offset, turns=turns)
    return Arrivals(rest, res.arrival_s * pace, at, clock, pace, match.speed_mps, offset,
                    tuple(match.passed_signals), turns)


def residual_waits(network: RoadNetwork, wave: GreenWave, *, run_id: str, at: dt.datetime,
                   tz: dt.tzinfo, limits: Limits = Limits()) -> dict[int, float]:
    """Seconds the controller limits leave the run waiting at each junction of ``wave``
    (its windows planned alone: the other runs' windows are the wave's conflicts).

    A window already open at ``at`` is planned as of its opening: the junction's
    controller has been serving it since (an extension running past the plan's green is
    not a phase to cut again)."""
    windows = windows_from_wave(network, wave, run_id=run_id, depart_at=at)
    ahead = [w for w in windows if w.start > at]
    requests = current_requests(network.plans, ahead, now=at, tz=tz, limits=limits)
    requests += [plan_request(network.plans[w.node], w, now=w.start, tz=tz, limits=limits)
                 for w in windows if w.start <= at]
    waits: dict[int, float] = {}
    for r in requests:
        if r.residual_wait_s > 0:
            waits[r.junction] = waits.get(r.junction, 0.0) + r.residual_wait_s
    return waits


def _paced(res: EtaResult, pace: float) -> float:
    """The ETA with its driving time scaled by the pace (waits are not)."""
    waits = float(res.waits_s.sum())
    return pace * (float(res.eta_s) - waits) + waits


def honest_etas(network: RoadNetwork, arrivals: Arrivals, wave: GreenWave, speeds: np.ndarray,
                *, run_id: str, tz: dt.tzinfo, limits: Limits = Limits(),
                model: EtaModel = EtaModel()) -> tuple[float, float]:
    """``(with priority, without priority)`` in seconds after ``arrivals.at``.

    With priority: the ETA model with the residual waits of the controller limits and
    the waits for other runs' windows (``wave.conflicts``). Without: the mean of the ETA
    model's trajectories through the fixed-time plans at a few paces around the model's
    (``arrivals="uncertain"``, :func:`routing.eta.pace_factors`: the phases met at the
    near signals are known, at the far ones hardly, and a stop's progression through the
    coordinated signals after it is kept), or the wave's fixed-time crossings around
    other runs' windows, whichever is later. Against SUMO's runs without priority (12
    engines of 4 incidents, 9 of them not in the sample the model was fitted on; 3 demand
    levels, 2 seeds) its median absolute error is 4 % (fitted: 6 %); the random-arrival
    expectation (Webster's uniform delay at every signal) overestimated by 22 % in
    median, the known-phase trajectory with whole queues by 12 %.
    """
    extra: dict[int, float] = {}
    if wave.priority:
        extra = residual_waits(network, wave, run_id=run_id, at=arrivals.at, tz=tz,
                               limits=limits)
    for c in wave.conflicts:
        extra[int(c["node"])] = extra.get(int(c["node"]), 0.0) + float(c["delay_s"])
    kwargs = {"model": model, "clock_s": arrivals.clock_s, "turns": arrivals.turns,
              "start_speed_mps": arrivals.start_speed_mps, "offset_m": arrivals.offset_m}
    with_p = eta(network, arrivals.path, speeds, priority=True, residual_waits=extra, **kwargs)
    without = eta(network, arrivals.path, speeds, priority=False, arrivals="uncertain",
                  pace=arrivals.pace, **kwargs)  # the plans met at the paced arrivals
    eta_without = float(max(without.eta_s, wave.eta_without_priority_s))
    if not wave.priority:
        return eta_without, eta_without
    return float(_paced(with_p, arrivals.pace)), eta_without


def timed_wave(network: RoadNetwork, arrivals: Arrivals, speeds: np.ndarray, *, run_id: str,
               tz: dt.tzinfo, active: ActiveWindows | None = None,
               incident_id: str | None = None, limits: Limits = Limits(),
               keep_priority: bool = False) -> GreenWave:
    """The green wave on ``arrivals`` (windows widened by :data:`WIDEN`, around the
    ``active`` windows) with its ETAs from :func:`honest_etas`; planned without priority
    (no window held) when the limits would leave it no faster, unless ``keep_priority``
    (a run re-planned on its way keeps the priority it holds: the controllers may be
    running its windows, and dropping one mid-run stops the vehicle at the red it had
    cut). What a run holds and what dispatch ranks by."""
    options = {"clock_s": arrivals.clock_s, "active": active, "run_id": run_id,
               "incident_id": incident_id, "arrival_s": arrivals.arrival_s, "widen": WIDEN}
    depart = arrivals.at.timestamp()
    wave = plan_green_wave(network, arrivals.path, depart, **options)
    eta_with, eta_without = honest_etas(network, arrivals, wave, speeds, run_id=run_id, tz=tz,
                                        limits=limits)
    if wave.priority and eta_with > eta_without and not keep_priority:  # no faster
        wave = plan_green_wave(network, arrivals.path, depart, priority=False, **options)
        eta_with = eta_without
    wave.eta_s, wave.eta_without_priority_s = eta_with, eta_without
    return wave
