"""The live twin over HTTP: edits reach every worker's models, scenarios are shared and
isolated, answers name their layer versions; with ``twin serve --workers 2`` and with two
servers sharing nothing but one PostGIS database."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api import create_app
from twin import City
from twin.database import write_city_layers
from twin.settings import Settings

A, B = {"lon": 121.4635, "lat": 31.2245}, {"lon": 121.4840, "lat": 31.2370}
ROLES = ("reader", "editor", "dispatcher", "planner", "admin")
KEY = {role: {"X-API-Key": f"k-{role}"} for role in ROLES}  # the conftest's test keys


def _road_on_route(c: City) -> int:
    routing = c.routing
    engine, _ = routing.engine_at("car")
    path = engine.route(routing.locate(A), routing.locate(B))
    return int(routing.network.road_ids[path.edges[len(path.edges) // 2]])


@pytest.fixture()
def live(private_city: City, test_keys: dict[str, str]) -> tuple[City, TestClient]:
    keys = {key: role for role, key in test_keys.items()}
    with TestClient(create_app(Settings(api_keys=keys), city=private_city)) as client:
        yield private_city, client


def test_scenarios_need_a_planner_key_and_answer_under_their_edits(live) -> None:  # noqa: ANN001
    c, client = live
    fid = _road_on_route(c)
    body = {"edits": [{"layer": "roads", "id": str(fid), "properties": {"closed": True}}]}
    assert client.post("/scenarios", json=body).status_code == 401
    assert client.post("/scenarios", json=body, headers=KEY["reader"]).status_code == 403
    assert client.post("/scenarios", json=body, headers=KEY["dispatcher"]).status_code == 403
    made = client.post("/scenarios", json=body, headers=KEY["planner"])
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    assert client.get(f"/scenarios/{sid}").json()["edits"] == body["edits"]
    live_route = client.post("/routes", json={"origin": A, "destination": B}).json()
    what_if = client.post(f"/routes?scenario={sid}", json={"origin": A, "destination": B}).json()
    assert what_if["versions"]["scenario"] == sid
    assert "scenario" not in live_route["versions"]
    assert what_if["eta_s"] >= live_route["eta_s"]
    cover = client.get(f"/coverage?minutes=3&scenario={sid}").json()
    assert cover["versions"]["scenario"] == sid
    assert client.post(f"/dispatch?scenario={sid}", json={"incident": B}).status_code == 200
    lookup = client.get(f"/schools/lookup?lon={B['lon']}&lat={B['lat']}&scenario={sid}")
    assert lookup.status_code == 200 and "versions" in lookup.json()
    run = client.post(f"/routes/emergency?scenario={sid}", headers=KEY["dispatcher"],
                      json={"origin": A, "destination": B})
    assert run.status_code == 400
    # the audit log names who made the scenario
    audit = client.get("/audit", headers=KEY["admin"]).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    assert any(e.get("subject") == sid and e.get("action") == "scenario.create" for e in entries)
    assert client.delete(f"/scenarios/{sid}").status_code == 401
    assert client.delete(f"/scenarios/{sid}", headers=KEY["planner"]).status_code == 204
    assert client.get(f"/scenarios/{sid}").status_code == 404
    assert client.post(f"/routes?scenario={sid}",
                       json={"origin": A, "destination": B}).status_code == 404
    assert c.layer_service.info("roads").version == 1


@pytest.mark.parametrize("edits", [
    [{"layer": "roads", "id": "no-such", "properties": {"closed": True}}],
    [{"layer": "nowhere", "id": "1"}],
    [{"layer": "roads", "id": "0", "op": "explode"}],
])
def test_bad_scenarios_get_422_with_the_reason(live, edits: list) -> None:  # noqa: ANN001
    _, client = live
    answer = client.post("/scenarios", json={"edits": edits}, headers=KEY["planner"])
    assert answer.status_code == 422
    assert answer.json()["detail"]


def test_coverage_close_is_a_one_shot_scenario(live) -> None:  # noqa: ANN001
    c, client = live
    fid = _road_on_route(c)
    before = client.get("/coverage?minutes=3").json()
    closed = client.get(f"/coverage?minutes=3&close={fid}").json()
    assert closed["versions"]["scenario"] == "local"
    assert closed["with_green_wave"]["road_length_share"] <= before["with_green_wave"]["road_length_share"]
    assert client.get("/coverage?minutes=3").json() == before
    assert client.get("/coverage?close=no-such-road").status_code == 422


def test_a_road_edit_over_http_reaches_routes_at_once(live) -> None:  # noqa: ANN001
    c, client = live
    fid = _road_on_route(c)
    bad = client.patch(f"/layers/roads/features/{fid}?version=1", headers=KEY["editor"],
                       json={"properties": {"closed": True, "closed_from": "soon"}})
    assert bad.status_code == 422 and "closed_from" in bad.json()["detail"]
    ok = client.patch(f"/layers/roads/features/{fid}?version=1", headers=KEY["editor"],
                      json={"properties": {"closed": True}})
    assert ok.status_code == 200
    route = client.post("/routes", json={"origin": A, "destination": B}).json()
    assert route["versions"]["roads"] == 2
    health = client.get("/health").json()
    assert health["live"]["models"]["routing"]["versions"]["roads"] == 2
    assert health["event_loop"]["ticks"] >= 0


def _fresh(url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a new connection (so the kernel may hand it to any worker)."""
    with httpx.Client(base_url=url, timeout=30) as one:
        return one.request(method, path, **kwargs)


