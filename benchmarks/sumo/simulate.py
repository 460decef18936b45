"""One SUMO run of an incident: fire engines from several stations, one priority mode.

Modes
    ``base``: the fixed-time plans (the twin's, :mod:`tls`), no priority.
    ``open``: the priority requests planned at dispatch (windows from the ETA model's
    arrival times), executed as planned, never updated (open loop).
    ``avl``: each engine reports an AVL fix every ``fix_every_s`` seconds with
    ``noise_m`` of Gaussian error (2-D RMS) and 1–2 s of latency; every fix is matched to
    the engine's own route (:mod:`routing.avl`), the windows of the signals not yet
    passed are re-planned from the matched position (:func:`replan`), and the requests
    of all engines (:func:`routing.controller.current_requests`, dispatch order) go to
    the executor (:mod:`priority`). A run never re-routes on noise; it would only on a
    real deviation (counted).

The fire engines are SUMO ``vClass="emergency"`` vehicles (no ``device.bluelight``, which
would ignore red lights), 10 m, accel 1.5 m/s², their speed factor on every edge the
twin's fire profile for the road class.

Measures (per engine): travel time, stops, stops at a red (stopped with the next light
within :data:`RED_STOP_M` red or yellow for it), of them those at the signals of its
planned route (the others are at SUMO lights the twin does not have on that route) and,
of those, the ones its request announced (a residual wait the limits leave); per light
that took over: the halting vehicle-seconds on the incoming lanes of the phases cut or
delayed, from the takeover to one cycle after the recovery (compared with the paired
``base`` run by the caller); the other vehicles' mean time loss (tripinfo, cars departing
from 300 s before the dispatch).
"""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sumolib
from priority import Executor
from tls import TwinLight, align

from routing.avl import Fix, RouteGeometry, RouteMatcher, remaining_path
from routing.controller import Limits, PriorityWindow, current_requests, windows_for_route
from routing.engine import Path as RoutePath
from routing.eta import EtaModel, eta
from routing.greenwave import HOLD_S, queue_clearance_lead
from routing.network import RoadNetwork
from routing.profiles import EMERGENCY_FACTOR, EMERGENCY_MAX_KPH

__all__ = ["RED_STOP_M", "Dispatched", "RunConfig", "replan", "write_fire_type", "run_incident"]

RED_STOP_M = 60.0
_STOPPED = 0.1


@dataclass
class Dispatched:
    """A fire engine sent to the incident: its planned route and both ETAs at dispatch."""

    vid: str
    station: str
    rank: int
    path: RoutePath = field(repr=False)
    edges: list[str] = field(repr=False)
    depart_pos: float
    arrival_pos: float
    length_m: float
    eta_s: float
    eta_without_s: float
    cruise_s: float


@dataclass(frozen=True)
class RunConfig:
    """What one SUMO run simulates."""

    mode: str  # base | open | avl
    seed: int
    dispatch_s: float
    horizon_s: float
    fix_every_s: float = 5.0
    noise_m: float = 15.0
    latency_s: tuple[float, float] = (1.0, 2.0)
    max_preempt_s: float = 60.0
    min_green_s: float = 10.0
    #: AVL mode: windows starting later than this are announced, planned when nearer
    plan_ahead_s: float = 40.0
    ped_clearance_in_green: bool = True


def write_fire_type(workdir: Path) -> Path:
    """The fire engine's vType (SUMO additional file)."""
    out = workdir / "fire.add.xml"
    out.write_text(
        '<additional>\n'
        '  <vType id="fire" vClass="emergency" guiShape="firebrigade" length="10" width="2.5"'
        ' minGap="2.5" accel="1.5" decel="4.5" emergencyDecel="7" sigma="0" speedDev="0"'
        f' maxSpeed="{EMERGENCY_MAX_KPH / 3.6:.2f}" color="red"/>\n'
        '</additional>\n', encoding="utf-8")
    return out


#: Window widening by the time to the arrival (ETA uncertainty), early and late.
EARLY_SHARE, LATE_SHARE = 0.1, 0.3
#: Bounds of the pace factor: time behind (or ahead of) the plan so far, applied ahead.
PACE_BOUNDS = (0.9, 1.5)


