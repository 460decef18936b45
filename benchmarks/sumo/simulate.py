"""One SUMO run of an emergency vehicle, with or without the green-wave plan.

The fire engine (:func:`write_fire_type`) is a SUMO ``vClass="emergency"`` vehicle: it may
overtake on the right and through the opposite lanes. It has **no** ``device.bluelight``:
that device makes SUMO ignore red lights, whereas the planner's "without priority" ETA
waits at reds as the normal plans dictate, so the bluelight device would make the
baseline incomparable. Its speed follows the twin's fire profile: on every edge its speed
factor is :data:`routing.profiles.EMERGENCY_FACTOR` of the edge's road class, capped at
:data:`routing.profiles.EMERGENCY_MAX_KPH`; no driver imperfection (``sigma=0``).

With the plan, every signal on the route gets a priority request once the vehicle's ETA
at its stop line (remaining distance at the profile speed, re-evaluated every step as a
live position update) is within the planner's lead for that signal plus the clearance
time (:mod:`priority`): the green starts ``lead`` seconds before the vehicle arrives.
With ``timing="plan"`` the planner's windows are applied open loop, as planned at the
departure (the test of the planned arrival times themselves).

Measures (:class:`RunResult`): travel time, stops (speed falls below 0.1 m/s), stops at a
red (stopped while the next signal, within :data:`RED_STOP_M`, shows red or yellow for
the vehicle's link), and the other vehicles' mean time loss (SUMO ``tripinfo``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sumolib
import traci
from priority import CLEARANCE_S, PriorityController, Program
from scenario import SUMO_BIN, EmergencyRoute

from routing.greenwave import queue_clearance_lead
from routing.profiles import EMERGENCY_FACTOR, EMERGENCY_MAX_KPH

__all__ = ["RED_STOP_M", "MATCH_M", "RunResult", "write_fire_type", "run_once"]

VEHICLE = "fire1"
#: A stop this close to a red signal counts as a stop at the red.
RED_STOP_M = 60.0
#: SUMO stop lines within this distance of a planner signal are that signal.
MATCH_M = 60.0
_STOPPED = 0.1


@dataclass
class RunResult:
    """One simulation of an emergency run."""

    travel_s: float
    stops: int
    red_stops: int
    others_time_loss_s: float
    others: int
    teleports: int
    matched_signals: int
    sumo_signals: int
    #: at each matched signal: the vehicle's passage in SUMO minus the planner's arrival (s)
    arrival_error_s: list[float] = field(default_factory=list)
    #: priority actions taken: early green, green extension, holds given up
    actions: dict[str, int] = field(default_factory=dict)


def write_fire_type(workdir: Path) -> Path:
    """The fire engine's vType (SUMO additional file)."""
    out = workdir / "fire.add.xml"
    out.write_text(
        '<additional>\n'
        f'  <vType id="fire" vClass="emergency" guiShape="firebrigade" length="10" width="2.5"'
        f' minGap="2.5" accel="1.5" decel="4.5" emergencyDecel="7" sigma="0" speedDev="0"'
        f' maxSpeed="{EMERGENCY_MAX_KPH / 3.6:.2f}" color="red"/>\n'
        '</additional>\n', encoding="utf-8")
    return out


def _road_class(edge_type: str) -> str:
    return edge_type.split("|")[0].removeprefix("highway.").removesuffix("_link")


def _match(route: EmergencyRoute, net: sumolib.net.Net, upcoming: list,
           programs: dict) -> dict[str, tuple[float, dict | None]]:
    """Per SUMO signal on the route: its lead and the planner's signal it is (or None).

    A SUMO signal with no planner signal within :data:`MATCH_M` (a signal SUMO guessed
    that the twin does not have) gets the planner's lead formula on its SUMO red time.
    """
    planned = [(*net.convertLonLat2XY(s["lon"], s["lat"]), s) for s in route.signals]
    out: dict[str, tuple[float, dict | None]] = {}
    for tls, link, _, _ in upcoming:
        if tls in out:
            continue
        lane = traci.trafficlight.getControlledLinks(tls)[link][0][0]
        x, y = traci.lane.getShape(lane)[-1]
        near = min(((math.hypot(px - x, py - y), i) for i, (px, py, _) in enumerate(planned)),
                   default=(math.inf, -1))
        if near[0] <= MATCH_M:
            sig = planned[near[1]][2]
            out[tls] = (sig["lead_s"], sig)
        else:
            prog = programs[tls]
            green = sum(d for s, d in zip(prog.states, prog.durations, strict=True) if s[link] in "Gg")
            out[tls] = (queue_clearance_lead(prog.cycle - green), None)
    return out


def _queued_links(tls: str, depth: int = 10, gap_m: float = 150.0) -> list[int]:
    """Links of ``tls`` the vehicles queued ahead of the emergency vehicle wait for."""
    out, vehicle = [], VEHICLE
    for _ in range(depth):
        leader = traci.vehicle.getLeader(vehicle, gap_m)
        if not leader or not leader[0]:
            break
        vehicle = leader[0]
        upcoming = traci.vehicle.getNextTLS(vehicle)
        if upcoming and upcoming[0][0] == tls:
            out.append(upcoming[0][1])
    return out