def _wait_all_workers(url: str, check: object, seconds: float = 1.0) -> float:
    """Seconds until ``check(answer)`` holds for 12 fresh requests in a row, else fail."""
    started = time.perf_counter()
    ok = 0
    while ok < 12:
        answer = _fresh(url, "POST", "/routes", json={"origin": A, "destination": B}).json()
        ok = ok + 1 if check(answer) else 0
        assert time.perf_counter() - started < seconds + 2.0, answer
    return time.perf_counter() - started


@pytest.mark.slow
def test_two_workers_share_edits_and_scenarios(private_city: City, twin_server) -> None:  # noqa: ANN001
    bundle = private_city.bundle_dir
    fid = _road_on_route(private_city)
    with twin_server(bundle=bundle, workers=2) as url:
        pids = {_fresh(url, "GET", "/health").json()["worker"] for _ in range(20)}
        assert len(pids) == 2
        edit = _fresh(url, "PATCH", f"/layers/roads/features/{fid}?version=1",
                      headers=KEY["editor"], json={"properties": {"closed": True}})
        assert edit.status_code == 200
        _wait_all_workers(url, lambda r: r["versions"]["roads"] == 2)
        made = _fresh(url, "POST", "/scenarios", headers=KEY["planner"],
                      json={"edits": [{"layer": "roads", "id": str(fid),
                                       "properties": {"closed": False}}]}).json()
        answers = [_fresh(url, "POST", f"/routes?scenario={made['id']}",
                          json={"origin": A, "destination": B}) for _ in range(10)]
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["versions"]["scenario"] for a in answers} == {made["id"]}
        # concurrent live and scenario requests: each answer under its own state only
        with ThreadPoolExecutor(8) as pool:
            live_etas = set(pool.map(lambda _: _fresh(url, "POST", "/routes", json={
                "origin": A, "destination": B}).json()["eta_s"], range(16)))
            what_if = set(pool.map(lambda _: _fresh(url, "POST", f"/routes?scenario={made['id']}",
                                                    json={"origin": A, "destination": B}
                                                    ).json()["eta_s"], range(16)))
        assert len(live_etas) == 1 and len(what_if) == 1


@pytest.mark.postgis
@pytest.mark.slow
def test_two_hosts_on_one_database_see_each_others_edits(city: City, postgis_url: str,
                                                          twin_server) -> None:  # noqa: ANN001
    name = f"hosts_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgis_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = postgis_url.rsplit("/", 1)[0] + f"/{name}"
    write_city_layers(url, city.name, city.layers, schema="twin")
    fid = _road_on_route(city)
    with twin_server(database_url=url, workers=1) as one, \
            twin_server(database_url=url, workers=1) as two:
        edit = _fresh(one, "PATCH", f"/layers/roads/features/{fid}?version=1",
                      headers=KEY["editor"], json={"properties": {"closed": True}})
        assert edit.status_code == 200, edit.text
        took = _wait_all_workers(two, lambda r: r["versions"]["roads"] == 2)
        assert took < 1.5
        made = _fresh(two, "POST", "/scenarios", headers=KEY["planner"], json={
            "edits": [{"layer": "roads", "id": str(fid), "properties": {"closed": False}}]})
        assert made.status_code == 201
        seen = _fresh(one, "GET", f"/scenarios/{made.json()['id']}")
        assert seen.status_code == 200
