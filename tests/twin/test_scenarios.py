"""What-if scenarios: answers under a set of edits, the live city untouched, even when
scenarios and live requests run at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from routing.errors import Unreachable
from twin import City
from twin.errors import InvalidScenario, ScenarioNotFound
from twin.scenarios import scenario_for, store_scenario


@pytest.fixture()
def bundle(private_city: City) -> Path:
    """A private copy of the fast fixture city (edits stay in the test's directory)."""
    return private_city.bundle_dir


def _route_edges(service, a: dict, b: dict) -> set[int]:  # noqa: ANN001
    engine, _ = service.engine_at("car")
    path = engine.route(service.locate(a), service.locate(b))
    return set(service.network.road_ids[path.edges].tolist())


def _ends(c: City) -> tuple[dict, dict]:
    """Two points across the fixture city (about 2.4 km apart)."""
    return {"lon": 121.4635, "lat": 31.2245}, {"lon": 121.4840, "lat": 31.2370}


def test_a_scenario_answers_under_its_edits_and_leaves_the_live_city(bundle: Path) -> None:
    c = City.load(bundle)
    a, b = _ends(c)
    used = sorted(_route_edges(c.routing, a, b))
    closed = used[len(used) // 2]
    station = c.layers["fire_stations"].data["id"].iloc[1]
    edits = [{"layer": "roads", "id": str(closed), "properties": {"closed": True}},
             {"layer": "fire_stations", "id": station, "op": "delete"}]
    live_cover = c.routing.coverage(minutes=4)
    with c.scenario(edits) as s:
        assert closed not in _route_edges(s.routing, a, b)
        cover = s.routing.coverage(minutes=4)
        assert cover["stations"] == live_cover["stations"] - 1
        assert s.routing.versions["scenario"] == "local"
        assert station not in [r["station"] for r in s.routing.dispatch(b, limit=50)]
    assert closed in _route_edges(c.routing, a, b)
    assert c.routing.coverage(minutes=4) == live_cover
    assert c.layer_service.info("roads").version == 1
    assert not bool(c.layers["roads"].data.loc[closed, "closed"])


def test_created_stations_and_schools_count_in_the_scenario(bundle: Path) -> None:
    c = City.load(bundle)
    point = {"type": "Point", "coordinates": [121.4835, 31.2215]}  # far from F1 and F2
    edits = [{"layer": "fire_stations", "op": "create",
              "feature": {"type": "Feature", "geometry": point, "properties": {"vehicles": 3}}},
             {"layer": "schools", "op": "create", "feature": {
                 "type": "Feature", "geometry": point,
                 "properties": {"id": "S-new", "name": "新小学", "level": "primary",
                                "capacity": 900}}}]
    s = c.scenario(edits)
    ranked = s.routing.dispatch({"lon": 121.4836, "lat": 31.2216})
    assert ranked[0]["station"].startswith("F-new")
    assert "S-new" in set(s.schools.schools_table("primary")["id"])
    assert "S-new" not in set(c.schools.schools_table("primary")["id"])


@pytest.mark.parametrize("edits", [
    [],
    "close everything",
    [{"layer": "nowhere", "id": "1", "properties": {}}],
    [{"layer": "roads", "id": "no-such-road", "properties": {"closed": True}}],
    [{"layer": "roads", "id": "0", "op": "rename"}],
    [{"layer": "roads", "properties": {"closed": True}}],
    [{"layer": "fire_stations", "op": "create"}],
])
def test_malformed_scenarios_are_refused(city: City, edits: object) -> None:
    with pytest.raises(InvalidScenario):
        city.scenario(edits)  # type: ignore[arg-type]


def test_a_bad_property_in_a_scenario_is_refused_with_the_layer_reason(city: City) -> None:
    fid = str(city.layers["roads"].data.index[0])
    with pytest.raises(InvalidScenario, match="closed_from"):
        city.scenario([{"layer": "roads", "id": fid,
                        "properties": {"closed": True, "closed_from": "tomorrow"}}])


def test_stored_scenarios_are_shared_by_every_worker_and_expire(bundle: Path) -> None:
    a, b = City.load(bundle), City.load(bundle)
    start, end = _ends(a)
    used = sorted(_route_edges(a.routing, start, end))
    closed = used[len(used) // 2]
    record = store_scenario(a, [{"layer": "roads", "id": str(closed),
                                 "properties": {"closed": True}}], created_by="planner:test")
    seen = scenario_for(b, record["id"])
    assert closed not in _route_edges(seen.routing, start, end)
    assert seen.routing.versions["scenario"] == record["id"]
    assert closed in _route_edges(b.routing, start, end)
    b.scenarios.delete(record["id"])
    with pytest.raises(ScenarioNotFound):
        a.scenarios.get(record["id"])
    with pytest.raises(ScenarioNotFound):
        scenario_for(a, "../../etc/passwd")


def test_concurrent_scenarios_and_live_requests_never_see_each_other(bundle: Path) -> None:
    c = City.load(bundle)
    start, end = _ends(c)
    used = sorted(_route_edges(c.routing, start, end))
    live_eta = c.routing.route(start, end)["eta_s"]
    expected: dict[str, float] = {}
    for fid in used[1:-1]:
        sid = store_scenario(c, [{"layer": "roads", "id": str(fid),
                                  "properties": {"closed": True}}])["id"]
        try:
            expected[sid] = scenario_for(c, sid).routing.route(start, end)["eta_s"]
        except Unreachable:  # the closed road was the only way: a scenario of its own
            continue
        if len(expected) == 4:
            break
    scenarios = list(expected)
    errors: list[str] = []

    def live() -> None:
        for _ in range(40):
            eta = c.routing.route(start, end)["eta_s"]
            if eta != live_eta:
                errors.append(f"live saw {eta}, not {live_eta}")

    def what_if(sid: str) -> None:
        for _ in range(10):
            eta = scenario_for(c, sid).routing.route(start, end)["eta_s"]
            if eta != expected[sid]:
                errors.append(f"{sid} saw {eta}, not {expected[sid]}")

    threads = [threading.Thread(target=live) for _ in range(3)]
    threads += [threading.Thread(target=what_if, args=(sid,)) for sid in scenarios]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert any(eta > live_eta for eta in expected.values())
