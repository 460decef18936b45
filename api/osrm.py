"""The OSRM dialect: parse OSRM's URL forms and format OSRM's route and table answers.

Fleet and dispatch software and client libraries (``routingpy``, ``osrm-client``, ...)
speak OSRM's HTTP API (``/route/v1``, ``/table/v1``). This module turns their requests into
calls of :class:`routing.service.RoutingService` and its answers into OSRM's JSON:
coordinates ``lon,lat;lon,lat`` (or ``polyline(...)`` / ``polyline6(...)``), geometries as
GeoJSON or encoded polylines, legs with per-segment annotations and simple steps, errors as
``{"code", "message"}`` with OSRM's codes. HTTP lives in :mod:`api.routers.osrm`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import shapely

__all__ = [
    "OsrmError",
    "MAX_ROUTE_COORDINATES",
    "MAX_TABLE_COORDINATES",
    "PROFILES",
    "ROUTE_ANNOTATIONS",
    "encode_polyline",
    "decode_polyline",
    "parse_coordinates",
    "parse_indices",
    "parse_radiuses",
    "parse_annotations",
    "error_body",
    "format_waypoint",
    "format_route",
    "format_table",
]

#: Most coordinates of one ``/route`` request (OSRM's ``--max-viaroute-size`` is 500).
MAX_ROUTE_COORDINATES = 25
#: Most coordinates of one ``/table`` request (OSRM's ``--max-table-size`` default, 100).
MAX_TABLE_COORDINATES = 100
#: OSRM profile -> routing vehicle: ``driving`` is normal traffic at the request time, the
#: emergency profiles run with the green wave (the ETA ``/dispatch`` ranks by).
PROFILES = {"driving": "car", "fire": "fire", "ambulance": "ambulance"}
#: Route annotations this service computes (``true`` asks for all of them).
ROUTE_ANNOTATIONS = ("duration", "distance", "speed", "weight")
#: Simplification tolerance of ``overview=simplified``, in degrees (about 5 m).
SIMPLIFY_DEG = 5e-5

_M_PER_DEG = 111_320.0
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"\s*({_NUMBER})\s*,\s*({_NUMBER})\s*")


class OsrmError(ValueError):
    """An error answered in OSRM's own form, ``{"code": code, "message": message}``.

    Parameters
    ----------
    code : str
        OSRM's code: ``InvalidUrl``, ``InvalidQuery``, ``InvalidOptions``, ``InvalidValue``,
        ``NoSegment``, ``NoRoute``, ``TooBig`` or ``NotImplemented``.
    message : str
        What went wrong and what to change.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, str]:
    """OSRM's error body; ``detail`` repeats the message, as every error of the service has one."""
    return {"code": code, "message": message, "detail": message}


# -- polylines ---------------------------------------------------------------------------
def encode_polyline(coordinates: Sequence[Sequence[float]], precision: int = 5) -> str:
    """Google's encoded polyline of ``[lon, lat]`` points (OSRM: 5 or 6 digits).

    Examples
    --------
    >>> encode_polyline([[-120.2, 38.5], [-120.95, 40.7], [-126.453, 43.252]])
    '_p~iF~ps|U_ulLnnqC_mqNvxq`@'
    """
    factor = 10 ** precision
    out: list[str] = []
    prev_lat = prev_lon = 0
    for lon, lat in coordinates:
        ilat, ilon = round(lat * factor), round(lon * factor)
        for delta in (ilat - prev_lat, ilon - prev_lon):
            value = ~(delta << 1) if delta < 0 else delta << 1
            while value >= 0x20:
                out.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            out.append(chr(value + 63))
        prev_lat, prev_lon = ilat, ilon
    return "".join(out)


def decode_polyline(text: str, precision: int = 5) -> list[list[float]]:
    """``[lon, lat]`` points of an encoded polyline.

    Raises
    ------
    ValueError
        Not a valid encoded polyline.

    Examples
    --------
    >>> decode_polyline('_p~iF~ps|U_ulLnnqC_mqNvxq`@')
    [[-120.2, 38.5], [-120.95, 40.7], [-126.453, 43.252]]
    """
    factor = 10 ** precision
    values: list[int] = []
    shift = acc = 0
    for ch in text:
        byte = ord(ch) - 63
        if not 0 <= byte < 64:
            raise ValueError(f"invalid polyline character {ch!r}")
        acc |= (byte & 0x1F) << shift
        shift += 5
        if byte < 0x20:
            values.append(~(acc >> 1) if acc & 1 else acc >> 1)
            shift = acc = 0
    if shift or len(values) % 2:
        raise ValueError("truncated polyline")
    points, lat, lon = [], 0, 0
    for dlat, dlon in zip(values[::2], values[1::2], strict=True):
        lat, lon = lat + dlat, lon + dlon
        points.append([lon / factor, lat / factor])
    return points


