"""Green wave, dispatch, coverage and what-if on the embedded city."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from routing.errors import InvalidVehicle, PointTooFar, StationNotFound, VehicleNotFound
from routing.service import ENGINE_KEYS, LOCAL_TZ, RoutingService
from twin import City

DEPART = dt.datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ)
INCIDENT = {"lon": 121.484, "lat": 31.238}


@pytest.fixture(scope="module")
def runs(city: City, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The emergency runs of a copy of the fixture city, on a clock at :data:`DEPART`
    (sharing and the priority rule: ``test_runs.py``)."""
    copy = tmp_path_factory.mktemp("runs") / "core"
    shutil.copytree(city.bundle_dir, copy)
    runs = City.load(copy).runs
    runs.clock = lambda: DEPART
    return runs


def test_green_wave_plans_every_signal_on_the_route(city: City, runs) -> None:  # noqa: ANN001
    run = runs.create({"station": "F1"}, INCIDENT, depart_at=DEPART)
    assert run["signals"], "route crosses signalized intersections"
    signal_nodes = set(city.layers["signals"].data["node"])
    arrivals = [s["arrival_s"] for s in run["signals"]]
    assert arrivals == sorted(arrivals)
    for sig in run["signals"]:
        assert sig["id"] in signal_nodes
        assert sig["green_start_s"] < sig["arrival_s"] < sig["green_end_s"]
        assert sig["action"] in {"none", "extend", "early"}
        if sig["normal_wait_s"] > 0:
            assert sig["action"] != "none"
        assert sig["recovery_end_s"] > sig["green_end_s"]
    assert run["eta_s"] <= run["eta_without_priority_s"]
    assert run["eta_s"] < arrivals[-1] + 600
    runs.finish(run["id"])


def test_eta_without_priority_counts_red_waits(runs) -> None:  # noqa: ANN001
    run = runs.create({"station": "F1"}, INCIDENT, depart_at=DEPART)
    # up to the first signal both runs are identical; its red wait is the least extra time
    first = run["signals"][0]
    assert run["eta_without_priority_s"] >= run["eta_s"] + first["normal_wait_s"] - 0.1
    # a route through no red light at all would have equal ETAs
    assert run["eta_without_priority_s"] > run["eta_s"]
    runs.finish(run["id"])


def test_position_update_replans(runs) -> None:  # noqa: ANN001
    run = runs.create({"station": "F1"}, INCIDENT, depart_at=DEPART)
    coords = run["geometry"]["coordinates"]
    lon, lat = coords[len(coords) // 2]
    later = DEPART + dt.timedelta(seconds=run["eta_s"] / 2)
    again = runs.update_position(run["id"], lon, lat, later)
    assert again["id"] == run["id"] and again["revision"] == 2
    assert again["distance_m"] < run["distance_m"]
    assert again["eta_s"] < run["eta_s"]
    # the plan goes on from the junction before the matched position, reached before the fix
    assert dt.datetime.fromisoformat(again["depart_at"]) <= later
    (fix,) = again["history"]
    assert (fix["lon"], fix["lat"], fix["at"]) == (lon, lat, later.isoformat())
    assert not fix["off_route"] and fix["progress_m"] > 0.3 * run["distance_m"]
    runs.finish(run["id"])
    with pytest.raises(VehicleNotFound):
        runs.update_position(run["id"], lon, lat, later)


def test_dispatch_ranks_by_eta(city: City, runs) -> None:  # noqa: ANN001
    ranked = city.routing.dispatch(INCIDENT, vehicle="fire", depart_at=DEPART)
    etas = [r["eta_s"] for r in ranked]
    assert etas == sorted(etas) and len(ranked) == len(city.layers["fire_stations"].data)
    # honest ETAs: slower than cruising, never slower with priority than without
    assert all(r["cruise_s"] < r["eta_s"] <= r["eta_without_priority_s"] for r in ranked)
    best = ranked[0]["station"]
    direct = runs.create({"station": best}, INCIDENT, depart_at=DEPART)
    assert direct["eta_s"] == pytest.approx(ranked[0]["eta_s"], abs=0.2)
    assert direct["eta_without_priority_s"] == pytest.approx(
        ranked[0]["eta_without_priority_s"], abs=0.2)
    runs.finish(direct["id"])
    with pytest.raises(InvalidVehicle):
        city.routing.dispatch(INCIDENT, vehicle="tank")


def test_coverage_and_what_if(city: City) -> None:
    base = city.routing.coverage(minutes=3)
    more = city.routing.coverage(minutes=5)
    for key in ("road_length_share", "household_share"):
        assert 0 < base["with_green_wave"][key] <= more["with_green_wave"][key] <= 1
        assert base["without_green_wave"][key] <= base["with_green_wave"][key]
    fewer = city.routing.coverage(minutes=3, remove_stations=["F1"])
    assert fewer["with_green_wave"]["road_length_share"] < base["with_green_wave"][
        "road_length_share"]
    added = city.routing.coverage(minutes=3, add_stations=[(121.484, 31.238)])
    assert added["with_green_wave"]["road_length_share"] > base["with_green_wave"][
        "road_length_share"]
    roads = city.layers["roads"].data
    busiest = roads.index[roads["highway"].isin(["primary", "trunk"])]
    with city.scenario([{"layer": "roads", "id": str(fid), "properties": {"closed": True}}
                        for fid in busiest]) as what_if:
        closed = what_if.routing.coverage(minutes=3)
    assert closed["with_green_wave"]["road_length_share"] < base["with_green_wave"][
        "road_length_share"]
    # the what-if never touched the live city
    assert city.routing.coverage(minutes=3) == base
    with pytest.raises(StationNotFound):
        city.routing.coverage(remove_stations=["nope"])


def test_saved_hierarchies_are_used_when_they_match(city: City, tmp_path) -> None:  # noqa: ANN001
    saved = city.bundle_dir / "routing"
    assert sorted(p.name for p in saved.glob("*.npz")) == sorted(
        f"{v}-{'peak' if p else 'offpeak'}-{'gw' if g else 'nogw'}.npz" for v, p, g in ENGINE_KEYS)
    service = RoutingService(city.routing.network, city.routing.stations, hierarchy_dir=saved)
    engine = service.engine("fire")
    assert engine._hierarchy is not None, "loaded, not contracted on first use"
    assert engine._hierarchy.fingerprint == engine.fingerprint
    # a hierarchy of other weights is not used
    (tmp_path / "fire-offpeak-gw.npz").write_bytes((saved / "car-peak-gw.npz").read_bytes())
    other = RoutingService(city.routing.network, city.routing.stations, hierarchy_dir=tmp_path)
    assert other.engine("fire")._hierarchy is None
    a, b = (int(i) for i in city.routing.network._routable_idx[[0, -1]])
    assert other.engine("fire").route(a, b).duration_s == pytest.approx(engine.route(a, b).duration_s)


def test_an_address_known_only_at_city_level_is_not_a_destination(city: City) -> None:
    with pytest.raises(PointTooFar, match="only known at"):
        city.routing.dispatch({"address": "上海市富岩路121号"})
