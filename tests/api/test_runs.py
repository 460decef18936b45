"""Emergency runs over HTTP: roles, the held signals, the audit log, and one shared state
behind ``twin serve --workers 2``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from twin import City, Settings

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime.fromisoformat("2026-11-23T23:58:00+08:00")  # runs straddle midnight
INCIDENT = {"lon": 121.484, "lat": 31.238}
KEYS = {f"k-{role}": role for role in ("reader", "editor", "dispatcher", "planner", "admin")}
BODY = {"origin": {"station": "F1"}, "destination": INCIDENT, "incident_id": "fire-0815"}


def _key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.fixture(scope="module")
def bundle(city: City, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("runs-api") / "core"
    shutil.copytree(city.bundle_dir, copy)
    return copy


@pytest.fixture(scope="module")
def client(bundle: Path) -> Iterator[TestClient]:
    twin = City.load(bundle)
    twin.runs.clock = lambda: NOW
    app = create_app(Settings(api_keys=KEYS), city=twin)
    with TestClient(app) as c:
        yield c


def test_run_writes_need_a_dispatcher_or_admin_key(client: TestClient) -> None:
    assert client.post("/routes/emergency", json=BODY).status_code == 401
    for key in ("k-reader", "k-editor", "k-planner"):
        res = client.post("/routes/emergency", json=BODY, headers=_key(key))
        assert res.status_code == 403 and "dispatcher" in res.json()["detail"]
    res = client.post("/routes/emergency", json=BODY, headers=_key("k-dispatcher"))
    assert res.status_code == 200, res.text
    run = res.json()
    assert run["incident_id"] == "fire-0815" and run["eta_s"] <= run["eta_without_priority_s"]
    path = f"/routes/emergency/{run['id']}"
    lon, lat = run["geometry"]["coordinates"][2]
    for method, url, body in (("post", path + "/position", {"lon": lon, "lat": lat}),
                              ("delete", path, None), ("get", path, None)):
        assert client.request(method, url, json=body).status_code == 401
        assert client.request(method, url, json=body, headers=_key("k-editor")).status_code == 403
    assert client.get(path, headers=_key("k-admin")).json()["id"] == run["id"]
    moved = client.post(path + "/position", json={"lon": lon, "lat": lat},
                        headers=_key("k-dispatcher"))
    assert moved.status_code == 200 and moved.json()["revision"] == 2
    assert client.delete(path, headers=_key("k-admin")).status_code == 204
    assert client.delete(path, headers=_key("k-dispatcher")).status_code == 404


def test_departures_are_bounded_by_the_service_clock(client: TestClient) -> None:
    for depart in ("2026-11-25T00:00:00+08:00", "2026-11-23T23:50:00+08:00"):
        res = client.post("/routes/emergency", json={**BODY, "depart_at": depart},
                          headers=_key("k-dispatcher"))
        assert res.status_code == 422 and "service's clock" in res.json()["detail"]


def test_held_signals_are_public_and_show_no_vehicles(client: TestClient) -> None:
    runs = [client.post("/routes/emergency", json={**BODY, "depart_at": at},
                        headers=_key("k-dispatcher")).json()
            for at in ("2026-11-23T23:58:00+08:00", "2026-11-23T23:59:55+08:00")]
    held = client.get("/routes/emergency")
    assert held.status_code == 200
    body = held.json()
    assert body["runs"] >= 2 and body["signals"]
    for sig in body["signals"]:
        assert set(sig) == {"id", "lon", "lat", "phase", "start", "end", "runs", "incidents"}
        assert dt.datetime.fromisoformat(sig["start"]) <= dt.datetime.fromisoformat(sig["end"])
    # the second run's windows are after midnight, the same junctions, one incident
    assert any(s["start"].startswith("2026-11-24") for s in body["signals"])
    assert "geometry" not in json.dumps(body) and runs[0]["id"] not in json.dumps(body)
    for run in runs:
        client.delete(f"/routes/emergency/{run['id']}", headers=_key("k-dispatcher"))


def test_the_audit_log_names_actors_by_key_hash(client: TestClient) -> None:
    run = client.post("/routes/emergency", json=BODY, headers=_key("k-dispatcher")).json()
    client.delete(f"/routes/emergency/{run['id']}", headers=_key("k-admin"))
    assert client.get("/audit").status_code == 401
    assert client.get("/audit", headers=_key("k-dispatcher")).status_code == 403
    entries = client.get("/audit", headers=_key("k-admin")).json()["entries"]
    mine = [e for e in entries if e["subject"] == run["id"]]
    assert [e["action"] for e in mine] == ["run.create", "run.finish"]
    assert mine[0]["actor"].startswith("dispatcher:") and mine[1]["actor"].startswith("admin:")
    text = json.dumps(entries)
    assert all(key not in text for key in KEYS)
    assert client.get("/audit", params={"since": "soon"}, headers=_key("k-admin")).status_code == 400


# -- twin serve --workers 2 ---------------------------------------------------------------
@pytest.fixture(scope="module")
def two_workers(bundle: Path, twin_server) -> Iterator[str]:  # noqa: ANN001
    """``twin serve --workers 2`` on the copy (the conftest's keys); its base URL."""
    with twin_server(bundle=bundle, workers=2) as url:
        yield url


def _fresh(method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request on its own connection (the kernel spreads connections over workers)."""
    with httpx.Client(timeout=60, headers={"Connection": "close"}) as c:
        return c.request(method, url, **kwargs)


def test_two_workers_share_one_set_of_runs(two_workers: str) -> None:
    url = two_workers + "/routes/emergency"
    body = {"origin": {"station": "F1"}, "destination": INCIDENT}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _fresh("post", url, json=body,
                                                 headers=_key("k-dispatcher")), range(16)))
    assert [a.status_code for a in answers] == [200] * 16, answers[0].text
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 16
    # any worker answers any run, and ends it once
    for run_id in ids:
        assert _fresh("get", f"{url}/{run_id}", headers=_key("k-dispatcher")).status_code == 200
    held = _fresh("get", url).json()
    assert held["runs"] >= 16
    for run_id in ids:
        assert _fresh("delete", f"{url}/{run_id}", headers=_key("k-dispatcher")).status_code == 204
    for run_id in ids:
        assert _fresh("delete", f"{url}/{run_id}", headers=_key("k-dispatcher")).status_code == 404
        assert _fresh("post", f"{url}/{run_id}/position", json=INCIDENT,
                      headers=_key("k-dispatcher")).status_code == 404
    assert _fresh("delete", f"{url}/{ids[0]}").status_code == 401