# -- request parsing ---------------------------------------------------------------------
def parse_coordinates(text: str, *, limit: int, minimum: int = 1) -> list[tuple[float, float]]:
    """``lon,lat;lon,lat`` (or ``polyline(...)``, ``polyline6(...)``; an optional ``.json``).

    Raises
    ------
    OsrmError
        ``InvalidUrl`` (malformed), ``InvalidValue`` (outside WGS84), ``InvalidOptions``
        (fewer than ``minimum``), ``TooBig`` (more than ``limit``).
    """
    text = text.removesuffix(".json")
    match = re.fullmatch(r"(polyline6?)\((.*)\)", text, flags=re.S)
    if match:
        try:
            points = [(lon, lat) for lon, lat in decode_polyline(
                match.group(2), 6 if match.group(1) == "polyline6" else 5)]
        except ValueError as exc:
            raise OsrmError("InvalidUrl", f"malformed {match.group(1)} coordinates: {exc}") from None
    else:
        points = []
        position = 0
        for part in text.split(";"):
            pair = _PAIR.fullmatch(part)
            if pair is None:
                raise OsrmError("InvalidUrl", f"URL string malformed close to position {position}: "
                                f"coordinates are lon,lat pairs separated by ';', got {part[:40]!r}")
            points.append((float(pair.group(1)), float(pair.group(2))))
            position += len(part) + 1
    if len(points) > limit:
        raise OsrmError("TooBig", f"{len(points)} coordinates; this service answers at most {limit}")
    if len(points) < minimum:
        raise OsrmError("InvalidOptions", f"number of coordinates needs to be at least {minimum}")
    for i, (lon, lat) in enumerate(points):
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
                and -90 <= lat <= 90):
            raise OsrmError("InvalidValue", f"coordinate {i} ({lon}, {lat}) is not a WGS84 lon,lat")
    return points


def parse_indices(text: str | None, n: int, name: str) -> list[int]:
    """``sources`` / ``destinations``: ``all`` (default) or ``i;j;...`` below ``n``.

    Raises
    ------
    OsrmError
        ``InvalidQuery`` (malformed) or ``InvalidOptions`` (an index out of range).
    """
    if text is None or text == "all":
        return list(range(n))
    if not re.fullmatch(r"\d+(;\d+)*", text):
        raise OsrmError("InvalidQuery", f"{name} is 'all' or indices separated by ';'")
    indices = [int(i) for i in text.split(";")]
    bad = [i for i in indices if i >= n]
    if bad:
        raise OsrmError("InvalidOptions", f"{name} index {bad[0]} is out of range: there are "
                        f"{n} coordinates (indices from 0)")
    return indices


def parse_radiuses(text: str | None, n: int, limit_m: float) -> list[float]:
    """Per-coordinate snapping radius (``;``-separated metres, empty or ``unlimited``).

    The service never snaps farther than ``limit_m``: larger radiuses are capped.

    Raises
    ------
    OsrmError
        ``InvalidQuery`` (malformed) or ``InvalidOptions`` (not one per coordinate).
    """
    if text is None:
        return [limit_m] * n
    parts = text.split(";")
    if len(parts) != n:
        raise OsrmError("InvalidOptions", f"radiuses has {len(parts)} values for {n} coordinates")
    out = []
    for part in parts:
        if part in ("", "unlimited"):
            out.append(limit_m)
            continue
        try:
            value = float(part)
        except ValueError:
            raise OsrmError("InvalidQuery", f"radius {part[:20]!r} is not a number") from None
        if not (math.isfinite(value) and value >= 0):
            raise OsrmError("InvalidValue", f"radius {part[:20]!r} must be a non-negative number")
        out.append(min(value, limit_m))
    return out


def parse_annotations(text: str | None, allowed: Sequence[str], *,
                      default: Sequence[str] = ()) -> list[str]:
    """``true`` / ``false`` / a comma-separated subset of ``allowed``.

    Raises
    ------
    OsrmError
        ``InvalidQuery`` for a value outside ``allowed``.
    """
    if text is None:
        return list(default)
    if text == "false":
        return []
    if text == "true":
        return list(allowed)
    names = text.split(",")
    unknown = [a for a in names if a not in allowed]
    if unknown:
        raise OsrmError("InvalidQuery", f"annotation {unknown[0][:30]!r} is not supported; use "
                        f"true, false or any of {', '.join(allowed)}")
    return names


