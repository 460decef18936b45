"""The SUMO scenario of the green-wave validation: network, background demand, routes.

Two cities: ``central`` (the embedded default, central Shanghai) and ``core`` (its 2.4 km
centre, for the quick test), :data:`OSM`.

Network
    ``netconvert`` from the same OSM file the twin is built from, with its signals. The
    options (:data:`NETCONVERT_OPTIONS`) keep the junctions faithful to the twin's road
    model, which merges the OSM nodes of one junction within
    :data:`twin.roads.JUNCTION_TOLERANCE_M` into one intersection (a dual-carriageway
    crossing is one signalized intersection): ``--junctions.join`` with a join distance
    of twice that tolerance (the twin merges nodes whose tolerance buffers overlap). No
    ``--tls.join``: it clusters the signals of *neighbouring* junctions into one
    controller, which on this network made controllers with 288 s and 360 s cycles over
    up to 30 phases, and background traffic teleported out of deadlocks at them (5 of 200
    cars at 600 veh/h, against none without it, measured in the same run set). Road
    speeds come from the twin's default speeds per road class
    (:data:`twin.roads.DEFAULT_SPEEDS_KPH`, written into a copy of SUMO's OSM type map;
    OSM ``maxspeed`` wins where tagged, as in the twin), not from SUMO's rural defaults
    (100 km/h on a primary road). Signal programs are SUMO's fixed-time programs with the
    twin's yellow and all-red times.

Demand
    Background cars from SUMO's ``randomTrips`` (uniform departures, ``period`` seconds
    apart, more trips starting at the fringe), routed with ``duarouter`` (``--validate``).

Routes
    A fire engine's route is the fire engine's fastest path in the twin (with priority),
    its polyline map-matched onto SUMO edges (:func:`map_route`) and checked to be the
    same streets (:func:`route_overlap`): :func:`sumo_route`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import shapely
import sumolib

from routing.signals import ALL_RED_S, YELLOW_S
from twin.roads import DEFAULT_LANES, DEFAULT_SPEEDS_KPH, JUNCTION_TOLERANCE_M

__all__ = [
    "REPO",
    "OSM",
    "SUMO_HOME",
    "SUMO_BIN",
    "SUMO_ENV",
    "NETCONVERT_OPTIONS",
    "MIN_OVERLAP",
    "SAME_STREET_M",
    "BUNDLE",
    "route_overlap",
    "write_type_map",
    "build_network",
    "background_routes",
    "map_route",
    "sumo_route",
]

REPO = Path(__file__).resolve().parents[2]
#: The OSM source of each city the validation runs on: ``central`` is the embedded default
#: city (central Shanghai), ``core`` its 2.4 km centre (the quick test's city).
OSM = {"central": REPO / "data" / "sources" / "shanghai_center.osm",
       "core": REPO / "data" / "sources" / "shanghai_core.osm"}
#: The twin bundle name of each city.
BUNDLE = {"central": None, "core": "shanghai-core"}
def _sumo_home() -> Path:
    """Where the ``eclipse-sumo`` wheel is, found without importing it: ``import sumo``
    points ``PROJ_DATA`` / ``PROJ_LIB`` of the whole process at SUMO's own PROJ database,
    which breaks pyproj and rasterio afterwards."""
    spec = importlib.util.find_spec("sumo")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the SUMO validation needs the eclipse-sumo package ([sumo] extra)")
    return Path(next(iter(spec.submodule_search_locations)))


SUMO_HOME = _sumo_home()
SUMO_BIN = SUMO_HOME / "bin"
#: Environment of SUMO's own programs (their PROJ database), not of this process.
SUMO_ENV = {**os.environ, "SUMO_HOME": str(SUMO_HOME),
            "PROJ_DATA": str(SUMO_HOME / "data" / "proj"), "PROJ_LIB": str(SUMO_HOME / "data" / "proj")}
NETCONVERT_OPTIONS = [
    "--geometry.remove", "--ramps.guess",
    "--junctions.join", "--junctions.join-dist", str(2 * JUNCTION_TOLERANCE_M),
    "--tls.guess-signals", "--tls.discard-simple",
    "--tls.default-type", "static",
    "--tls.yellow.time", str(int(YELLOW_S)), "--tls.allred.time", str(int(ALL_RED_S)),
    "--keep-edges.by-vclass", "passenger", "--remove-edges.isolated",
    "--output.street-names", "--no-warnings",
]
#: Two routes are the same streets when this share of each lies within :data:`SAME_STREET_M`
#: of the other (the SUMO route without its first and last edge, which the planner,
#: starting and ending at nodes, covers only in part).
MIN_OVERLAP = 0.9
SAME_STREET_M = 25.0
#: A SUMO route farther than this from the planned streets anywhere but on its first and
#: last edge is not the plan (the AVL matcher would rightly see the engine leave it).
MAX_DETOUR_M = 40.0
#: A route starting this close before a signalized SUMO junction starts at it: the twin's
#: stations stand at junction nodes and their runs leave from the node, on the road out
#: (a station's own exit signal holds the traffic then, outside the junction's plan), so
#: the engine enters SUMO on the edge after the junction, as the twin plans it.
START_AT_JUNCTION_M = 40.0


def _run(cmd: list[str], workdir: Path) -> None:
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=SUMO_ENV)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-2000:]}")


def write_type_map(workdir: Path) -> Path:
    """SUMO's OSM type map with the twin's default speed and lanes per road class."""
    tree = ET.parse(SUMO_HOME / "data" / "typemap" / "osmNetconvert.typ.xml")
    for typ in tree.getroot().iter("type"):
        kind, _, road_class = typ.get("id", "").partition(".")
        if kind != "highway":
            continue
        if road_class in DEFAULT_SPEEDS_KPH:
            typ.set("speed", f"{DEFAULT_SPEEDS_KPH[road_class] / 3.6:.2f}")
        if road_class in DEFAULT_LANES:
            typ.set("numLanes", str(DEFAULT_LANES[road_class]))
    out = workdir / "twin.typ.xml"
    tree.write(out)
    return out


def build_network(workdir: Path, osm: Path = OSM["central"]) -> Path:
    """netconvert ``osm`` with its signals into ``workdir/net.net.xml``."""
    net = workdir / "net.net.xml"
    _run([str(SUMO_BIN / "netconvert"), "--osm-files", str(osm), "--type-files",
          str(write_type_map(workdir)), "-o", str(net), *NETCONVERT_OPTIONS], workdir)
    return net


def background_routes(net: Path, workdir: Path, *, period: float, end: float, seed: int) -> Path:
    """Routed background cars departing every ``period`` seconds until ``end``.

    Every file (trips, routes, the router's alternatives) is written into ``workdir``.
    """
    stem = f"bg-p{period:g}-s{seed}"
    trips, routes = workdir / f"{stem}.trips.xml", workdir / f"{stem}.rou.xml"
    _run([sys.executable, str(SUMO_HOME / "tools" / "randomTrips.py"),
          "-n", str(net), "-o", str(trips), "-r", str(routes), "-e", str(end),
          "-p", str(period), "--fringe-factor", "5", "--seed", str(seed),
          "--min-distance", "300", "--vehicle-class", "passenger", "--prefix", "bg",
          "--trip-attributes", 'departLane="best" departSpeed="max"'], workdir)
    return routes


def map_route(net: sumolib.net.Net, coordinates: list[list[float]], *, step_m: float = 5.0) -> list[str]:
    """Map-match a route's lon/lat polyline onto consecutive SUMO edges.

    Parameters
    ----------
    net : sumolib.net.Net
        The SUMO network (with its geo projection).
    coordinates : list of [lon, lat]
        The route's geometry (GeoJSON order).
    step_m : float
        Spacing of the densified trace.

    Returns
    -------
    list of str
        SUMO edge ids, in driving order.
    """
    xy = [net.convertLonLat2XY(lon, lat) for lon, lat in coordinates]
    trace: list[tuple[float, float]] = [xy[0]]
    for (x0, y0), (x1, y1) in zip(xy, xy[1:], strict=False):
        n = max(1, int(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 // step_m))
        trace += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    edges = sumolib.route.mapTrace(trace, net, 25.0, vClass="emergency", fillGaps=200.0)
    if not edges:
        raise RuntimeError("the route does not map onto the SUMO network")
    return _without_loops(_connected(net, [e.getID() for e in edges]))


def _connected(net: sumolib.net.Net, edges: list[str], *, max_gap_m: float = 300.0) -> list[str]:
    """Close the gaps between matched edges with the shortest path (an unconnected
    first edge, a stub the matcher picked at the start node, is dropped)."""
    out = [edges[0]]
    for edge in edges[1:]:
        a, b = net.getEdge(out[-1]), net.getEdge(edge)
        if b in a.getOutgoing():
            out.append(edge)
            continue
        path, cost = net.getShortestPath(a, b, vClass="emergency")
        if path is not None and cost - a.getLength() - b.getLength() <= max_gap_m:
            out += [e.getID() for e in path[1:]]
        elif len(out) == 1:
            out = [edge]
        else:
            raise RuntimeError(f"the matched route has a gap between {out[-1]} and {edge}")
    return out


def _without_loops(edges: list[str]) -> list[str]:
    """Cut the detours a map-matcher makes on short edges (an edge met twice)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for edge in edges:
        if edge in seen:
            del out[seen[edge] + 1:]
            seen = {e: i for i, e in enumerate(out)}
            continue
        seen[edge] = len(out)
        out.append(edge)
    return out


def _offset(net: sumolib.net.Net, edge: sumolib.net.edge.Edge, lonlat: list[float]) -> float:
    """Position (m from the edge's start) of the point of ``edge`` nearest ``lonlat``."""
    point = net.convertLonLat2XY(*lonlat)
    shape = edge.getLanes()[0].getShape()
    pos = sumolib.geomhelper.polygonOffsetWithMinimumDistanceToPoint(point, shape, perpendicular=False)
    return float(min(max(pos, 0.0), edge.getLength() - 0.1))


def route_overlap(net: sumolib.net.Net, edges: list[str],
                  coordinates: list[list[float]]) -> tuple[float, float]:
    """Share of the planned polyline near the SUMO route, and of the SUMO route near the plan.

    Returns
    -------
    planned_share, sumo_share : float
        Length shares within :data:`SAME_STREET_M` of the other route.
    """
    planned = shapely.LineString([net.convertLonLat2XY(lon, lat) for lon, lat in coordinates])
    shapes = [shapely.LineString(net.getEdge(e).getShape()) for e in edges]
    sumo_route = shapely.MultiLineString(shapes)
    middle = shapely.MultiLineString(shapes[1:-1] or shapes)

    def share(line: shapely.Geometry, other: shapely.Geometry) -> float:
        return float(line.intersection(other.buffer(SAME_STREET_M)).length / line.length)

    return share(planned, sumo_route), share(middle, planned)


def _farthest(line: shapely.LineString, other: shapely.LineString, step_m: float = 5.0) -> float:
    """Largest distance from a point of ``line`` (every ``step_m``) to ``other``."""
    n = max(2, int(line.length // step_m) + 1)
    points = shapely.line_interpolate_point(line, np.linspace(0.0, line.length, n))
    return float(shapely.distance(points, other).max())


def sumo_route(net: sumolib.net.Net, coordinates: list[list[float]]) -> tuple[list[str], float, float, float]:
    """A planned route (its lon/lat polyline) on SUMO edges, checked to be the same streets.

    Returns
    -------
    edges : list of str
    depart_pos, arrival_pos : float
        Where the planned route starts on the first edge and ends on the last (m); a
        start within :data:`START_AT_JUNCTION_M` before a signalized junction starts on
        the edge out of it.
    length_m : float
        SUMO route length.

    Raises
    ------
    RuntimeError
        The route does not map, or its SUMO edges are not the planner's streets
        (:func:`route_overlap` below :data:`MIN_OVERLAP`).
    """
    edges = map_route(net, coordinates)
    shares = route_overlap(net, edges, coordinates)
    if min(shares) < MIN_OVERLAP:
        raise RuntimeError(f"the SUMO route is not the planned streets "
                           f"(overlap {shares[0]:.0%} / {shares[1]:.0%})")
    planned = shapely.LineString([net.convertLonLat2XY(lon, lat) for lon, lat in coordinates])
    middle = [shapely.LineString(net.getEdge(e).getShape()) for e in edges[1:-1]]
    detour = max((_farthest(m, planned) for m in middle), default=0.0)
    if detour > MAX_DETOUR_M:
        raise RuntimeError(f"the SUMO route leaves the planned streets by {detour:.0f} m "
                           "(a loop where the plan turns)")
    first, last = net.getEdge(edges[0]), net.getEdge(edges[-1])
    depart = _offset(net, first, coordinates[0])
    if (len(edges) > 2 and first.getToNode().getType() == "traffic_light"
            and first.getLength() - depart <= START_AT_JUNCTION_M):
        edges, first, depart = edges[1:], net.getEdge(edges[1]), 0.0
    return (edges, depart, _offset(net, last, coordinates[-1]),
            sum(net.getEdge(e).getLength() for e in edges))
