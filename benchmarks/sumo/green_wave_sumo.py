"""Validate the green wave (一路绿灯) in SUMO on the embedded city.

The SUMO network is built from the same OSM file with its signals (netconvert, static
fixed-time programs); background traffic comes from SUMO's randomTrips at several demand
levels. A fire engine drives from its station to an incident, once under the normal plans
and once with signal priority applied through TraCI: when the vehicle's arrival at its next
signal is within the planner's queue-clearance lead (``routing.greenwave``), the approach
turns green and the others red; after it passes, the signal returns to its program.

Reported per demand level: the fire engine's travel time and stops (and stops at a red
light), and the mean time loss of the other vehicles, with and without priority.

    .venv/bin/python benchmarks/sumo/green_wave_sumo.py            # full run
    .venv/bin/python benchmarks/sumo/green_wave_sumo.py --quick    # one short run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import sumo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)
sys.path.append(os.path.join(sumo.SUMO_HOME, "tools"))

import sumolib  # noqa: E402
import traci  # noqa: E402

from routing.greenwave import HOLD_S, queue_clearance_lead  # noqa: E402

BIN = Path(sys.executable).parent
OSM = REPO / "data" / "sources" / "shanghai_core.osm"
ORIGIN = (121.4738, 31.2356)       # near the first (synthetic) fire station
DESTINATION = (121.4840, 31.2380)  # the incident used in the tests and notebooks
WARMUP_S = 600


@dataclass
class RunResult:
    """One simulation of the emergency run."""

    travel_s: float
    stops: int
    red_stops: int
    others_time_loss_s: float
    vehicles: int


def build_network(workdir: Path) -> Path:
    """netconvert the OSM file with its signals."""
    net = workdir / "net.net.xml"
    subprocess.run([str(BIN / "netconvert"), "--osm-files", str(OSM), "-o", str(net),
                    "--geometry.remove", "--ramps.guess", "--junctions.join",
                    "--tls.guess-signals", "--tls.discard-simple", "--tls.join",
                    "--tls.default-type", "static", "--keep-edges.by-vclass", "passenger",
                    "--remove-edges.isolated", "--no-warnings"], check=True, capture_output=True)
    return net


def background(net: Path, workdir: Path, period: float, end: int, seed: int) -> Path:
    """Random background trips (one every ``period`` seconds)."""
    trips = workdir / f"bg-{period}.trips.xml"
    subprocess.run([sys.executable, os.path.join(sumo.SUMO_HOME, "tools", "randomTrips.py"),
                    "-n", str(net), "-o", str(trips), "-e", str(end), "-p", str(period),
                    "--fringe-factor", "5", "--seed", str(seed), "--validate",
                    "--min-distance", "300"], check=True, capture_output=True)
    return trips


def _nearest_edge(net: sumolib.net.Net, lon: float, lat: float) -> str:
    x, y = net.convertLonLat2XY(lon, lat)
    edges = sorted(net.getNeighboringEdges(x, y, 200), key=lambda e: e[1])
    for edge, _ in edges:
        if edge.allows("passenger"):
            return edge.getID()
    raise RuntimeError("no edge near the point")


def _priority_state(tls: str, link_index: int) -> str:
    links = traci.trafficlight.getControlledLinks(tls)
    lane = links[link_index][0][0] if links[link_index] else None
    edge = lane.rsplit("_", 1)[0] if lane else None
    state = []
    for group in links:
        incoming = group[0][0].rsplit("_", 1)[0] if group else None
        state.append("G" if incoming == edge else "r")
    return "".join(state)


def run(net: Path, trips: Path, workdir: Path, *, priority: bool, end: int) -> RunResult:
    """Simulate, send the fire engine at WARMUP_S, return its measures."""
    sumo_net = sumolib.net.readNet(str(net))
    origin, dest = _nearest_edge(sumo_net, *ORIGIN), _nearest_edge(sumo_net, *DESTINATION)
    info = workdir / f"tripinfo-{priority}-{trips.stem}.xml"
    traci.start([str(BIN / "sumo"), "-n", str(net), "-r", str(trips), "--no-step-log",
                 "--no-warnings", "--tripinfo-output", str(info), "--seed", "1",
                 "--time-to-teleport", "300", "--end", str(end)])
    try:
        traci.vehicletype.copy("DEFAULT_VEHTYPE", "fire")
        traci.vehicletype.setVehicleClass("fire", "emergency")
        traci.vehicletype.setMaxSpeed("fire", 70 / 3.6)
        traci.vehicletype.setSpeedFactor("fire", 1.2)
        while traci.simulation.getTime() < WARMUP_S:
            traci.simulationStep()
        route = traci.simulation.findRoute(origin, dest, vType="fire").edges
        traci.route.add("fire_route", route)
        traci.vehicle.add("fire1", "fire_route", typeID="fire", depart="now")
        depart = traci.simulation.getTime()
        held: dict[str, str] = {}
        stops = red_stops = 0
        moving = True
        while "fire1" in traci.vehicle.getIDList() or traci.simulation.getTime() <= depart + 1:
            traci.simulationStep()
            if "fire1" not in traci.vehicle.getIDList():
                continue
            speed = traci.vehicle.getSpeed("fire1")
            upcoming = traci.vehicle.getNextTLS("fire1")
            if moving and speed < 0.1:
                stops += 1
                if upcoming and upcoming[0][2] < 30 and upcoming[0][3] in "rRyY":
                    red_stops += 1
            moving = speed >= 0.1
            if priority:
                near = set()
                for tls, link, dist, _ in upcoming:
                    eta = dist / max(speed, 8.0)
                    cycle = sum(p.duration for p in traci.trafficlight.getAllProgramLogics(tls)[0].phases)
                    if eta <= queue_clearance_lead(cycle / 2) + HOLD_S:
                        traci.trafficlight.setRedYellowGreenState(tls, _priority_state(tls, link))
                        held[tls] = "held"
                        near.add(tls)
                for tls in list(held):
                    if tls not in near:
                        traci.trafficlight.setProgram(tls, "0")  # recover the normal plan
                        del held[tls]
        arrival = traci.simulation.getTime()
        while traci.simulation.getTime() < end and traci.simulation.getMinExpectedNumber() > 0:
            traci.simulationStep()
    finally:
        traci.close()
    losses = [float(t.get("timeLoss")) for t in ET.parse(info).getroot().iter("tripinfo")
              if t.get("id") != "fire1" and float(t.get("depart")) >= WARMUP_S - 300]
    return RunResult(arrival - depart, stops, red_stops,
                     sum(losses) / len(losses) if losses else 0.0, len(losses))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one demand level, short")
    parser.add_argument("--periods", help="comma-separated seconds between background departures")
    args = parser.parse_args()
    default = [3.0] if args.quick else [6.0, 3.0, 2.0]
    periods = [float(p) for p in args.periods.split(",")] if args.periods else default
    end = 1200 if args.quick else 1800
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        net = build_network(work)
        print("| demand (veh/h) | fire engine, normal plans: s / stops / red stops | with green "
              "wave: s / stops / red stops | travel time change | other vehicles' mean time "
              "loss, normal → green wave (s) |")
        print("|---|---|---|---|---|")
        for period in periods:
            trips = background(net, work, period, end, seed=42)
            base = run(net, trips, work, priority=False, end=end)
            wave = run(net, trips, work, priority=True, end=end)
            change = (wave.travel_s - base.travel_s) / base.travel_s
            print(f"| {3600 / period:.0f} | {base.travel_s:.0f} / {base.stops} / {base.red_stops} "
                  f"| {wave.travel_s:.0f} / {wave.stops} / {wave.red_stops} | {change:+.0%} | "
                  f"{base.others_time_loss_s:.1f} → {wave.others_time_loss_s:.1f} "
                  f"({wave.vehicles} vehicles) |")


if __name__ == "__main__":
    main()
