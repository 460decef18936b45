"""The twin's own signal timing plans as SUMO traffic-light programs.

Matching
    Every SUMO traffic light (netconvert's guessed signals) runs the plan of the twin
    signalized junction it belongs to (:func:`twin_lights`). Several SUMO lights may run
    one twin junction's plan: the twin merges the OSM nodes of a junction within
    :data:`twin.roads.JUNCTION_TOLERANCE_M` into one intersection (a dual carriageway,
    a wide crossing), where netconvert keeps a light per node. The evidence, best first:

    1. **OSM nodes**: the OSM node ids in the light's junction ids (``123``,
       ``cluster_123_456``, ``GS_123``; a truncated ``..._#2more`` name gives the ids it
       lists) against the OSM nodes of each twin junction (``osm_node`` and the OSM end
       nodes of its roads, :func:`junction_osm_nodes`). A light at the OSM nodes of a
       twin junction *without* a signal (a signalized pedestrian crossing the twin does
       not model as a signal) gets no plan. Where netconvert joined the nodes of two
       twin signalized junctions into one light, the junction that more of the light's
       incoming edges approach by OSM way wins, then the one sharing more OSM nodes, then
       the nearest; the other junction has no SUMO light.
    2. **Approach ways**, for a light at OSM nodes the twin has not kept: among the twin
       signalized junctions within :data:`MATCH_M`, the one that most of the light's
       incoming edges approach by OSM way, then the nearest.

    A SUMO light without a twin plan is returned apart; :func:`switch_off` puts it on
    SUMO's ``off`` program (an unregulated junction: its links follow the junction's
    right of way, ``O`` / ``o``), so that both sides run the same signals, or it keeps
    SUMO's own fixed-time program.

Programs
    A light's program ``twin`` has its twin plan's phases, in order, each as green /
    yellow / all-red states; every light of a junction runs the same phases and times:

    * a SUMO link (incoming lane -> outgoing lane) belongs to the twin phase with a
      movement from the same OSM way to the same OSM way (twin road ids are ``way id ×
      1000 + rank``; SUMO edge ids from OSM are ``[-]way id#part``), else to the phase
      with an approach from that way, else to the phase whose approach bearing is
      nearest the lane's;
    * a link *inside* a junction with several lights (its incoming edge starts at
      another light of the junction) is green in every phase with a movement from the
      ways entering upstream to its outgoing way (else in the phases of the links feeding
      it), so that a movement meets one stop line, as in the twin; it stays green
      through a phase's yellow and all-red when the next phase has it too;
    * green is ``G`` for through and right turns and ``g`` (yield) for left turns and
      U-turns, which share the phase with the opposing through movement;
    * a phase with no SUMO link (a mid-block pedestrian phase) is all red.

    :func:`align` puts every ``twin`` program at the phase the twin's plan shows on its
    clock (seconds since local midnight).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sumolib
from scipy.spatial import cKDTree

__all__ = [
    "MATCH_M",
    "PROGRAM_ID",
    "OFF_PROGRAM_ID",
    "TwinLight",
    "junction_osm_nodes",
    "twin_lights",
    "lights_by_node",
    "match_counts",
    "write_programs",
    "align",
    "switch_off",
]

#: Radius (m) of the approach-way match, for a light whose OSM nodes the twin has not kept.
MATCH_M = 40.0
PROGRAM_ID = "twin"
#: SUMO's built-in program of a switched-off light (every light has it).
OFF_PROGRAM_ID = "off"
_YIELD = {"l", "L", "t"}
_ROAD_ID_STRIDE = 1000  # twin road id = OSM way id × this + rank (twin.roads.ROAD_ID_STRIDE)


@dataclass
class TwinLight:
    """A SUMO traffic light running a twin plan.

    Attributes
    ----------
    tls : str
        SUMO traffic light id.
    node : int
        The twin signalized junction whose plan it runs (other lights may run it too).
    cycle_s, offset_s : float
        The plan's cycle and offset.
    states : list of (str, str, str)
        Per twin phase: the green, yellow and all-red SUMO states of this light.
    times : list of (float, float, float)
        Per twin phase: green, yellow and all-red seconds.
    link_phase : list of int
        Per link index: the twin phase it belongs to (of an inner link green in several
        phases, the one its own approach rule gives, if among them).
    lanes : list of str
        Per link index: its incoming lane.
    match : str
        The evidence of the match: ``"osm_node"`` or ``"approach_way"``.
    """

    tls: str
    node: int
    cycle_s: float
    offset_s: float
    states: list[tuple[str, str, str]]
    times: list[tuple[float, float, float]]
    link_phase: list[int]
    lanes: list[str]
    match: str = "osm_node"

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


def _osm_ids(sumo_id: str) -> set[int]:
    """OSM node ids named in a SUMO junction or light id (``123``, ``cluster_1_2_#3more``,
    ``GS_cluster_1_2``)."""
    return {int(t) for t in re.split(r"[_#]", sumo_id) if t.isdigit()}


def junction_osm_nodes(nodes: pd.DataFrame, roads: pd.DataFrame) -> dict[int, set[int]]:
    """The OSM nodes of each twin junction.

    Parameters
    ----------
    nodes : pandas.DataFrame
        The twin's ``nodes`` layer (index: twin node id; ``osm_node``: the junction's
        smallest OSM node id).
    roads : pandas.DataFrame
        The twin's ``roads`` layer (``u``, ``v``, ``osm_from``, ``osm_to``: the OSM nodes
        each road runs between, before the junction's nodes were merged).

    Returns
    -------
    dict
        Twin node id -> its OSM node ids (``osm_node`` and those its roads start or end
        at).
    """
    out: dict[int, set[int]] = defaultdict(set)
    for node, osm in nodes["osm_node"].items():
        out[int(node)].add(int(osm))
    for u, v, a, b in zip(roads["u"], roads["v"], roads["osm_from"], roads["osm_to"], strict=True):
        out[int(u)].add(int(a))
        out[int(v)].add(int(b))
    return dict(out)


def _approach_ways(phases: list[dict]) -> set[int]:
    """OSM ways of the approaches of a twin plan's movements."""
    return {m["from"] // _ROAD_ID_STRIDE for ph in phases for m in ph["movements"]
            if isinstance(m["from"], int)}


