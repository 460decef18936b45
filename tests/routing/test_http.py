"""Routing over HTTP: shapes of the answers and 4xx for bad input."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from fastapi.testclient import TestClient

from api import create_app
from twin import City, Settings

INCIDENT = {"lon": 121.484, "lat": 31.238}
NOW = dt.datetime.fromisoformat("2026-11-23T08:00:00+08:00")
DISPATCHER = {"X-API-Key": "http-dispatcher"}


@pytest.fixture(scope="module")
def client(city: City, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    copy = tmp_path_factory.mktemp("http") / "core"  # runs logged here stay here
    shutil.copytree(city.bundle_dir, copy)
    twin = City.load(copy)
    twin.runs.clock = lambda: NOW
    settings = Settings(api_keys={DISPATCHER["X-API-Key"]: "dispatcher"})
    with TestClient(create_app(settings, city=twin), headers=DISPATCHER) as c:
        yield c


def test_emergency_route(client: TestClient) -> None:
    body = {"origin": {"station": "F1"}, "destination": INCIDENT, "vehicle": "fire",
            "depart_at": "2026-11-23T08:00:00+08:00"}
    res = client.post("/routes/emergency", json=body)
    assert res.status_code == 200, res.text
    run = res.json()
    assert run["geometry"]["type"] == "LineString" and len(run["geometry"]["coordinates"]) > 2
    assert run["distance_m"] > 0 and 0 < run["eta_s"] <= run["eta_without_priority_s"]
    sig = run["signals"][0]
    assert {"id", "lon", "lat", "arrival_s", "green_start_s", "green_end_s", "action"} <= set(sig)
    lon, lat = run["geometry"]["coordinates"][1]
    res = client.post(f"/routes/emergency/{run['id']}/position",
                      json={"lon": lon, "lat": lat, "at": "2026-11-23T08:00:20+08:00"})
    assert res.status_code == 200 and res.json()["id"] == run["id"]
    assert client.delete(f"/routes/emergency/{run['id']}").status_code == 204
    gone = client.delete(f"/routes/emergency/{run['id']}")
    assert gone.status_code == 404 and run["id"] in gone.json()["detail"]
    assert client.post(f"/routes/emergency/{run['id']}/position",
                       json={"lon": lon, "lat": lat}).status_code == 404
    assert client.get(f"/routes/emergency/{run['id']}").status_code == 404


def test_route_and_dispatch_and_coverage(client: TestClient) -> None:
    res = client.post("/routes", json={"origin": {"lon": 121.47, "lat": 31.23},
                                       "destination": INCIDENT})
    assert res.status_code == 200 and res.json()["eta_s"] > 0
    res = client.post("/dispatch", json={"incident": INCIDENT, "vehicle": "ambulance"})
    assert res.status_code == 200
    assert {s["station"][0] for s in res.json()["stations"]} == {"A"}
    cov = client.get("/coverage", params={"vehicle": "fire", "minutes": 5}).json()
    assert 0 < cov["with_green_wave"]["road_length_share"] <= 1
    what_if = client.get("/coverage", params={"minutes": 5, "remove": ["F1"]}).json()
    assert what_if["stations"] == cov["stations"] - 1
    iso = client.get("/isochrones", params={"station": "F1", "minutes": 3}).json()
    assert iso["type"] == "Feature" and iso["geometry"]["type"] in {"Polygon", "MultiPolygon"}


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("post", "/routes/emergency", {"origin": {"station": "F1"}, "destination": INCIDENT,
                                       "vehicle": "tank"}, 422),
        ("post", "/routes/emergency", {"origin": {"lon": 100.0, "lat": 20.0},
                                       "destination": INCIDENT}, 422),
        ("post", "/routes/emergency", {"origin": {"lon": 121.47}, "destination": INCIDENT}, 422),
        ("post", "/routes/emergency", {"origin": {"station": "nope"}, "destination": INCIDENT}, 404),
        ("post", "/routes/emergency", {"origin": {"lon": 999, "lat": 31}, "destination": INCIDENT}, 422),
        ("post", "/routes/emergency/fire-99999/position", {"lon": 121.47, "lat": 31.23}, 404),
        ("post", "/routes/emergency", {"origin": {"station": "F1"}, "destination": INCIDENT,
                                       "depart_at": "2026-11-25T08:00:00+08:00"}, 422),
        ("post", "/routes/emergency", {"origin": {"station": "F1"}, "destination": INCIDENT,
                                       "depart_at": "2026-11-23T07:54:00+08:00"}, 422),
        ("post", "/routes/emergency", {"origin": {"station": "F1"}, "destination": INCIDENT,
                                       "incident_id": "a b"}, 422),
        ("post", "/dispatch", {"incident": {}}, 422),
        ("get", "/coverage?minutes=0", None, 422),
        ("get", "/coverage?minutes=5&remove=XX", None, 404),
        ("get", "/coverage?minutes=5&close=99999999", None, 422),
        ("get", "/isochrones?station=F1&minutes=1000", None, 422),
        ("get", "/isochrones?station=ZZ&minutes=5", None, 404),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason(client: TestClient, method: str, path: str,
                                          payload: dict | None, status: int) -> None:
    res = client.post(path, json=payload) if method == "post" else client.get(path)
    assert res.status_code == status, res.text
    assert res.json()["detail"]
