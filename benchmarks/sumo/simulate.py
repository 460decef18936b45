"""One SUMO run of an incident: fire engines from several stations, one priority mode.

The engines are the twin's own emergency runs and SUMO's lights execute the twin's own
controller messages: each engine is dispatched with :meth:`twin.runs.EmergencyRuns.create`
(the code behind ``POST /routes/emergency``), its AVL fixes go to
:meth:`~twin.runs.EmergencyRuns.update_position` (``POST /routes/emergency/{id}/position``),
it is ended with :meth:`~twin.runs.EmergencyRuns.finish` on arrival, and every second the
controller reads :meth:`twin.signal_requests.SignalRequests.answer` (``GET
/signals/requests``), rebuilds each request from its JSON
(:meth:`routing.controller.PriorityRequest.from_json`) and executes it (:mod:`priority`).
The runs live in a run log of their own per simulation, on the twin's clock set to the
simulation's.

Modes
    ``base``: the fixed-time plans (the twin's, :mod:`tls`), no priority.
    ``ideal``: the bound no controller reaches: every light turns green for the engine
    as soon as it is :data:`IDEAL_AHEAD_M` away, with no limit (no minimum green, no
    clearance); what any green wave could save on these routes and this traffic.
    ``open``: the runs as planned at dispatch, never updated (open loop).
    ``avl``: each engine reports an AVL fix every ``fix_every_s`` seconds with
    ``noise_m`` of Gaussian error (2-D RMS) and 1–2 s of latency; the twin matches it to
    the run's route and re-plans the windows of the signals ahead (:mod:`routing.runs`).
    A run re-routes only on a real deviation (counted; the SUMO vehicle keeps its route).

The fire engines are SUMO ``vClass="emergency"`` vehicles (no ``device.bluelight``, which
would ignore red lights), 10 m, accel 1.5 m/s², their speed factor on every edge the
twin's fire profile for the road class.

Measures (per engine): travel time, stops, stops at a red (stopped with the next light
within :data:`RED_STOP_M` red or yellow for it), of them those at the signals of its
planned route (the others are at SUMO lights the twin does not have on that route) and,
of those, the ones its request announced (a residual wait the limits leave); per
junction that took over: the halting vehicle-seconds on the incoming lanes of the phases
cut or delayed, from the takeover to one cycle after the recovery (compared with the
paired ``base`` run by the caller); the other vehicles' mean time loss (tripinfo, cars
departing from 300 s before the dispatch).
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
from tls import TwinLight, align, lights_by_node, switch_off

from layers.versions import FileLog
from routing.avl import Fix, RouteGeometry
from routing.controller import Limits, PriorityRequest
from routing.engine import Path as RoutePath
from routing.network import RoadNetwork
from routing.profiles import EMERGENCY_FACTOR, EMERGENCY_MAX_KPH
from twin.audit import AuditLog
from twin.runs import EmergencyRuns, RunStore
from twin.signal_requests import PLANNING_HORIZON_S, SignalRequests

__all__ = ["RED_STOP_M", "Dispatched", "RunConfig", "TwinControl", "write_fire_type",
           "run_incident"]

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
    #: graph node ids of the station and the incident, and the incident's id
    origin: int
    target: int
    incident: str


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
    ped_clearance_in_green: bool = True
    #: windows starting later than this are announced, planned when nearer
    plan_ahead_s: float = PLANNING_HORIZON_S
    #: seconds between the controller's reads of the requests (between AVL re-plans)
    poll_s: float = 1.0
    #: SUMO lights the twin has no plan for, switched off (empty: they keep SUMO's program)
    sumo_only: tuple[str, ...] = ()


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


def _road_class(edge_type: str) -> str:
    return edge_type.split("|")[0].removeprefix("highway.").removesuffix("_link")


class TwinControl:
    """The twin's side of a simulation: its emergency runs and its controller interface,
    on a run log of their own and a clock the simulation sets.

    Parameters
    ----------
    city : City
        The twin (routing model, signal plans).
    logdir : Path
        Where this simulation's run and audit logs go.
    limits : Limits
        The signal controllers' limits.
    epoch : datetime.datetime
        The aware time of simulation second 0.
    """

    def __init__(self, city, logdir: Path, limits: Limits, epoch: dt.datetime, *,
                 horizon_s: float) -> None:
        self.now = epoch
        clock = self.clock
        self.runs = EmergencyRuns(city, RunStore(FileLog(logdir / "_runs.jsonl")),
                                  AuditLog(FileLog(logdir / "_audit.jsonl"), clock=clock),
                                  clock=clock)
        self.requests = SignalRequests(city, limits, runs=self.runs, horizon_s=horizon_s)

    def clock(self) -> dt.datetime:
        """The twin's clock: the simulation's time."""
        return self.now

    def messages(self) -> list[PriorityRequest]:
        """``GET /signals/requests`` now, as the controller rebuilds it from the JSON."""
        answer = self.requests.answer(self.now)
        return [PriorityRequest.from_json(r) for r in answer["requests"]]


def run_incident(traci, sumo_cmd: list[str], city, lights: dict[str, TwinLight],
                 engines: list[Dispatched], cfg: RunConfig, *, epoch: dt.datetime,
                 tz: dt.tzinfo, net: sumolib.net.Net, info: Path, logdir: Path) -> dict:
    """Simulate one incident under one mode.

    Returns
    -------
    dict
        JSON-ready, except ``halting``: halting vehicles per watched lane (``lanes``) and
        second after the dispatch (int16 array); ``entries``: per lane, the seconds after
        the dispatch at which each vehicle was first seen on it; pre-emption spans
        (``from_s``, ``to_s``) are seconds after the dispatch too.
    """
    network = city.routing.network
    rng = np.random.default_rng(cfg.seed * 7919 + 17)
    by_node = lights_by_node(lights)
    limits = Limits(min_green_s=cfg.min_green_s, max_preempt_s=cfg.max_preempt_s,
                    ped_clearance_in_green=cfg.ped_clearance_in_green)
    executor = Executor(traci, lights, network.plans, epoch, tz, limits)
    twin = TwinControl(city, logdir, limits, epoch, horizon_s=cfg.plan_ahead_s)
    traci.start(sumo_cmd + ["--seed", str(cfg.seed), "--tripinfo-output", str(info),
                            "--tripinfo-output.write-unfinished", "--time-to-teleport", "300",
                            "--end", str(cfg.dispatch_s + cfg.horizon_s)])
    teleports = 0
    try:
        align(traci, lights, executor.clock(0.0))
        switch_off(traci, cfg.sumo_only)
        while traci.simulation.getTime() < cfg.dispatch_s:
            traci.simulationStep()
            teleports += traci.simulation.getStartingTeleportNumber()
        t0 = traci.simulation.getTime()
        twin.now = depart_at = executor.when(t0)
        for e in engines:
            traci.route.add(f"r-{e.vid}", e.edges)
            traci.vehicle.add(e.vid, f"r-{e.vid}", typeID="fire", depart="now", departLane="best",
                              departPos=f"{e.depart_pos:.1f}", departSpeed="0",
                              arrivalPos=f"{e.arrival_pos:.1f}")
        geoms = {e.vid: RouteGeometry.from_path(network, e.path) for e in engines}
        run_ids: dict[str, str] = {}
        run_eta: dict[str, float] = {}  # the run's ETA as answered at dispatch
        if cfg.mode in ("open", "avl"):
            for e in engines:  # POST /routes/emergency, in dispatch order
                run = twin.runs.create({"node": e.origin}, {"node": e.target}, vehicle="fire",
                                       depart_at=depart_at, incident_id=e.incident,
                                       actor="sumo")
                if run["route_nodes"] != [int(n) for n in network.node_ids[e.path.nodes]]:
                    raise RuntimeError(f"{e.vid}: the run's route is not the simulated one")
                run_ids[e.vid] = run["id"]
                run_eta[e.vid] = run["eta_s"]
        next_fix = {e.vid: t0 + cfg.fix_every_s for e in engines}
        next_poll = t0
        cleared: set[str] = set()
        inbox: list[tuple[float, str, Fix]] = []
        red_log: list[dict] = []
        state = {e.vid: {"stops": 0, "red_stops": 0, "moving": False, "edge": "", "arrived": None,
                     "seen": False, "trace": [],
                         "off_route": 0, "rerouted": 0, "fixes": 0, "progress_m": 0.0}
                 for e in engines}
        # halting vehicle-seconds per incoming lane of the lights on the routes
        on_routes = _route_nodes(network, engines)
        watched = sorted({lane for node in on_routes for light in by_node.get(node, ())
                          for lane in light.lanes if lane})
        halting = np.zeros((len(watched), int(cfg.horizon_s) + 1), dtype=np.int16)
        entries: dict[str, dict[str, int]] = {lane: {} for lane in watched}
        end = cfg.dispatch_s + cfg.horizon_s
        while traci.simulation.getTime() < end:
            now_s = traci.simulation.getTime()
            twin.now = executor.when(now_s)
            present = set(traci.vehicle.getIDList())
            for e in engines:
                st = state[e.vid]
                if e.vid not in present:  # not inserted yet (a full lane), or arrived
                    if st["seen"] and st["arrived"] is None:
                        st["arrived"] = now_s
                        if e.vid in run_ids:  # the crew reports arrival: the run ends
                            twin.runs.finish(run_ids[e.vid], actor="sumo")
                    continue
                st["seen"] = True
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
                                                 geoms[e.vid], st["progress_m"]))
                st["moving"] = speed >= _STOPPED
                if now_s >= next_fix[e.vid]:  # the true position, and an AVL fix of it
                    next_fix[e.vid] += cfg.fix_every_s
                    x, y = traci.vehicle.getPosition(e.vid)
                    lon, lat = net.convertXY2LonLat(x, y)
                    st["trace"].append([round(now_s - t0), round(lon, 6), round(lat, 6)])
                    if cfg.mode != "avl":
                        continue
                    ex, ey = rng.normal(0.0, cfg.noise_m / math.sqrt(2.0), 2)
                    lon, lat = net.convertXY2LonLat(x + ex, y + ey)
                    fix = Fix(lon, lat, executor.when(now_s), cfg.noise_m)
                    inbox.append((now_s + rng.uniform(*cfg.latency_s), e.vid, fix))
            for t_in, vid, fix in [f for f in inbox if f[0] <= now_s]:
                inbox.remove((t_in, vid, fix))
                st = state[vid]
                if st["arrived"] is not None:
                    continue
                run = twin.runs.update_position(run_ids[vid], fix.lon, fix.lat, fix.at,
                                                accuracy_m=fix.accuracy_m, actor="avl")
                st["fixes"] += 1
                last = run["history"][-1]
                st["off_route"] += bool(last.get("off_route"))
                st["rerouted"] += bool(last.get("rerouted"))
                st["progress_m"] = float(last.get("progress_m", st["progress_m"]))
                next_poll = now_s  # a re-plan reaches the controller now (the event stream)
            if cfg.mode == "ideal":
                cleared = _clear_the_way(traci, [e.vid for e in engines if e.vid in present],
                                         lights, executor.clock(now_s), cleared)
            elif cfg.mode != "base":
                if now_s >= next_poll:
                    executor.update(twin.messages(), now_s)
                    next_poll = now_s + cfg.poll_s
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
        mine = [x for x in red_log if x["vid"] == e.vid and x["on_path"]]
        out_engines.append({"vid": e.vid, "station": e.station, "rank": e.rank,
                            "length_m": e.length_m, "eta_s": e.eta_s,
                            "eta_without_s": e.eta_without_s, "cruise_s": e.cruise_s,
                            "run_eta_s": run_eta.get(e.vid),
                            "travel_s": travel, "stops": st["stops"], "red_stops": st["red_stops"],
                            "red_stops_planned": len(mine),
                            "red_stops_announced": sum(
                                1 for x in mine if any(run_ids.get(e.vid) in q["runs"]
                                                       and q["residual_s"] > 0
                                                       for q in x.get("requests", []))),
                            "fixes": st["fixes"], "off_route": st["off_route"],
                            "rerouted": st["rerouted"], "trace": st["trace"],
                            "route": [[round(float(x), 6), round(float(y), 6)]
                                      for x, y in network.xy[e.path.nodes]]})
    losses = [float(t.get("timeLoss")) for t in trips.values()
              if float(t.get("depart")) >= cfg.dispatch_s - 300]
    preemptions = []
    watched_set = set(watched)
    for r in executor.executed.values():
        cut_phases = {c["phase"] for c in r.cut} or {
            p for p in range(len(network.plans[r.junction].phases)) if p != r.phase}
        lanes = sorted({lane for light in by_node[r.junction] for i, lane in enumerate(light.lanes)
                        if light.link_phase[i] in cut_phases and light.link_phase[i] != r.phase
                        and lane in watched_set})
        a = (r.takeover_at - epoch).total_seconds() - t0
        b = (r.ends_at - epoch).total_seconds() + network.plans[r.junction].cycle_s - t0
        lon, lat = network.xy[network.index(r.junction)]
        preemptions.append({"junction": r.junction, "phase": r.phase, "action": r.action,
                            "runs": list(r.runs), "lon": float(lon), "lat": float(lat),
                            "green_s": [(r.green_start - epoch).total_seconds() - t0,
                                        (r.green_end - epoch).total_seconds() - t0],
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


#: ``ideal`` mode: a light turns green for an engine this far ahead of it.
IDEAL_AHEAD_M = 150.0


def _clear_the_way(traci, vids: list[str], lights: dict[str, TwinLight], clock_s: float,
                   held: set[str]) -> set[str]:
    """Perfect priority, no limits (the ``ideal`` bound): every twin light of each
    engine's route within :data:`IDEAL_AHEAD_M` ahead shows green for every link from the
    engine's approach (the queue ahead of it leaves too) and red for every other link; the
    lights ``held`` before and not now go back to their plan at ``clock_s``. Returns the
    lights held now."""
    now: set[str] = set()
    for vid in vids:
        for tls, link, dist, _ in traci.vehicle.getNextTLS(vid):
            if dist > IDEAL_AHEAD_M:
                break
            if tls in lights and tls not in now:  # the engine's whole approach: its queue too
                lanes = lights[tls].lanes
                road = lanes[link].rsplit("_", 1)[0]
                traci.trafficlight.setRedYellowGreenState(tls, "".join(
                    "G" if lane.rsplit("_", 1)[0] == road else "r" for lane in lanes))
                now.add(tls)
    align(traci, {t: lights[t] for t in held - now}, clock_s)
    return now


def _red_stop(vid: str, t: float, nxt: tuple, lights: dict[str, TwinLight],
              executor: Executor, geometry: RouteGeometry, progress_m: float) -> dict:
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
        out["progress_m"] = round(progress_m, 1)
        out["link_phase"] = light.link_phase[link]
        out["requests"] = [{"phase": r.phase, "action": r.action, "runs": list(r.runs),
                            "green": [round((r.green_start - executor.epoch).total_seconds(), 1),
                                      round((r.green_end - executor.epoch).total_seconds(), 1)],
                            "residual_s": round(r.residual_wait_s, 1)}
                           for r in executor.requests.values() if r.junction == light.node]
    return out


def _route_nodes(network: RoadNetwork, engines: list[Dispatched]) -> set[int]:
    return {int(network.node_ids[n]) for e in engines for n in e.path.nodes}
