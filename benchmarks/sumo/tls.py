"""The twin's own signal timing plans as SUMO traffic-light programs.

Each SUMO traffic light (netconvert's guessed signals) is matched to the twin's nearest
signalized junction within :data:`MATCH_M` (one to one, nearest first). Its program
``twin`` has the twin plan's phases, in order, each as green / yellow / all-red states:

* a SUMO link (incoming lane -> outgoing lane) belongs to the twin phase with a
  movement from the same OSM way to the same OSM way (twin road ids are ``way id × 1000
  + rank``; SUMO edge ids from OSM are ``[-]way id#part``), else to the phase with an
  approach from that way, else to the phase whose approach bearing is nearest the lane's;
* green is ``G`` for through and right turns and ``g`` (yield) for left turns and
  U-turns, which share the phase with the opposing through movement;
* a phase with no SUMO link (a mid-block pedestrian phase) is all red.

A SUMO light the twin does not have keeps SUMO's own fixed-time program; the counts are
reported. :func:`align` puts every ``twin`` program at the phase the twin's plan shows
on its clock (seconds since local midnight), so both sides run the same signals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sumolib
from scipy.spatial import cKDTree

__all__ = ["MATCH_M", "PROGRAM_ID", "TwinLight", "twin_lights", "write_programs", "align"]

MATCH_M = 40.0
PROGRAM_ID = "twin"
_YIELD = {"l", "L", "t"}


@dataclass
class TwinLight:
    """A SUMO traffic light running a twin plan."""

    tls: str
    node: int
    cycle_s: float
    offset_s: float
    #: per twin phase: (green state, yellow state, all-red state), green/yellow/all-red s
    states: list[tuple[str, str, str]]
    times: list[tuple[float, float, float]]
    #: per link index: the twin phase it belongs to
    link_phase: list[int]
    #: per link index: its incoming lane
    lanes: list[str]

    def phase_states(self, phase: int) -> tuple[str, str, str]:
        """Green, yellow and all-red states of a twin phase."""
        return self.states[phase]

    def position(self, clock_s: float) -> tuple[int, float]:
        """SUMO phase index (3 per twin phase) and seconds left in it at ``clock_s``."""
        pos = (clock_s - self.offset_s) % self.cycle_s
        k = 0
        for g, y, r in self.times:
            for d in (g, y, r):
                if pos < d:
                    return k, d - pos
                pos -= d
                k += 1
        return k - 1, 0.01


def _way(edge_id: str) -> int | None:
    head = edge_id.lstrip("-").split("#")[0]
    return int(head) if head.isdigit() else None


def _bearing(shape: list[tuple[float, float]]) -> float:
    (x0, y0), (x1, y1) = shape[-2], shape[-1]
    return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0


def _axis_gap(a: float, b: float) -> float:
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def twin_lights(net: sumolib.net.Net, signals) -> tuple[dict[str, TwinLight], int]:
    """Match SUMO lights to twin plans (``signals``: the twin's ``signals`` layer).

    Returns
    -------
    lights : dict
        SUMO tls id -> TwinLight.
    unmatched : int
        SUMO lights without a twin plan (they keep SUMO's program).
    """
    pts = np.array([net.convertLonLat2XY(g.x, g.y) for g in signals.geometry])
    tree = cKDTree(pts)
    pairs = []
    for tl in net.getTrafficLights():
        conns = tl.getConnections()
        if not conns:
            continue
        ends = [c[0].getShape()[-1] for c in conns]
        x, y = np.mean(ends, axis=0)
        d, i = tree.query((x, y))
        if d <= MATCH_M:
            pairs.append((d, tl, int(i)))
    used: set[int] = set()
    out: dict[str, TwinLight] = {}
    for _, tl, i in sorted(pairs, key=lambda p: p[0]):
        if i in used:
            continue
        used.add(i)
        row = signals.iloc[i]
        phases = json.loads(row["phases"])
        conns = sorted(tl.getConnections(), key=lambda c: c[2])
        n_links = conns[-1][2] + 1
        link_phase = [0] * n_links
        lanes = [""] * n_links
        green_kind = ["G"] * n_links
        for in_lane, out_lane, idx in conns:
            lanes[idx] = in_lane.getID()
            wi, wo = _way(in_lane.getEdge().getID()), _way(out_lane.getEdge().getID())
            exact = [p for p, ph in enumerate(phases)
                     if any(m["from"] // 1000 == wi and m["to"] // 1000 == wo
                            for m in ph["movements"] if isinstance(m["from"], int)
                            and isinstance(m["to"], int))]
            by_way = [p for p, ph in enumerate(phases)
                      if any(isinstance(m["from"], int) and m["from"] // 1000 == wi
                             for m in ph["movements"])]
            if exact:
                link_phase[idx] = exact[0]
            elif by_way:
                link_phase[idx] = by_way[0]
            else:
                b = _bearing(in_lane.getShape())
                gaps = [min((_axis_gap(b, pb) for pb in ph.get("bearings", [])), default=999.0)
                        for ph in phases]
                link_phase[idx] = int(np.argmin(gaps))
            conn = in_lane.getEdge().getConnections(out_lane.getEdge())
            direction = conn[0].getDirection() if conn else "s"
            green_kind[idx] = "g" if direction in _YIELD else "G"
        states, times = [], []
        for p, ph in enumerate(phases):
            green = "".join(green_kind[i] if link_phase[i] == p else "r" for i in range(n_links))
            yellow = "".join("y" if link_phase[i] == p else "r" for i in range(n_links))
            states.append((green, yellow, "r" * n_links))
            times.append((float(ph["green_s"]), float(ph["yellow_s"]), float(ph["all_red_s"])))
        out[tl.getID()] = TwinLight(tl.getID(), int(row["node"]), float(row["cycle_s"]),
                                    float(row["offset_s"]), states, times, link_phase, lanes)
    return out, len(net.getTrafficLights()) - len(out)


def write_programs(lights: dict[str, TwinLight], path: Path) -> Path:
    """SUMO additional file with a ``twin`` program per matched light."""
    lines = ["<additional>"]
    for light in lights.values():
        lines.append(f'  <tlLogic id="{light.tls}" type="static" programID="{PROGRAM_ID}" offset="0">')
        for (g, y, r), (tg, ty, tr) in zip(light.states, light.times, strict=True):
            for state, dur in ((g, tg), (y, ty), (r, tr)):
                if dur > 0:
                    lines.append(f'    <phase duration="{dur:.2f}" state="{state}"/>')
                else:  # keep three SUMO phases per twin phase
                    lines.append(f'    <phase duration="0.01" state="{state}"/>')
        lines.append("  </tlLogic>")
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def align(traci, lights: dict[str, TwinLight], clock_s: float) -> None:
    """Run every ``twin`` program at the phase the twin's plan shows at ``clock_s``."""
    for light in lights.values():
        traci.trafficlight.setProgram(light.tls, PROGRAM_ID)
        k, left = light.position(clock_s)
        traci.trafficlight.setPhase(light.tls, k)
        traci.trafficlight.setPhaseDuration(light.tls, max(left, 0.01))