# -- response formatting -----------------------------------------------------------------
def _geometry(coords: list[list[float]], geometries: str) -> Any:
    coords = [[round(x, 6), round(y, 6)] for x, y in coords]
    if geometries == "geojson":
        return {"type": "LineString", "coordinates": coords}
    return encode_polyline(coords, 6 if geometries == "polyline6" else 5)


def _metres(a: Sequence[float], b: Sequence[float]) -> float:
    kx = _M_PER_DEG * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot((b[0] - a[0]) * kx, (b[1] - a[1]) * 110_540.0)


def _bearing(a: Sequence[float], b: Sequence[float]) -> int:
    kx = math.cos(math.radians((a[1] + b[1]) / 2))
    angle = math.degrees(math.atan2((b[0] - a[0]) * kx, b[1] - a[1]))
    return round(angle) % 360


def _modifier(before: int, after: int) -> str:
    turn = (after - before) % 360
    for limit, name in ((20, "straight"), (60, "slight right"), (140, "right"),
                        (170, "sharp right"), (190, "uturn"), (220, "sharp left"),
                        (300, "left"), (340, "slight left")):
        if turn < limit:
            return name
    return "straight"


def _round(x: float) -> float:
    return round(float(x), 1)


def _edge_segments(edge: dict) -> tuple[list[list[float]], list[float], list[float]]:
    """An edge's points and per-segment distances and durations (scaled to its totals)."""
    pts = edge["coordinates"]
    geo = [_metres(a, b) for a, b in zip(pts[:-1], pts[1:], strict=True)]
    total = sum(geo)
    shares = [g / total for g in geo] if total > 0 else [1 / len(geo)] * len(geo)
    return pts, [edge["length_m"] * s for s in shares], [edge["time_s"] * s for s in shares]


def _leg_points(leg: dict) -> tuple[list[list[float]], list[float], list[float]]:
    coords: list[list[float]] = []
    dist: list[float] = []
    dur: list[float] = []
    for edge in leg["edges"]:
        pts, d, t = _edge_segments(edge)
        coords.extend(pts if not coords else pts[1:])
        dist.extend(d)
        dur.extend(t)
    if not coords:
        coords = [list(p) for p in leg["geometry"]["coordinates"][:1]] * 2
        dist, dur = [0.0], [0.0]
    return coords, dist, dur


def _step(edges: list[dict], kind: str, before: int | None, geometries: str,
          location: list[float] | None = None) -> dict:
    if edges:
        coords: list[list[float]] = []
        for e in edges:
            coords.extend(e["coordinates"] if not coords else e["coordinates"][1:])
        after = _bearing(coords[0], coords[1])
    else:  # the arrival: a point
        coords = [location, location]  # type: ignore[list-item]
        after = 0
    distance = sum(e["length_m"] for e in edges)
    duration = sum(e["time_s"] for e in edges)
    coords = [[round(x, 6), round(y, 6)] for x, y in coords]
    maneuver: dict[str, Any] = {"location": coords[0], "bearing_before": before or 0,
                                "bearing_after": after, "type": kind}
    if kind == "depart":
        intersection = {"location": coords[0], "bearings": [after], "entry": [True], "out": 0}
    elif kind == "arrive":
        intersection = {"location": coords[0], "bearings": [((before or 0) + 180) % 360],
                        "entry": [True], "in": 0}
    else:
        modifier = _modifier(before or 0, after)
        maneuver["modifier"] = modifier
        maneuver["type"] = "new name" if modifier == "straight" else "turn"
        intersection = {"location": coords[0], "bearings": [((before or 0) + 180) % 360, after],
                        "entry": [False, True], "in": 0, "out": 1}
    return {"distance": _round(distance), "duration": _round(duration), "weight": _round(duration),
            "name": edges[0]["name"] if edges else "", "mode": "driving", "driving_side": "right",
            "geometry": _geometry(coords, geometries), "maneuver": maneuver,
            "intersections": [intersection]}


