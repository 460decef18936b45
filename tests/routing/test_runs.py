"""Emergency runs as shared state: several processes (City objects) on one bundle or one
PostGIS schema, restarts, the service's clock, position updates and the audit log."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import types
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely

from layers.postgis import PostgisEditLog
from routing.errors import InvalidDeparture, VehicleNotFound
from routing.greenwave import plan_green_wave
from routing.runs import MAX_AHEAD_S, MAX_PAST_S, RUN_RETENTION_S, RunBook, checked_time
from twin import City
from twin.audit import AuditLog
from twin.runs import EmergencyRuns, RunStore, run_log

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=TZ)
INCIDENT = {"lon": 121.484, "lat": 31.238}


class Clock:
    """A settable clock shared by the City objects of a test."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture()
def bundle(city: City, tmp_path: Path) -> Path:
    """A copy of the fixture city: runs logged here stay here."""
    copy = tmp_path / "core"
    shutil.copytree(city.bundle_dir, copy)
    return copy


def _open(bundle: Path, clock: Clock) -> City:
    city = City.load(bundle)
    city.runs.clock = clock
    return city


def test_departure_bounds_around_the_clock() -> None:
    assert checked_time(None, NOW, TZ) == NOW
    assert checked_time(NOW - dt.timedelta(seconds=MAX_PAST_S), NOW, TZ)
    assert checked_time(NOW + dt.timedelta(seconds=MAX_AHEAD_S), NOW, TZ)
    # a naive time is read in the city's zone
    assert checked_time(dt.datetime(2026, 11, 23, 9, 0), NOW, TZ) == NOW + dt.timedelta(hours=1)
    with pytest.raises(InvalidDeparture, match="before"):
        checked_time(NOW - dt.timedelta(seconds=MAX_PAST_S + 1), NOW, TZ)
    with pytest.raises(InvalidDeparture, match="after"):
        checked_time(NOW + dt.timedelta(seconds=MAX_AHEAD_S + 1), NOW, TZ)