def replan(network: RoadNetwork, path: RoutePath, geometry: RouteGeometry, speeds: np.ndarray,
           *, run_id: str, now: dt.datetime, clock_s: float, match=None,
           model: EtaModel = EtaModel()) -> list[PriorityWindow]:
    """The windows of the signals ahead of a run, from its matched position (or from the
    departure, standing, when ``match`` is None).

    Arrival times come from :func:`routing.eta.eta` with priority, scaled by the run's
    pace so far (its elapsed time over the planned time at its matched progress, within
    :data:`PACE_BOUNDS`, once a minute has been driven); leads from
    :func:`routing.greenwave.queue_clearance_lead`; held :data:`routing.greenwave.HOLD_S`
    after the arrival; widened by :data:`EARLY_SHARE` / :data:`LATE_SHARE` of the time to
    the arrival."""
    if match is None:
        rest, v0, offset, skip, pace = path, 0.0, 0.0, (), 1.0
    else:
        rest = remaining_path(path, match, geometry)
        v0, offset, skip = match.speed_mps, rest.extra["offset_m"], match.passed_signals
        planned = geometry.planned_time_at(match.progress_m)
        pace = (float(np.clip((planned + match.delay_s) / planned, *PACE_BOUNDS))
                if planned >= 60.0 else 1.0)
    res = eta(network, rest, speeds, model=model, priority=True, clock_s=clock_s,
              start_speed_mps=v0, offset_m=offset)
    arrivals = [now + dt.timedelta(seconds=float(s) * pace) for s in res.arrival_s]
    return windows_for_route(network, rest, arrivals, run_id=run_id, lead=queue_clearance_lead,
                             hold_s=HOLD_S, skip=skip, now=now, early_share=EARLY_SHARE,
                             late_share=LATE_SHARE)


def _road_class(edge_type: str) -> str:
    return edge_type.split("|")[0].removeprefix("highway.").removesuffix("_link")


