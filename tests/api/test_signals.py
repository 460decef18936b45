"""The controller interface: ``GET /signals/requests`` and its event stream, from the
windows the shared emergency runs hold."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from api import create_app
from twin import City
from twin.settings import Settings

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
INCIDENT = {"lon": 121.484, "lat": 31.238}


@pytest.fixture()
def client(private_city: City, test_keys: dict[str, str]) -> TestClient:
    private_city.runs.clock = lambda: NOW
    keys = {key: role for role, key in test_keys.items()}
    with TestClient(create_app(Settings(api_keys=keys), city=private_city)) as c:
        yield c


def test_requests_follow_the_runs_under_controller_limits(client: TestClient,
                                                          test_keys: dict[str, str]) -> None:
    assert client.get("/signals/requests").json()["requests"] == []
    run = client.post("/routes/emergency", headers={"X-API-Key": test_keys["dispatcher"]},
                      json={"origin": {"station": "F1"}, "destination": INCIDENT}).json()
    answer = client.get("/signals/requests").json()
    requests = answer["requests"]
    signals = {s["id"] for s in run["signals"]}
    assert requests and {r["junction"] for r in requests} <= signals
    for r in requests:
        assert r["runs"] == [run["id"]]
        start, end = (dt.datetime.fromisoformat(r["window"][k]) for k in ("start", "end"))
        assert start < end and start.tzinfo is not None
        assert r["action"] in {"none", "extend", "early", "pending", "short_cycle"}
        if r["hold_limit"] is not None:  # a green is never held past the pre-emption limit
            assert dt.datetime.fromisoformat(r["green"]["end"]) <= \
                dt.datetime.fromisoformat(r["hold_limit"])
        for cut in r["cut"]:  # a cut phase keeps its minimum service (a delayed one all of it)
            if cut["how"] == "delayed":
                assert cut["green_s"] is None and cut["normal_green_s"] > 0
                continue
            assert cut["green_s"] >= min(cut["min_service_s"], cut["normal_green_s"]) - 0.01
    client.delete(f"/routes/emergency/{run['id']}",
                  headers={"X-API-Key": test_keys["dispatcher"]})
    # an ended run announces nothing more: only requests already taken over may recover
    left = client.get("/signals/requests").json()["requests"]
    assert all(r["takeover_at"] is not None for r in left)


def test_the_stream_sends_a_snapshot_then_changes(client: TestClient, private_city: City) -> None:
    events: list[tuple[str, object]] = []
    with client.stream("GET", "/signals/requests/stream?interval=0.2") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind:
                events.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "snapshot":
                    private_city.runs.create({"station": "F1"}, INCIDENT, actor="test")
                elif kind == "added":
                    break
            if len(events) > 50:
                break
    assert events[0] == ("snapshot", [])
    assert events[-1][0] == "added" and events[-1][1]["runs"]
