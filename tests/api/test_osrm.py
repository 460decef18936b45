"""The OSRM dialect (``/route/v1``, ``/table/v1``) through a real OSRM client, routingpy,
against a real server: the same answers as the native API, OSRM's error codes."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import routingpy
from routingpy.exceptions import RouterApiError

from api import create_app
from api.osrm import decode_polyline, encode_polyline
from twin import City, Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzzing import CHECKS, FuzzReport, _run  # noqa: E402

WHEN = "2026-11-23T10:00:00+08:00"  # off-peak, so the answers do not depend on the clock
POINTS = [[121.465, 31.225], [121.484, 31.238], [121.475, 31.232], [121.47, 31.24]]
INCIDENT = {"lon": 121.484, "lat": 31.238}


@pytest.fixture(scope="module")
def server(city: City, serve_in_thread) -> Iterator[str]:  # noqa: ANN001
    settings = Settings(api_keys={"osrm-test-editor": "editor"})  # keys exist; none is sent
    with serve_in_thread(create_app(settings, city=city)) as url:
        yield url


@pytest.fixture(scope="module")
def osrm(server: str) -> routingpy.OSRM:
    return routingpy.OSRM(base_url=server, timeout=60)


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def _metres(a: list[float], b: list[float]) -> float:
    kx = 111_320.0 * math.cos(math.radians(a[1]))
    return math.hypot((a[0] - b[0]) * kx, (a[1] - b[1]) * 110_540.0)


def _native_route(http: httpx.Client, a: list[float], b: list[float]) -> dict:
    res = http.post("/routes", json={"origin": {"lon": a[0], "lat": a[1]},
                                     "destination": {"lon": b[0], "lat": b[1]}, "depart_at": WHEN})
    assert res.status_code == 200, res.text
    return res.json()


def test_polyline_codec_round_trips() -> None:
    line = [[121.465057, 31.225692], [121.4655599, 31.225188], [-0.1, 51.5]]
    for precision in (5, 6):
        decoded = decode_polyline(encode_polyline(line, precision), precision)
        assert all(abs(p - q) <= 0.6 * 10 ** -precision
                   for a, b in zip(decoded, line, strict=True) for p, q in zip(a, b, strict=True))
    # routingpy decodes what we encode to the same points
    assert routingpy.utils.decode_polyline5(encode_polyline(line)) == [
        tuple(p) for p in decode_polyline(encode_polyline(line))]


def test_directions_equal_the_native_route(osrm: routingpy.OSRM, http: httpx.Client) -> None:
    for a, b in [(POINTS[0], POINTS[1]), (POINTS[2], POINTS[3]), (POINTS[1], POINTS[0])]:
        native = _native_route(http, a, b)
        direction = osrm.directions(locations=[a, b], profile="driving", depart_at=WHEN)
        route = direction.raw["routes"][0]
        assert route["distance"] == native["distance_m"] and route["duration"] == native["eta_s"]
        assert direction.distance == int(native["distance_m"])
        start, end = (w["location"] for w in (direction.raw["waypoints"][0],
                                               direction.raw["waypoints"][-1]))
        assert _metres(direction.geometry[0], start) < 2 and _metres(direction.geometry[-1], end) < 2
        # the snapped waypoints are where the native route starts and ends
        assert _metres(start, native["geometry"]["coordinates"][0]) < 1
        assert _metres(end, native["geometry"]["coordinates"][-1]) < 1
        assert all(w["distance"] < 300 for w in direction.raw["waypoints"])


def test_matrix_equals_native_routes(osrm: routingpy.OSRM, http: httpx.Client) -> None:
    matrix = osrm.matrix(locations=POINTS, profile="driving", depart_at=WHEN)
    assert len(matrix.durations) == len(matrix.distances) == len(POINTS)
    for i, a in enumerate(POINTS):
        for j, b in enumerate(POINTS):
            native = _native_route(http, a, b)
            assert abs(matrix.durations[i][j] - native["eta_s"]) <= 0.11
            assert abs(matrix.distances[i][j] - native["distance_m"]) <= 0.11
    sub = osrm.matrix(locations=POINTS, profile="driving", sources=[1, 3], destinations=[0],
                      annotations=["duration"], depart_at=WHEN)
    assert sub.distances is None
    assert [row[0] for row in sub.durations] == [matrix.durations[1][0], matrix.durations[3][0]]
    assert len(sub.raw["sources"]) == 2 and len(sub.raw["destinations"]) == 1


def test_fire_answers_the_dispatch_eta_and_creates_no_run(osrm: routingpy.OSRM,
                                                          http: httpx.Client, city: City) -> None:
    runs_before = city.runs.active()
    res = http.post("/dispatch", json={"incident": INCIDENT, "vehicle": "fire", "limit": 10})
    assert res.status_code == 200, res.text
    stations = res.json()["stations"]
    assert stations
    locations = [[s["lon"], s["lat"]] for s in stations] + [[INCIDENT["lon"], INCIDENT["lat"]]]
    n = len(stations)
    matrix = osrm.matrix(locations=locations, profile="fire", sources=list(range(n)),
                         destinations=[n])
    for row, station in zip(matrix.durations, stations, strict=True):
        assert abs(row[0] - station["cruise_s"]) <= 0.11  # the engine's travel time
        # the honest ETA adds the start, the turns and what the signals leave
        assert station["cruise_s"] < station["eta_s"] <= station["eta_without_priority_s"]
    for i, station in enumerate(stations):
        direction = osrm.directions(locations=[locations[i], locations[n]], profile="fire")
        assert abs(direction.raw["routes"][0]["duration"] - station["cruise_s"]) <= 0.11
        assert abs(direction.raw["routes"][0]["distance"] - matrix.distances[i][0]) <= 0.11
    # the green wave is faster than normal traffic; nothing was registered, no key was sent
    driving = osrm.matrix(locations=locations, profile="driving", sources=[0], destinations=[n])
    assert matrix.durations[0][0] < driving.durations[0][0]
    ambulance = osrm.matrix(locations=locations, profile="ambulance")
    assert len(ambulance.durations) == n + 1
    assert city.runs.active() == runs_before


def test_multi_waypoint_route_has_one_leg_per_pair(http: httpx.Client) -> None:
    coords = ";".join(f"{lon},{lat}" for lon, lat in POINTS[:3])
    res = http.get(f"/route/v1/driving/{coords}",
                   params={"depart_at": WHEN, "overview": "full", "geometries": "geojson",
                           "annotations": "true", "steps": "true"})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["code"] == "Ok" and len(body["waypoints"]) == 3
    route = body["routes"][0]
    assert len(route["legs"]) == 2
    for leg, (a, b) in zip(route["legs"], [(0, 1), (1, 2)], strict=True):
        native = _native_route(http, POINTS[a], POINTS[b])
        assert leg["distance"] == native["distance_m"] and leg["duration"] == native["eta_s"]
        ann = leg["annotation"]
        assert set(ann) == {"duration", "distance", "speed", "weight"}
        assert abs(sum(ann["distance"]) - leg["distance"]) < 0.05 * len(ann["distance"]) + 0.1
        assert abs(sum(ann["duration"]) - leg["duration"]) < 0.05 * len(ann["duration"]) + 0.1
        steps = leg["steps"]
        assert steps[0]["maneuver"]["type"] == "depart" and steps[-1]["maneuver"]["type"] == "arrive"
        assert abs(sum(s["distance"] for s in steps) - leg["distance"]) < 0.05 * len(steps) + 0.1
        assert leg["summary"]
    assert abs(route["distance"] - sum(leg["distance"] for leg in route["legs"])) <= 0.11
    line = route["geometry"]
    assert line["type"] == "LineString"
    # one annotation per pair of coordinates of the full geometry
    assert len(line["coordinates"]) - 1 == sum(len(leg["annotation"]["distance"])
                                               for leg in route["legs"])
    assert _metres(line["coordinates"][0], body["waypoints"][0]["location"]) < 0.5
    assert _metres(line["coordinates"][-1], body["waypoints"][-1]["location"]) < 0.5


def test_geometry_forms_and_options(http: httpx.Client) -> None:
    coords = f"{POINTS[0][0]},{POINTS[0][1]};{POINTS[1][0]},{POINTS[1][1]}"
    full = http.get(f"/route/v1/driving/{coords}.json",
                    params={"overview": "full", "geometries": "polyline6", "depart_at": WHEN})
    assert full.status_code == 200, full.text
    six = decode_polyline(full.json()["routes"][0]["geometry"], 6)
    simple = http.get(f"/route/v1/driving/{coords}", params={"depart_at": WHEN}).json()
    five = decode_polyline(simple["routes"][0]["geometry"])
    assert 2 <= len(five) < len(six)
    assert _metres(five[0], six[0]) < 2 and _metres(five[-1], six[-1]) < 2
    bare = http.get(f"/route/v1/driving/{coords}",
                    params={"overview": "false", "skip_waypoints": "true", "alternatives": "true"})
    route = bare.json()["routes"]
    assert len(route) == 1 and "geometry" not in route[0] and "waypoints" not in bare.json()
    encoded = encode_polyline(POINTS[:2])
    same = http.get(f"/route/v1/driving/polyline({encoded})", params={"depart_at": WHEN})
    assert same.json()["routes"][0]["distance"] == simple["routes"][0]["distance"]
    scaled = http.get(f"/table/v1/driving/{coords}", params={"scale_factor": 2, "depart_at": WHEN})
    plain = http.get(f"/table/v1/driving/{coords}", params={"depart_at": WHEN})
    assert "distances" not in plain.json()
    assert abs(scaled.json()["durations"][0][1] - 2 * plain.json()["durations"][0][1]) <= 0.11


def _code(exc: pytest.ExceptionInfo[RouterApiError]) -> str:
    assert exc.value.status == 400
    body = json.loads(exc.value.message)
    assert body["message"] and body["detail"] == body["message"]
    return body["code"]


def test_errors_are_osrm_codes(osrm: routingpy.OSRM, http: httpx.Client, city: City) -> None:
    with pytest.raises(RouterApiError) as exc:
        osrm.directions(locations=POINTS[:2], profile="bicycle")
    assert _code(exc) == "InvalidUrl" and "driving" in json.loads(exc.value.message)["message"]
    far = [121.449, 31.23]  # west of the fixture's roads
    assert city.routing.network.snap(*far, max_distance_m=1e9)[1] > 1000
    with pytest.raises(RouterApiError) as exc:
        osrm.directions(locations=[POINTS[0], far], profile="driving")
    assert _code(exc) == "NoSegment" and "coordinate 1" in json.loads(exc.value.message)["message"]
    with pytest.raises(RouterApiError) as exc:
        osrm.matrix(locations=[POINTS[0], far], profile="fire")
    assert _code(exc) == "NoSegment"
    with pytest.raises(RouterApiError) as exc:
        osrm.directions(locations=[POINTS[0]] * 26, profile="driving")
    assert _code(exc) == "TooBig"
    with pytest.raises(RouterApiError) as exc:
        osrm.matrix(locations=[POINTS[0]] * 101, profile="driving")
    assert _code(exc) == "TooBig"
    with pytest.raises(RouterApiError) as exc:
        osrm.matrix(locations=POINTS, profile="driving", sources=[7])
    assert _code(exc) == "InvalidOptions"
    cases = {
        "/route/v1/driving/121.465,31.225;abc": "InvalidUrl",
        "/route/v1/driving/121.465;31.225": "InvalidUrl",
        "/route/v1/driving/121.465,31.225": "InvalidOptions",
        "/route/v1/driving/121.465,31.225;200,31.2": "InvalidValue",
        "/route/v1/driving/121.465,31.225;121.484,31.238?overview=some": "InvalidQuery",
        "/route/v1/driving/121.465,31.225;121.484,31.238?annotations=nodes": "InvalidQuery",
        "/route/v1/driving/121.465,31.225;121.484,31.238?bearings=0,20;0,20": "InvalidOptions",
        "/route/v1/driving/121.465,31.225;121.484,31.238?radiuses=10": "InvalidOptions",
        "/table/v1/fire/121.465,31.225;121.484,31.238?annotations=speed": "InvalidQuery",
        "/table/v1/fire/121.465,31.225;121.484,31.238?fallback_speed=10": "InvalidOptions",
    }
    for url, code in cases.items():
        res = http.get(url)
        assert res.status_code == 400 and res.json()["code"] == code, (url, res.text)
    # a small radius makes a point that snaps at ~77 m a NoSegment
    res = http.get("/route/v1/driving/121.465,31.225;121.484,31.238", params={"radiuses": "5;"})
    assert res.status_code == 400 and res.json()["code"] == "NoSegment"


def test_osrm_operations_conform_to_the_schema(city: City) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    app = create_app(Settings(), city=city)
    spec = app.openapi()
    for path in ("/route/v1/{profile}/{coordinates}", "/table/v1/{profile}/{coordinates}"):
        assert set(spec["paths"][path]["get"]["responses"]) >= {"200", "400"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(("/route/v1/", "/table/v1/")):
            report.operations += 1
            for mode in GenerationMode:
                _run(operation, mode, report, 12, None)
    assert report.operations == 2 and report.cases >= 20 and CHECKS
    assert report.statuses[400]
    assert not report.failures, "\n".join(report.failures[:20])