def run_incident(traci, sumo_cmd: list[str], network: RoadNetwork, lights: dict[str, TwinLight],
                 engines: list[Dispatched], speeds: np.ndarray, cfg: RunConfig, *,
                 epoch: dt.datetime, tz: dt.tzinfo, net: sumolib.net.Net, info: Path) -> dict:
    """Simulate one incident under one mode.

    Returns
    -------
    dict
        JSON-ready, except ``halting``: halting vehicles per watched lane (``lanes``) and
        second after the dispatch (int16 array); ``entries``: per lane, the seconds after
        the dispatch at which each vehicle was first seen on it; pre-emption spans
        (``from_s``, ``to_s``) are seconds after the dispatch too.
    """
    rng = np.random.default_rng(cfg.seed * 7919 + 17)
    by_node = {light.node: light for light in lights.values()}
    limits = Limits(min_green_s=cfg.min_green_s, max_preempt_s=cfg.max_preempt_s,
                    ped_clearance_in_green=cfg.ped_clearance_in_green)
    executor = Executor(traci, by_node, network.plans, epoch, tz, limits)
    traci.start(sumo_cmd + ["--seed", str(cfg.seed), "--tripinfo-output", str(info),
                            "--tripinfo-output.write-unfinished", "--time-to-teleport", "300",
                            "--end", str(cfg.dispatch_s + cfg.horizon_s)])
    teleports = 0
    try:
        align(traci, lights, executor.clock(0.0))
        while traci.simulation.getTime() < cfg.dispatch_s:
            traci.simulationStep()
            teleports += traci.simulation.getStartingTeleportNumber()
        t0 = traci.simulation.getTime()
        depart_at = executor.when(t0)
        for e in engines:
            traci.route.add(f"r-{e.vid}", e.edges)
            traci.vehicle.add(e.vid, f"r-{e.vid}", typeID="fire", depart="now", departLane="best",
                              departPos=f"{e.depart_pos:.1f}", departSpeed="0",
                              arrivalPos=f"{e.arrival_pos:.1f}")
        geoms = {e.vid: RouteGeometry.from_path(network, e.path) for e in engines}
        windows: dict[str, list[PriorityWindow]] = {}
        if cfg.mode in ("open", "avl"):
            for e in engines:
                windows[e.vid] = replan(network, e.path, geoms[e.vid], speeds, run_id=e.vid,
                                        now=depart_at, clock_s=executor.clock(t0))
            ahead = cfg.plan_ahead_s if cfg.mode == "avl" else None
            executor.update(current_requests(network.plans, [w for e in engines
                                                             for w in windows[e.vid]],
                                             now=depart_at, tz=tz, limits=limits,
                                             horizon_s=ahead), t0)
        matchers = {e.vid: RouteMatcher(geoms[e.vid], depart_at) for e in engines}
        next_fix = {e.vid: t0 + cfg.fix_every_s for e in engines}
        inbox: list[tuple[float, str, Fix]] = []
        red_log: list[dict] = []
        state = {e.vid: {"stops": 0, "red_stops": 0, "moving": False, "edge": "", "arrived": None,
                         "off_route": 0, "fixes": 0} for e in engines}
        # halting vehicle-seconds per incoming lane of the lights on the routes
        on_routes = _route_nodes(network, engines)
        watched = sorted({lane for light in lights.values() if light.node in on_routes
                          for lane in light.lanes if lane})
        halting = np.zeros((len(watched), int(cfg.horizon_s) + 1), dtype=np.int16)
        entries: dict[str, dict[str, int]] = {lane: {} for lane in watched}
        end = cfg.dispatch_s + cfg.horizon_s
        while traci.simulation.getTime() < end:
            now_s = traci.simulation.getTime()
            present = set(traci.vehicle.getIDList())
            for e in engines:
                st = state[e.vid]
                if e.vid not in present:
                    if st["arrived"] is None and st["moving"] is not None and now_s > t0 + 1:
                        st["arrived"] = now_s
                    continue
                road = traci.vehicle.getRoadID(e.vid)
                if road != st["edge"] and not road.startswith(":"):
                    st["edge"] = road
                    factor = EMERGENCY_FACTOR.get(_road_class(net.getEdge(road).getType()), 0.8)
                    traci.vehicle.setSpeedFactor(e.vid, factor)
                speed = traci.vehicle.getSpeed(e.vid)
                if st["moving"] and speed < _STOPPED:
                    st["stops"] += 1
                    nxt = traci.vehicle.getNextTLS(e.vid)
                    if nxt and nxt[0][2] <= RED_STOP_M and nxt[0][3] in "rRyYu":
                        st["red_stops"] += 1
                        red_log.append(_red_stop(e.vid, now_s - t0, nxt[0], lights, executor,
                                                 geoms[e.vid], matchers[e.vid]))
                st["moving"] = speed >= _STOPPED
                if cfg.mode == "avl" and now_s >= next_fix[e.vid]:
                    next_fix[e.vid] += cfg.fix_every_s
                    x, y = traci.vehicle.getPosition(e.vid)
                    ex, ey = rng.normal(0.0, cfg.noise_m / math.sqrt(2.0), 2)
                    lon, lat = net.convertXY2LonLat(x + ex, y + ey)
                    fix = Fix(lon, lat, executor.when(now_s), cfg.noise_m)
                    inbox.append((now_s + rng.uniform(*cfg.latency_s), e.vid, fix))
            for t_in, vid, fix in [f for f in inbox if f[0] <= now_s]:
                inbox.remove((t_in, vid, fix))
                if state[vid]["arrived"] is not None:
                    continue
                m = matchers[vid].update(fix, now=executor.when(now_s))
                state[vid]["fixes"] += 1
                if m.off_route:
                    state[vid]["off_route"] += 1
                    continue  # the SUMO engine keeps its route; a real deviation is counted
                e = next(x for x in engines if x.vid == vid)
                windows[vid] = replan(network, e.path, geoms[vid], speeds, run_id=vid,
                                      now=m.now, clock_s=executor.clock(now_s), match=m)
                executor.update(current_requests(
                    network.plans, [w for x in engines if state[x.vid]["arrived"] is None
                                    for w in windows.get(x.vid, [])],
                    now=executor.when(now_s), tz=tz, limits=limits,
                    active=executor.requests, horizon_s=cfg.plan_ahead_s), now_s)
            if cfg.mode != "base":
                executor.step(now_s)
            k = min(int(now_s - t0), halting.shape[1] - 1)
            for j, lane in enumerate(watched):
                halting[j, k] = traci.lane.getLastStepHaltingNumber(lane)
                seen = entries[lane]
                for vid in traci.lane.getLastStepVehicleIDs(lane):
                    seen.setdefault(vid, k)
            traci.simulationStep()
            teleports += traci.simulation.getStartingTeleportNumber()
    finally:
        traci.close()
    trips = {t.get("id"): t for t in ET.parse(info).getroot().iter("tripinfo")}
    out_engines = []
    for e in engines:
        trip = trips.pop(e.vid, None)
        arrived = trip is not None and float(trip.get("arrival")) >= 0
        travel = float(trip.get("duration")) if arrived else math.nan
        st = state[e.vid]
        out_engines.append({"vid": e.vid, "station": e.station, "rank": e.rank,
                            "length_m": e.length_m, "eta_s": e.eta_s,
                            "eta_without_s": e.eta_without_s, "cruise_s": e.cruise_s,
                            "travel_s": travel, "stops": st["stops"], "red_stops": st["red_stops"],
                            "red_stops_planned": sum(1 for x in red_log
                                                     if x["vid"] == e.vid and x["on_path"]),
                            "red_stops_announced": sum(
                                1 for x in red_log if x["vid"] == e.vid and x["on_path"]
                                and any(e.vid in q["runs"] and q["residual_s"] > 0
                                        for q in x.get("requests", []))),
                            "fixes": st["fixes"], "off_route": st["off_route"]})
    losses = [float(t.get("timeLoss")) for t in trips.values()
              if float(t.get("depart")) >= cfg.dispatch_s - 300]
    preemptions = []
    watched_set = set(watched)
    for r in executor.executed.values():
        light = by_node[r.junction]
        cut_phases = {c["phase"] for c in r.cut} or {p for p in range(len(light.states)) if p != r.phase}
        lanes = sorted({lane for i, lane in enumerate(light.lanes)
                        if light.link_phase[i] in cut_phases and light.link_phase[i] != r.phase
                        and lane in watched_set})
        a = (r.takeover_at - epoch).total_seconds() - t0
        b = (r.ends_at - epoch).total_seconds() + network.plans[r.junction].cycle_s - t0
        preemptions.append({"junction": r.junction, "phase": r.phase, "action": r.action,
                            "lanes": lanes,
                            "from_s": a, "to_s": b,
                            "recovery_s": (r.ends_at - r.green_end).total_seconds(),
                            "residual_wait_s": r.residual_wait_s,
                            "conflict": bool(r.conflicts)})
    return {"mode": cfg.mode, "seed": cfg.seed, "t0": t0, "engines": out_engines,
            "others_time_loss_s": float(np.mean(losses)) if losses else math.nan,
            "others": len(losses), "teleports": teleports, "preemptions": preemptions,
            "red_stop_log": red_log, "lanes": watched,
            "entries": {lane: sorted(v.values()) for lane, v in entries.items()},
            "halting": halting}