def test_two_processes_share_runs_ids_and_windows(bundle: Path) -> None:
    clock = Clock()
    a, b = _open(bundle, clock), _open(bundle, clock)
    first = a.runs.create({"station": "F1"}, INCIDENT, incident_id="inc-1")
    assert first["id"] == "fire-1" and first["eta_s"] <= first["eta_without_priority_s"]
    assert first["depart_at"] == NOW.isoformat() and first["versions"]
    assert first["signals"][0]["green_start"].endswith("+08:00")
    # b sees a's run and its windows, and never reuses its id
    assert b.runs.get(first["id"])["signals"] == first["signals"]
    held = b.runs.held_signals()
    assert held["runs"] == 1 and len(held["signals"]) >= len(
        [s for s in first["signals"] if s["held"]]) > 0
    second = b.runs.create({"station": "F1"}, INCIDENT, incident_id="inc-1")
    assert second["id"] == "fire-2"
    # the same route on the same phases shares the greens: no conflict, counted together
    assert second["conflicts"] == []
    shared = a.runs.held_signals()["signals"]
    assert max(h["runs"] for h in shared) == 2 and max(h["incidents"] for h in shared) == 1
    # a position update through b, seen by a; an end through a, seen by b
    lon, lat = first["geometry"]["coordinates"][len(first["geometry"]["coordinates"]) // 2]
    clock.now = NOW + dt.timedelta(seconds=60)
    moved = b.runs.update_position(first["id"], lon, lat)
    assert moved["revision"] == 2 and moved["distance_m"] < first["distance_m"]
    assert a.runs.get(first["id"])["revision"] == 2
    a.runs.finish(first["id"])
    with pytest.raises(VehicleNotFound):
        b.runs.finish(first["id"])
    with pytest.raises(VehicleNotFound):
        b.runs.update_position(first["id"], lon, lat)
    assert [r["id"] for r in b.runs.active()] == [second["id"]]


def test_concurrent_creates_in_two_processes_never_share_an_id(bundle: Path) -> None:
    clock = Clock()
    cities = [_open(bundle, clock), _open(bundle, clock)]
    ids: list[str] = []
    lock = threading.Lock()

    def dispatch(city: City, n: int) -> None:
        for _ in range(n):
            run = city.runs.create({"station": "F1"}, INCIDENT)
            with lock:
                ids.append(run["id"])

    threads = [threading.Thread(target=dispatch, args=(c, 8)) for c in cities for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 32 and len(set(ids)) == 32
    assert sorted(int(i.split("-")[1]) for i in ids) == list(range(1, 33))
    assert len(cities[0].runs.active()) == len(cities[1].runs.active()) == 32


def test_a_restart_loses_no_run_and_runs_expire_by_the_clock(bundle: Path) -> None:
    clock = Clock()
    a = _open(bundle, clock)
    run = a.runs.create({"station": "F1"}, INCIDENT, vehicle="fire")
    ended = a.runs.create({"station": "F1"}, INCIDENT)
    a.runs.finish(ended["id"])
    # a new process replays the log: the active run is there, the finished one is not
    b = _open(bundle, clock)
    assert b.runs.get(run["id"])["signals"] == run["signals"]
    with pytest.raises(VehicleNotFound):
        b.runs.get(ended["id"])
    assert b.runs.create({"station": "F1"}, INCIDENT)["id"] == "fire-3"
    # a far-future departure is refused, and does not release the active runs
    with pytest.raises(InvalidDeparture):
        b.runs.create({"station": "F1"}, INCIDENT, depart_at=NOW + dt.timedelta(days=3))
    assert b.runs.get(run["id"])
    # the service's clock releases a run RUN_RETENTION_S after its ETA
    clock.now = NOW + dt.timedelta(seconds=run["eta_s"] + RUN_RETENTION_S - 1)
    assert b.runs.get(run["id"])
    clock.now += dt.timedelta(seconds=2)
    with pytest.raises(VehicleNotFound):
        a.runs.get(run["id"])
    held = _open(bundle, clock).runs.held_signals()  # fire-3 left with the same ETA
    assert (held["runs"], held["signals"]) == (0, [])


def test_a_later_run_yields_to_the_first_at_a_shared_junction(bundle: Path) -> None:
    """Find a run crossing the first run's junction on another phase, time it to arrive
    together: it waits or takes the normal plan there, says so, and is never slower."""
    clock = Clock()
    city = _open(bundle, clock)
    first = city.runs.create({"station": "F1"}, INCIDENT)
    windows = {s["id"]: s for s in first["signals"] if s["held"]}
    signals = city.layers["signals"].data
    service = city.routing
    engine = service.engine("fire")
    found = None
    net = service.network
    starts = [net.index(int(n)) for n in signals["node"]]
    for src in [i for i in starts if net.routable[i]][::3]:
        for sig in first["signals"]:
            path = engine.route(src, net.index(sig["id"]))
            probe = plan_green_wave(net, path, NOW.timestamp(), clock_s=8 * 3600.0)
            shared = [s for s in probe.signals
                      if s.node in windows and s.phase != windows[s.node]["phase"]]
            if shared:
                found = ({"node": int(net.node_ids[src])}, {"node": sig["id"]},
                         windows[shared[0].node]["arrival_s"] - shared[0].arrival_s)
                break
        if found:
            break
    assert found is not None, "some route crosses the first run on another phase"
    origin, target, shift = found
    when = NOW + dt.timedelta(seconds=shift)
    clock.now = min(NOW, when)
    second = city.runs.create(origin, target, depart_at=when)
    assert second["conflicts"] and all(first["id"] in c["with"] for c in second["conflicts"])
    assert second["eta_s"] <= second["eta_without_priority_s"]
    # the first run's windows are unchanged
    assert city.runs.get(first["id"])["signals"] == first["signals"]


def test_runs_are_audited_with_their_actors(bundle: Path) -> None:
    clock = Clock()
    a, b = _open(bundle, clock), _open(bundle, clock)
    run = a.runs.create({"station": "F1"}, INCIDENT, actor="dispatcher:aa11")
    lon, lat = run["geometry"]["coordinates"][2]
    b.runs.update_position(run["id"], lon, lat, actor="dispatcher:bb22")
    a.runs.finish(run["id"], actor="admin:cc33")
    entries = b.runs.audit.entries()
    assert [(e["action"], e["actor"], e["subject"]) for e in entries] == [
        ("run.create", "dispatcher:aa11", run["id"]), ("run.replan", "dispatcher:bb22", run["id"]),
        ("run.finish", "admin:cc33", run["id"])]
    assert entries[0]["detail"]["vehicle"] == "fire"
    assert b.runs.audit.entries(since=entries[-1]["time"]) == []
    # durable: a new process reads them back
    assert len(_open(bundle, clock).runs.audit.entries()) == 3


def test_run_book_replays_entries() -> None:
    book = RunBook()
    book.apply({"op": "finish", "id": "fire-9"})  # unknown: ignored
    assert book.next_id("fire") == "fire-1" and not book.runs


@pytest.mark.postgis
def test_runs_shared_through_postgis(postgis_url: str, city: City, tmp_path: Path) -> None:
    """Two processes' run stores on one PostGIS schema (the ``_edits`` table)."""
    from layers.postgis import connect

    engine = connect(postgis_url)
    place = types.SimpleNamespace(database_engine=engine, database_schema="runs_test",
                                  edits_dir=tmp_path)
    with engine.begin() as conn:
        conn.exec_driver_sql('DROP SCHEMA IF EXISTS "runs_test" CASCADE')
        conn.exec_driver_sql('CREATE SCHEMA "runs_test"')
    clock = Clock()

    def worker() -> EmergencyRuns:
        log = run_log(place)
        assert type(log).__name__ == "PostgisEditLog"
        audit = AuditLog(PostgisEditLog(engine, "runs_test", "_audit", write_through=False,
                                        key=lambda e: (e["id"], 1)))
        return EmergencyRuns(city, RunStore(log), audit, clock=clock)

    a, b = worker(), worker()
    ids = []
    threads = [threading.Thread(target=lambda w=w: ids.extend(
        w.create({"station": "F1"}, INCIDENT)["id"] for _ in range(4))) for w in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [f"fire-{i}" for i in range(1, 17)]
    b.finish(ids[0])
    with pytest.raises(VehicleNotFound):
        a.get(ids[0])
    assert a.get(ids[1])["id"] == ids[1]
    # a restart replays the table
    assert len(worker().active()) == 15
    assert not list(tmp_path.iterdir())  # nothing went to files
    assert [e["action"] for e in worker().audit.entries()].count("run.create") == 16
    engine.dispose()


def _along(coords: list, metres: float) -> tuple[float, float]:
    """The point ``metres`` along a lon/lat polyline (local metres, fine at city scale)."""
    line = shapely.LineString(coords)
    scale = (111_320.0 * np.cos(np.radians(line.centroid.y)), 110_540.0)
    local = shapely.transform(line, lambda c: c * scale)
    p = local.interpolate(min(metres, local.length))
    return p.x / scale[0], p.y / scale[1]


def test_noisy_fixes_keep_the_route_and_every_signal_ahead(bundle: Path) -> None:
    """Fixes every 5 s with 15 m noise are matched to the run's own route: no signal not
    yet passed drops out of the plan, and noise never re-routes the run."""
    clock = Clock()
    city = _open(bundle, clock)
    run = city.runs.create({"station": "F1"}, INCIDENT, depart_at=NOW)
    coords, first = run["geometry"]["coordinates"], run["route_nodes"]
    signals = [s["id"] for s in run["signals"]]
    rng = np.random.default_rng(3)
    sigma = 15 / np.sqrt(2)  # 15 m radial RMS
    speed = run["distance_m"] / run["eta_s"]
    for k in range(1, 8):
        at = NOW + dt.timedelta(seconds=5 * k)
        clock.now = at + dt.timedelta(seconds=1.5)  # the fix arrives 1.5 s late
        lon, lat = _along(coords, speed * 5 * k)
        lon += rng.normal(0, sigma) / 95_000
        lat += rng.normal(0, sigma) / 110_540
        run = city.runs.update_position(run["id"], lon, lat, at, accuracy_m=15)
        assert not run["history"][-1].get("rerouted")
        assert set(run["route_nodes"]) <= set(first)  # still the planned streets
        ahead = [s["id"] for s in run["signals"]]
        assert ahead == signals[len(signals) - len(ahead):]  # only passed ones dropped
    assert run["history"][-1]["progress_m"] > 0.5 * speed * 35


def test_a_real_turn_off_routes_again(bundle: Path) -> None:
    clock = Clock()
    city = _open(bundle, clock)
    run = city.runs.create({"station": "F1"}, INCIDENT, depart_at=NOW)
    coords = run["geometry"]["coordinates"]
    off_lon, off_lat = coords[0][0] + 0.004, coords[0][1] - 0.004  # ~550 m off the route
    for k in (1, 2):
        at = NOW + dt.timedelta(seconds=5 * k)
        clock.now = at
        run = city.runs.update_position(run["id"], off_lon, off_lat, at, accuracy_m=10)
    assert run["history"][-2].get("off_route") and run["history"][-1].get("rerouted")