def run_once(net_file: Path, background: Path, workdir: Path, route: EmergencyRoute, *,
             priority: bool, dispatch_s: float, horizon_s: float, seed: int,
             timing: str = "live") -> RunResult:
    """Simulate the background traffic, dispatch the fire engine at ``dispatch_s``.

    Parameters
    ----------
    net_file, background : Path
        SUMO network and background routes.
    workdir : Path
        Where SUMO writes its outputs.
    route : EmergencyRoute
        The planned route on SUMO edges.
    priority : bool
        Apply the green-wave plan through TraCI.
    timing : {"live", "plan"}
        ``live``: a signal's green is requested when the vehicle's ETA from its current
        position is within the lead (re-planned every step, as from position updates)
        and held until the vehicle passes. ``plan``: the planner's windows as planned at
        departure, open loop: green from ``green_start_s`` to ``green_end_s`` after the
        departure (or until the vehicle passes).
    dispatch_s, horizon_s : float
        Dispatch time; the run ends ``horizon_s`` after it.
    seed : int
        SUMO's random seed (the same for the runs with and without the plan).
    """
    net = sumolib.net.readNet(str(net_file))
    tag = f"{route.name.encode('ascii', 'replace').decode()}-{priority}-{background.stem}"
    info = workdir / f"tripinfo-{tag.replace('?', '_')}.xml"
    end = dispatch_s + horizon_s
    traci.start([str(SUMO_BIN / "sumo"), "-n", str(net_file), "-r", str(background),
                 "-a", str(write_fire_type(workdir)), "--no-step-log", "--no-warnings",
                 "--tripinfo-output", str(info), "--tripinfo-output.write-unfinished",
                 "--seed", str(seed), "--time-to-teleport", "300", "--end", str(end)])
    teleports = 0
    try:
        while traci.simulation.getTime() < dispatch_s:
            traci.simulationStep()
            teleports += traci.simulation.getStartingTeleportNumber()
        traci.route.add("fire_route", route.edges)
        traci.vehicle.add(VEHICLE, "fire_route", typeID="fire", depart="now", departLane="best",
                          departPos=f"{route.depart_pos:.1f}", departSpeed="0",
                          arrivalPos=f"{route.arrival_pos:.1f}")
        while VEHICLE not in traci.vehicle.getIDList():
            traci.simulationStep()
        upcoming = traci.vehicle.getNextTLS(VEHICLE)
        programs = {tls: Program.capture(tls, traci.simulation.getTime()) for tls, *_ in upcoming}
        matched = _match(route, net, upcoming, programs)
        depart = traci.vehicle.getDeparture(VEHICLE)
        pending = {tls for tls, *_ in upcoming}
        errors: list[float] = []
        controller = PriorityController(programs)
        closed: set[str] = set()
        stops = red_stops = 0
        moving, edge = False, ""  # departs from standstill: a stop counts once it has moved
        while traci.simulation.getTime() < end and VEHICLE in traci.vehicle.getIDList():
            now = traci.simulation.getTime()
            road = traci.vehicle.getRoadID(VEHICLE)
            if road != edge and not road.startswith(":"):
                edge = road
                factor = EMERGENCY_FACTOR.get(_road_class(net.getEdge(road).getType()), 0.8)
                traci.vehicle.setSpeedFactor(VEHICLE, factor)
            speed = traci.vehicle.getSpeed(VEHICLE)
            upcoming = traci.vehicle.getNextTLS(VEHICLE)
            for tls in pending - {t for t, *_ in upcoming}:
                pending.discard(tls)
                if matched[tls][1] is not None:
                    errors.append(now - depart - matched[tls][1]["arrival_s"])
            if moving and speed < _STOPPED:
                stops += 1
                if upcoming and upcoming[0][2] <= RED_STOP_M and upcoming[0][3] in "rRyYu":
                    red_stops += 1
            moving = speed >= _STOPPED
            if priority:
                plan_speed = max(traci.vehicle.getAllowedSpeed(VEHICLE), 1.0)
                wanted: dict[str, list[int]] = {}
                for tls, link, dist, _ in upcoming:
                    lead, sig = matched[tls]
                    if tls in closed:
                        continue
                    if timing == "plan" and sig is not None:
                        due = now - depart >= sig["green_start_s"] - CLEARANCE_S
                    else:
                        due = dist / plan_speed <= lead + CLEARANCE_S
                    if due or tls in wanted:
                        wanted.setdefault(tls, []).append(link)
                for tls, links in wanted.items():
                    controller.request(tls, links + _queued_links(tls), now)
                for tls in controller.active:
                    sig = matched[tls][1]
                    passed = tls not in {t for t, *_ in upcoming}
                    if passed or (timing == "plan" and sig is not None
                                  and now - depart >= sig["green_end_s"]):
                        closed.add(tls)
                        controller.release(tls, now)
                controller.step(now)
            traci.simulationStep()
            teleports += traci.simulation.getStartingTeleportNumber()
        while traci.simulation.getTime() < end:
            traci.simulationStep()
            teleports += traci.simulation.getStartingTeleportNumber()
    finally:
        traci.close()
    trips = {t.get("id"): t for t in ET.parse(info).getroot().iter("tripinfo")}
    fire = trips.pop(VEHICLE)
    travel = float(fire.get("duration")) if float(fire.get("arrival")) >= 0 else math.inf
    losses = [float(t.get("timeLoss")) for t in trips.values() if float(t.get("depart")) >= dispatch_s - 300]
    return RunResult(travel, stops, red_stops,
                     sum(losses) / len(losses) if losses else 0.0, len(losses), teleports,
                     sum(1 for _, sig in matched.values() if sig is not None), len(matched), errors,
                     dict(Counter(a["action"] for a in controller.actions)))