def _red_stop(vid: str, t: float, nxt: tuple, lights: dict[str, TwinLight],
              executor: Executor, geometry: RouteGeometry, matcher: RouteMatcher) -> dict:
    """What the light showed and what was asked of it when an engine stopped at its red."""
    tls_id, link, dist, state = nxt
    light = lights.get(tls_id)
    out = {"vid": vid, "t": round(t, 1), "tls": tls_id, "link": link, "dist": round(dist, 1),
           "state": state, "twin": light is not None, "on_path": False}
    if light is not None:
        out["node"] = light.node
        on = light.node in geometry.signal_nodes
        out["on_path"] = on
        if on:
            out["node_m"] = round(float(geometry.signal_m[geometry.signal_nodes.index(light.node)]), 1)
        out["progress_m"] = round(matcher.progress_m, 1)
        out["link_phase"] = light.link_phase[link]
        out["requests"] = [{"phase": r.phase, "action": r.action, "runs": list(r.runs),
                            "green": [round((r.green_start - executor.epoch).total_seconds(), 1),
                                      round((r.green_end - executor.epoch).total_seconds(), 1)],
                            "residual_s": round(r.residual_wait_s, 1)}
                           for r in executor.requests.values() if r.junction == light.node]
    return out


def _route_nodes(network: RoadNetwork, engines: list[Dispatched]) -> set[int]:
    return {int(network.node_ids[n]) for e in engines for n in e.path.nodes}
