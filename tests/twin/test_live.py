"""Edits to the layers drive every model: routing, dispatch, coverage, schools, bikes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from layers.errors import InvalidFeature
from routing.errors import Unreachable
from twin import City
from twin.road_state import street_features

SH = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture()
def bundle(private_city: City) -> Path:
    """A private copy of the fast fixture city (edits stay in the test's directory)."""
    return private_city.bundle_dir


def _busy_road(c: City) -> tuple[int, dict, dict]:
    """A road feature on the fastest route across the fixture city, and the route's ends."""
    a, b = {"lon": 121.4635, "lat": 31.2245}, {"lon": 121.4840, "lat": 31.2370}
    route = c.routing.route(a, b)
    engine, _ = c.routing.engine_at("car")
    path = engine.route(c.routing.locate(a), c.routing.locate(b))
    edge = path.edges[len(path.edges) // 2]
    assert route["eta_s"] > 0
    return int(c.routing.network.road_ids[edge]), a, b


def _close(c: City, fid: int, **props: object) -> None:
    version = c.layer_service.feature("roads", str(fid))["properties"]["_version"]
    c.layer_service.update("roads", str(fid), {"properties": {"closed": True, **props}},
                           version=version)


def test_a_road_closure_changes_the_next_route_and_names_the_version(bundle: Path) -> None:
    c = City.load(bundle)
    fid, a, b = _busy_road(c)
    before = c.routing.route(a, b)
    old_service = c.routing
    _close(c, fid)
    after = c.routing.route(a, b)
    assert after["versions"]["roads"] == before["versions"]["roads"] + 1
    engine, _ = c.routing.engine_at("car")
    edges = engine.route(c.routing.locate(a), c.routing.locate(b)).edges
    assert fid not in c.routing.network.road_ids[edges]
    assert after["eta_s"] >= before["eta_s"]
    # the service a request held before the edit still answers as before (copy-on-write)
    assert old_service.route(a, b)["eta_s"] == before["eta_s"]
    # as-of reads of the layer still show the road open before the edit
    past = c.layer_service.changes("roads")[-1].time
    earlier = (dt.datetime.fromisoformat(past) - dt.timedelta(seconds=1)).isoformat()
    assert not bool(c.layer_service.data("roads", as_of=earlier).loc[fid, "closed"])


def test_a_roadworks_window_closes_the_road_only_inside_it(bundle: Path) -> None:
    c = City.load(bundle)
    fid, a, b = _busy_road(c)
    start = dt.datetime(2026, 12, 1, 0, 0, tzinfo=SH)
    _close(c, fid, closed_from=start.isoformat(),
           closed_until=(start + dt.timedelta(days=30)).isoformat())
    routing = c.routing

    def uses_road(when: dt.datetime) -> bool:
        engine, _ = routing.engine_at("car", depart_at=when)
        path = engine.route(routing.locate(a), routing.locate(b))
        return fid in routing.network.road_ids[path.edges]

    assert uses_road(start - dt.timedelta(hours=1))
    assert not uses_road(start + dt.timedelta(days=3, hours=10))
    assert uses_road(start + dt.timedelta(days=31))


@pytest.mark.parametrize("props", [
    {"closed_from": "2026-12-01T08:00:00"},  # no UTC offset
    {"closed_from": "next monday"},
    {"closed_from": "2026-12-02T08:00:00+08:00", "closed_until": "2026-12-01T08:00:00+08:00"},
    {"maxspeed": "fast"},
    {"lanes": 0},
])
def test_bad_road_edits_are_refused_and_nothing_is_written(bundle: Path, props: dict) -> None:
    c = City.load(bundle)
    fid = int(c.layers["roads"].data.index[0])
    version = c.layer_service.info("roads").version
    with pytest.raises(InvalidFeature):
        c.layer_service.update("roads", str(fid), {"properties": props}, version=1)
    assert c.layer_service.info("roads").version == version


def test_speed_and_one_way_edits_reach_the_engines(bundle: Path) -> None:
    c = City.load(bundle)
    fid, a, b = _busy_road(c)
    network = c.routing.network
    edge = int(np.flatnonzero(network.road_ids == fid)[0])
    c.layer_service.update("roads", str(fid), {"properties": {"maxspeed": "5"}}, version=1)
    assert c.routing.network.speed_kph[edge] == 5.0
    engine, _ = c.routing.engine_at("car")
    assert engine.weights[edge] > network.length[edge] / (6 / 3.6)
    # one-way on a two-way street closes the opposite direction of the same way
    roads = c.layers["roads"].data
    key = {(u, v, w): f for f, u, v, w in zip(roads.index, roads["u"], roads["v"],
                                              roads["osmid"], strict=True)}
    forward, backward = next((f, key[(v, u, w)]) for (u, v, w), f in key.items()
                             if u != v and (v, u, w) in key and f != fid and key[(v, u, w)] != fid)
    c.layer_service.update("roads", str(forward), {"properties": {"oneway": True}}, version=1)
    back_edge = int(np.flatnonzero(c.routing.network.road_ids == backward)[0])
    assert c.routing.network.closed[back_edge]
    fwd_edge = int(np.flatnonzero(c.routing.network.road_ids == forward)[0])
    assert not c.routing.network.closed[fwd_edge]


def test_signal_plan_edits_change_normal_traffic_delays(bundle: Path) -> None:
    c = City.load(bundle)
    signals = c.layers["signals"].data
    fid = int(signals.index[0])
    node = c.routing.network.index(int(signals.loc[fid, "node"]))
    into = np.flatnonzero(c.routing.network.edge_v == node)
    engine, _ = c.routing.engine_at("car")
    before = engine.weights[into].copy()
    cycle = float(signals.loc[fid, "cycle_s"])
    c.layer_service.update("signals", str(fid), {"properties": {"cycle_s": cycle * 2}}, version=1)
    engine, _ = c.routing.engine_at("car")
    assert c.routing.versions["signals"] == 2
    assert (engine.weights[into] > before).any()


def test_station_edits_reach_dispatch_and_coverage(bundle: Path) -> None:
    c = City.load(bundle)
    stations = c.layers["fire_stations"].data
    incident = {"lon": float(stations.geometry.iloc[0].x) + 0.001,
                "lat": float(stations.geometry.iloc[0].y)}
    first = c.routing.dispatch(incident)[0]
    cover = c.routing.coverage(minutes=3)
    fid = int(stations.index[stations["id"] == first["station"]][0])
    c.layer_service.update("fire_stations", str(fid), {"properties": {"vehicles": 0}}, version=1)
    ranked = c.routing.dispatch(incident)
    assert first["station"] not in [r["station"] for r in ranked]
    assert c.routing.coverage(minutes=3)["stations"] == cover["stations"] - 1
    new = c.layer_service.create("fire_stations", {
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [incident["lon"], incident["lat"]]},
        "properties": {"id": "F-new", "name": "新站", "kind": "fire", "vehicles": 2}})
    assert new.fid is not None
    assert c.routing.dispatch(incident)[0]["station"] == "F-new"


def test_school_capacity_and_closure_reach_the_assignment(bundle: Path) -> None:
    c = City.load(bundle)
    table = c.schools.schools_table("primary")
    busiest = table.sort_values("assigned", ascending=False).iloc[0]
    schools = c.layers["schools"].data
    fid = int(schools.index[schools["id"] == busiest["id"]][0])
    gap = c.schools.shortfall("primary")
    c.layer_service.update("schools", str(fid), {"properties": {"capacity": 1}}, version=1)
    after = c.schools.schools_table("primary")
    assert int(after.loc[after["id"] == busiest["id"], "assigned"].iloc[0]) <= 1
    assert c.schools.versions["schools"] == 2
    assert c.schools.shortfall("primary")["places"] < gap["places"]
    c.layer_service.delete("schools", str(fid), version=2)
    assert busiest["id"] not in set(c.schools.schools_table("primary")["id"])


def test_a_removed_fence_cuts_its_cells_quota(bundle: Path) -> None:
    c = City.load(bundle)
    fences = c.layers["bike_fences"].data
    fid = int(fences.index[0])
    cell, capacity = fences.loc[fid, "h3"], int(fences.loc[fid, "capacity"])
    quotas = c.bikes.quotas(res=9).set_index("h3")["quota"]
    c.layer_service.delete("bike_fences", str(fid), version=1)
    cut = c.bikes.quotas(res=9).set_index("h3")["quota"]
    assert cut[cell] == max(0, quotas[cell] - capacity)
    assert c.bikes.versions["bike_fences"] == 2
    assert fid not in c.bikes.fences(res=9).index


def test_an_edit_through_one_worker_reaches_another(bundle: Path) -> None:
    a, b = City.load(bundle), City.load(bundle)
    fid, start, end = _busy_road(a)
    b.routing  # noqa: B018 - b derives its routing model now
    b.live.start(interval=0.05)
    try:
        _close(a, fid)
        version = a.routing.versions["roads"]
        deadline = dt.datetime.now() + dt.timedelta(seconds=1)
        while b.routing.versions["roads"] != version and dt.datetime.now() < deadline:
            pass
        assert b.routing.versions["roads"] == version
        assert b.live.status()["models"]["routing"]["versions"]["roads"] == version
        engine, _ = b.routing.engine_at("car")
        path = engine.route(b.routing.locate(start), b.routing.locate(end))
        assert fid not in b.routing.network.road_ids[path.edges]
    finally:
        b.live.stop()


def test_street_features_takes_both_directions(city: City) -> None:
    roads = city.layers["roads"].data
    name = roads["name"].dropna().value_counts().index[0]
    fids = street_features(roads, name)
    named = roads.loc[fids]
    assert set(named["name"]) == {name}
    two_way = named[~named["oneway"].astype(bool)]
    if len(two_way):
        pairs = set(zip(two_way["u"], two_way["v"], strict=True))
        assert any((v, u) in pairs for u, v in pairs)


def test_closing_every_way_out_makes_the_station_unreachable(bundle: Path) -> None:
    c = City.load(bundle)
    station = c.layers["fire_stations"].data.iloc[0]
    node = c.routing.station_node(station["id"])
    out = np.flatnonzero(c.routing.network.edge_u == node)
    for edge in out:
        _close(c, int(c.routing.network.road_ids[edge]))
    with pytest.raises(Unreachable):
        c.routing.route({"station": station["id"]}, {"lon": 121.475, "lat": 31.232})