def _steps(leg: dict, geometries: str, end: list[float]) -> list[dict]:
    """Steps of a leg: depart, one step per change of road name, arrive."""
    groups: list[list[dict]] = []
    for edge in leg["edges"]:
        if groups and groups[-1][-1]["name"] == edge["name"]:
            groups[-1].append(edge)
        else:
            groups.append([edge])
    steps, before = [], None
    for i, group in enumerate(groups):
        steps.append(_step(group, "depart" if i == 0 else "turn", before, geometries))
        last = group[-1]["coordinates"]
        before = _bearing(last[-2], last[-1])
    if not groups:
        steps.append(_step([], "depart", None, geometries, end))
    steps.append(_step([], "arrive", before, geometries, end))
    return steps


def _summary(leg: dict) -> str:
    """The two roads with the most length on the leg, in driving order (as OSRM does)."""
    length: dict[str, float] = {}
    for edge in leg["edges"]:
        if edge["name"]:
            length[edge["name"]] = length.get(edge["name"], 0.0) + edge["length_m"]
    top = sorted(length, key=length.get, reverse=True)[:2]  # type: ignore[arg-type]
    order = list(dict.fromkeys(e["name"] for e in leg["edges"] if e["name"] in top))
    return ", ".join(order)


def format_waypoint(snap: dict) -> dict:
    """An OSRM waypoint from :meth:`RoutingService.snap`: snapped location, name, distance."""
    return {"location": [round(snap["lon"], 6), round(snap["lat"], 6)], "name": snap["name"],
            "distance": snap["distance_m"]}


def format_route(result: dict, snaps: Sequence[dict], *, overview: str = "simplified",
                 geometries: str = "polyline", steps: bool = False,
                 annotations: Sequence[str] = (), skip_waypoints: bool = False) -> dict:
    """OSRM's ``/route`` answer from :meth:`RoutingService.route_legs`.

    Parameters
    ----------
    result : dict
        ``route_legs`` output.
    snaps : sequence of dict
        :meth:`RoutingService.snap` of each waypoint.
    overview : str
        ``full``, ``simplified`` or ``false`` (no route geometry).
    geometries : str
        ``polyline`` (5 digits), ``polyline6`` or ``geojson``.
    steps : bool
        Add steps (depart, one per road name, arrive) to every leg.
    annotations : sequence of str
        Per-segment ``duration``, ``distance``, ``speed``, ``weight`` lists of every leg.
    skip_waypoints : bool
        Leave out ``waypoints``.
    """
    legs, route_coords = [], []
    for i, leg in enumerate(result["legs"]):
        coords, dist, dur = _leg_points(leg)
        route_coords.extend(coords if not route_coords else coords[1:])
        out: dict[str, Any] = {"distance": leg["distance_m"], "duration": leg["eta_s"],
                               "weight": leg["eta_s"], "summary": _summary(leg), "steps": []}
        if steps:
            end = [snaps[i + 1]["lon"], snaps[i + 1]["lat"]]
            out["steps"] = _steps(leg, geometries, end)
        if annotations:
            values = {"distance": [_round(d) for d in dist], "duration": [_round(t) for t in dur],
                      "weight": [_round(t) for t in dur],
                      "speed": [_round(d / t) if t > 0 else 0.0
                                for d, t in zip(dist, dur, strict=True)]}
            out["annotation"] = {name: values[name] for name in annotations}
        legs.append(out)
    route: dict[str, Any] = {"distance": result["distance_m"], "duration": result["eta_s"],
                             "weight": result["eta_s"], "weight_name": "duration", "legs": legs}
    if overview != "false":
        if overview == "simplified" and len(route_coords) > 2:
            line = shapely.LineString(route_coords).simplify(SIMPLIFY_DEG, preserve_topology=False)
            route_coords = [list(c) for c in line.coords]
        route["geometry"] = _geometry(route_coords, geometries)
    body: dict[str, Any] = {"code": "Ok", "routes": [route]}
    if not skip_waypoints:
        body["waypoints"] = [format_waypoint(s) for s in snaps]
    return body


def format_table(result: dict, sources: Sequence[dict], destinations: Sequence[dict], *,
                 annotations: Sequence[str] = ("duration",), skip_waypoints: bool = False) -> dict:
    """OSRM's ``/table`` answer from :meth:`RoutingService.table` (``null`` = no route)."""

    def matrix(values: Any) -> list[list[float | None]]:
        return [[_round(v) if math.isfinite(v) else None for v in row] for row in values.tolist()]

    body: dict[str, Any] = {"code": "Ok"}
    if "duration" in annotations:
        body["durations"] = matrix(result["durations"])
    if "distance" in annotations:
        body["distances"] = matrix(result["distances"])
    if not skip_waypoints:
        body["sources"] = [format_waypoint(s) for s in sources]
        body["destinations"] = [format_waypoint(s) for s in destinations]
    return body