@dataclass
class _Links:
    """One SUMO light's links under a twin plan, by the link rules."""

    tl: sumolib.net.TLS
    conns: list[tuple[sumolib.net.lane.Lane, sumolib.net.lane.Lane, int]]
    phase: list[int]
    kind: list[str]
    lanes: list[str]


def _phases_of(phases: list[dict], ways_in: set[int | None], way_out: int | None
               ) -> tuple[list[int], list[int]]:
    """The twin phases with a movement from one of ``ways_in`` to ``way_out`` (exact), and
    those with a movement from one of ``ways_in`` at all (by approach way)."""
    exact, by_way = [], []
    for p, ph in enumerate(phases):
        froms = [m for m in ph["movements"] if isinstance(m["from"], int)
                 and m["from"] // _ROAD_ID_STRIDE in ways_in]
        if froms:
            by_way.append(p)
        if any(isinstance(m["to"], int) and m["to"] // _ROAD_ID_STRIDE == way_out
               for m in froms):
            exact.append(p)
    return exact, by_way


#: How far upstream a link's approach way is looked for when its own way is no twin
#: approach (a connector netconvert keeps inside a junction the twin merged).
UPSTREAM_M = 120.0


def _upstream_phases(edge: sumolib.net.edge.Edge, way_out: int | None,
                     phases: list[dict]) -> list[int]:
    """The phases of the nearest twin approach way upstream of ``edge`` (within
    :data:`UPSTREAM_M`): by movement to ``way_out`` first, else by approach."""
    frontier, seen = [(0.0, edge)], {edge.getID()}
    while frontier:
        frontier.sort(key=lambda f: f[0])
        dist, e = frontier.pop(0)
        for up in e.getIncoming():
            if up.getID() in seen or up.getFunction() == "internal":
                continue
            seen.add(up.getID())
            exact, by_way = _phases_of(phases, {_way(up.getID())}, way_out)
            if exact or by_way:
                return exact or by_way
            if dist + up.getLength() < UPSTREAM_M:
                frontier.append((dist + up.getLength(), up))
    return []


def _links(tl: sumolib.net.TLS, phases: list[dict]) -> _Links:
    """Each link's twin phase (movement, approach way, the nearest approach way upstream,
    bearing) and green kind."""
    conns = sorted(tl.getConnections(), key=lambda c: c[2])
    n_links = conns[-1][2] + 1
    link_phase = [0] * n_links
    lanes = [""] * n_links
    green_kind = ["G"] * n_links
    for in_lane, out_lane, idx in conns:
        lanes[idx] = in_lane.getID()
        wi, wo = _way(in_lane.getEdge().getID()), _way(out_lane.getEdge().getID())
        exact, by_way = _phases_of(phases, {wi}, wo)
        upstream = [] if exact or by_way else _upstream_phases(in_lane.getEdge(), wo, phases)
        if exact:
            link_phase[idx] = exact[0]
        elif by_way:
            link_phase[idx] = by_way[0]
        elif upstream:
            link_phase[idx] = upstream[0]
        else:
            b = _bearing(in_lane.getShape())
            gaps = [min((_axis_gap(b, pb) for pb in ph.get("bearings", [])), default=999.0)
                    for ph in phases]
            link_phase[idx] = int(np.argmin(gaps))
        conn = in_lane.getEdge().getConnections(out_lane.getEdge())
        direction = conn[0].getDirection() if conn else "s"
        green_kind[idx] = "g" if direction in _YIELD else "G"
    return _Links(tl, conns, link_phase, green_kind, lanes)


def _inner_phases(group: list[_Links], phases: list[dict]) -> dict[tuple[str, int], set[int]]:
    """The phases of the links *inside* a twin junction with several SUMO lights.

    A link whose incoming edge starts at another light of the junction carries the
    vehicles that entered the junction at that light: it is green in every phase with a
    movement from a way entering upstream to the link's outgoing way (else in every
    phase of the links feeding its edge), so that a movement meets one stop line, as in
    the twin.

    Returns
    -------
    dict
        (tls id, link index) -> twin phases, for the inner links.
    """
    inner = {c[0].getEdge().getToNode().getID() for links in group for c in links.conns}
    feeders: dict[str, list[tuple[_Links, int, sumolib.net.edge.Edge]]] = defaultdict(list)
    for links in group:
        for in_lane, out_lane, idx in links.conns:
            feeders[out_lane.getEdge().getID()].append((links, idx, in_lane.getEdge()))
    out: dict[tuple[str, int], set[int]] = {}
    for links in group:
        for in_lane, out_lane, idx in links.conns:
            edge = in_lane.getEdge()
            if edge.getFromNode().getID() not in inner:
                continue
            ways: set[int | None] = set()
            feed: set[int] = set()
            stack, seen = [edge], {edge.getID()}
            while stack:  # the links that feed the edge, back to the junction's approaches
                for up_links, up_idx, up in feeders[stack.pop().getID()]:
                    if up.getFromNode().getID() in inner:
                        if up.getID() not in seen:
                            seen.add(up.getID())
                            stack.append(up)
                    else:
                        ways.add(_way(up.getID()))
                        feed.add(up_links.phase[up_idx])
            wo = _way(out_lane.getEdge().getID())
            exact = set(_phases_of(phases, ways, wo)[0])
            if exact or feed:
                out[(links.tl.getID(), idx)] = exact or feed
    return out


def _program(links: _Links, row: pd.Series, phases: list[dict], match: str,
             inner: Mapping[tuple[str, int], set[int]]) -> TwinLight:
    """The twin plan of ``row`` (a ``signals`` row) as the program of one SUMO light.

    A link green in several phases (an inner link, :func:`_inner_phases`) stays green
    through the yellow and all-red of a phase whose next phase also has it.
    """
    tls_id = links.tl.getID()
    n_links, n_phases = len(links.phase), len(phases)
    served = [inner.get((tls_id, i), {links.phase[i]}) for i in range(n_links)]
    link_phase = [links.phase[i] if links.phase[i] in served[i] else min(served[i])
                  for i in range(n_links)]
    states, times = [], []
    for p, ph in enumerate(phases):
        on = [p in served[i] for i in range(n_links)]
        keep = [on[i] and (tls_id, i) in inner and (p + 1) % n_phases in served[i]
                for i in range(n_links)]
        green = "".join(links.kind[i] if on[i] else "r" for i in range(n_links))
        yellow = "".join(links.kind[i] if keep[i] else "y" if on[i] else "r" for i in range(n_links))
        all_red = "".join(links.kind[i] if keep[i] else "r" for i in range(n_links))
        states.append((green, yellow, all_red))
        times.append((float(ph["green_s"]), float(ph["yellow_s"]), float(ph["all_red_s"])))
    return TwinLight(tls_id, int(row["node"]), float(row["cycle_s"]), float(row["offset_s"]),
                     states, times, link_phase, links.lanes, match)


def twin_lights(net: sumolib.net.Net, signals: pd.DataFrame, nodes: pd.DataFrame | None = None,
                roads: pd.DataFrame | None = None) -> tuple[dict[str, TwinLight], list[str]]:
    """Match every SUMO light to the twin signalized junction it belongs to (many to one).

    Parameters
    ----------
    net : sumolib.net.Net
        The SUMO network, from the twin's OSM source.
    signals : geopandas.GeoDataFrame
        The twin's ``signals`` layer: a row per signalized junction (``node``, its plan).
    nodes, roads : pandas.DataFrame, optional
        The twin's ``nodes`` and ``roads`` layers, for the OSM-node evidence
        (:func:`junction_osm_nodes`) and the approach ways. Without them every light is
        matched by approach way within :data:`MATCH_M` (the ways of the plans' movements).

    Returns
    -------
    lights : dict
        SUMO tls id -> :class:`TwinLight`, for every light with a twin plan
        (:func:`lights_by_node` groups them by twin junction).
    unmatched : list of str
        SUMO tls ids without a twin plan (for :func:`switch_off`), sorted.
    """
    plans = {int(n): json.loads(p) for n, p in zip(signals["node"], signals["phases"], strict=True)}
    rows = {int(n): i for i, n in enumerate(signals["node"])}
    xy = {int(n): net.convertLonLat2XY(g.x, g.y)
          for n, g in zip(signals["node"], signals.geometry, strict=True)}
    ways = {n: _approach_ways(plans[n]) for n in plans}
    if roads is not None:  # and the ways of the junction's incoming roads
        for v, way in zip(roads["v"], roads["osmid"], strict=True):
            if int(v) in ways:
                ways[int(v)].add(int(way))
    owners: dict[int, set[int]] = defaultdict(set)  # OSM node -> twin junctions
    if nodes is not None and roads is not None:
        for node, osm in junction_osm_nodes(nodes, roads).items():
            for o in osm:
                owners[o].add(node)
    order = list(plans)
    tree = cKDTree(np.array([xy[n] for n in order]))
    groups: dict[int, list[tuple[_Links, str]]] = defaultdict(list)
    unmatched: list[str] = []
    for tl in net.getTrafficLights():
        conns = tl.getConnections()
        if not conns:
            unmatched.append(tl.getID())
            continue
        x, y = np.mean([c[0].getShape()[-1] for c in conns], axis=0)
        in_ways = [_way(e.getID()) for e in {c[0].getEdge() for c in conns}]
        osm = _osm_ids(tl.getID()).union(*(_osm_ids(c[0].getEdge().getToNode().getID())
                                          for c in conns))
        twin = set().union(*(owners.get(o, set()) for o in osm))
        if twin:  # the light is at OSM nodes the twin has kept
            cands, match = [n for n in twin if n in plans], "osm_node"
        else:
            cands = [order[i] for i in tree.query_ball_point((x, y), MATCH_M)]
            match = "approach_way"
        if not cands:  # a twin junction without a signal, or none within MATCH_M
            unmatched.append(tl.getID())
            continue
        # most incoming edges on the junction's approach ways, most shared OSM nodes, nearest
        _, _, _, best = min((-sum(w in ways[n] for w in in_ways),
                             -sum(n in owners.get(o, ()) for o in osm),
                             math.dist((x, y), xy[n]), n) for n in cands)
        groups[best].append((_links(tl, plans[best]), match))
    out: dict[str, TwinLight] = {}
    for node, group in groups.items():
        inner = _inner_phases([links for links, _ in group], plans[node]) if len(group) > 1 else {}
        for links, match in group:
            out[links.tl.getID()] = _program(links, signals.iloc[rows[node]], plans[node], match,
                                             inner)
    return out, sorted(unmatched)


def lights_by_node(lights: Mapping[str, TwinLight]) -> dict[int, list[TwinLight]]:
    """The SUMO lights of each twin junction (tls id order)."""
    out: dict[int, list[TwinLight]] = defaultdict(list)
    for tls_id in sorted(lights):
        out[lights[tls_id].node].append(lights[tls_id])
    return dict(out)


def match_counts(lights: Mapping[str, TwinLight], unmatched: Iterable[str]) -> dict[str, int]:
    """How the SUMO lights were matched, for the log.

    Returns
    -------
    dict
        ``lights`` (running twin plans), ``by_osm_node`` / ``by_approach_way`` (their
        evidence), ``junctions`` (twin junctions with a SUMO light), ``shared`` (twin
        junctions with several SUMO lights), ``unmatched`` (SUMO lights without a plan).
    """
    groups = lights_by_node(lights)
    return {"lights": len(lights),
            "by_osm_node": sum(light.match == "osm_node" for light in lights.values()),
            "by_approach_way": sum(light.match == "approach_way" for light in lights.values()),
            "junctions": len(groups),
            "shared": sum(len(g) > 1 for g in groups.values()),
            "unmatched": len(list(unmatched))}


def write_programs(lights: Mapping[str, TwinLight], path: Path) -> Path:
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


def align(traci, lights: Mapping[str, TwinLight], clock_s: float) -> None:
    """Run every ``twin`` program at the phase the twin's plan shows at ``clock_s``.

    Parameters
    ----------
    traci : module
        ``libsumo`` or ``traci``.
    lights : mapping of SUMO tls id to TwinLight
        Any of the matched lights (all of them, or those of one junction).
    clock_s : float
        The plan clock (seconds since local midnight).
    """
    for light in lights.values():
        traci.trafficlight.setProgram(light.tls, PROGRAM_ID)
        k, left = light.position(clock_s)
        traci.trafficlight.setPhase(light.tls, k)
        traci.trafficlight.setPhaseDuration(light.tls, max(left, 0.01))


def switch_off(traci, tls_ids: Iterable[str]) -> int:
    """Switch SUMO lights off (program ``off``): the twin has no signal there.

    A switched-off light's links follow its junction's right of way (state ``O``: no
    signal, priority; ``o``: no signal, yield). Lights not switched off keep SUMO's own
    fixed-time program.

    Parameters
    ----------
    traci : module
        ``libsumo`` or ``traci``.
    tls_ids : iterable of str
        SUMO tls ids (``twin_lights``' ``unmatched``).

    Returns
    -------
    int
        Lights switched off.
    """
    n = 0
    for tls_id in tls_ids:
        traci.trafficlight.setProgram(tls_id, OFF_PROGRAM_ID)
        n += 1
    return n
