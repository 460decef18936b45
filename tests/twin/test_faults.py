"""Faults against PostGIS: edits stored in the database, concurrent writers, and a server
crash in the middle of requests (503 while down, reconnects by itself, no accepted write lost).

Each test module run starts its own throwaway cluster, because the tests stop it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api import create_app
from layers.errors import StoreUnavailable, VersionConflict
from layers.postgis import connect
from layers.registry import Layer, LayerRegistry
from layers.tiles import TMS
from twin import City, Settings
from twin.database import write_city_layers

pytestmark = pytest.mark.postgis

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "pgtest.sh"
SCHEMA = "faults"
KEY = {"X-API-Key": "fault-editor"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, str]]:
    """(url, directory) of a cluster these tests may stop and start."""
    pgdir = tempfile.mkdtemp(prefix="citytwin-faults.")
    started = subprocess.run([str(SCRIPT), "start", pgdir], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail(f"cannot start a PostGIS test cluster: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1], pgdir
    finally:
        subprocess.run([str(SCRIPT), "stop", pgdir], capture_output=True)


@pytest.fixture()
def pg_url(cluster: tuple[str, str], city: City) -> str:
    """A fresh ``faults`` schema with a few layers (and no edits)."""
    url = cluster[0]
    subset = LayerRegistry()
    for name in ("pois", "fire_stations"):
        layer = city.layers[name]
        subset.put(Layer(info=dataclasses.replace(layer.info), data=layer.data.copy()))
    write_city_layers(url, city.name, subset, schema=SCHEMA)
    return url


def _open(url: str, tmp_path: Path) -> City:
    return City.from_postgis(url, schema=SCHEMA, cache_dir=tmp_path / "cache")


def _poi(i: int) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.47 + i * 1e-5, 31.23]},
            "properties": {"name": f"故障测试{i}", "shop": "bakery"}}


def _stored_edits(url: str) -> list[tuple[str, int]]:
    engine = connect(url, create_extension=False)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                f"SELECT fid, feature_version FROM {SCHEMA}._edits ORDER BY seq")).all()]
    finally:
        engine.dispose()


def test_edits_live_in_postgis_not_on_local_disk(pg_url: str, tmp_path: Path) -> None:
    first = _open(pg_url, tmp_path)
    change = first.layer_service.create("pois", _poi(1))
    first.layer_service.update("pois", str(change.fid), {"properties": {"name": "改名"}}, version=1)
    assert _stored_edits(pg_url) == [(str(change.fid), 1), (str(change.fid), 2)]
    assert not list(tmp_path.rglob("*.jsonl"))
    # another process (a fresh City) replays them from the database
    second = _open(pg_url, tmp_path / "other")
    feature = second.layer_service.feature("pois", str(change.fid))
    assert feature["properties"]["name"] == "改名" and feature["properties"]["_version"] == 2
    assert [c.op for c in second.layer_service.changes("pois")] == ["create", "update"]
    # and an edit through the second is seen by the first at its next read
    second.layer_service.delete("pois", str(change.fid), version=2)
    assert [c.op for c in first.layer_service.changes("pois")] == ["create", "update", "delete"]


def _table_row(url: str, fid: str) -> tuple | None:
    engine = connect(url, create_extension=False)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                f"SELECT name, ST_X(geometry), ST_Y(geometry) FROM {SCHEMA}.pois"
                " WHERE CAST(fid AS text) = :fid"), {"fid": fid}).first()
    finally:
        engine.dispose()


def _tile_names(service, lon: float, lat: float) -> set[str]:  # noqa: ANN001
    t = TMS.tile(lon, lat, 16)
    data = service.tile(["pois"], t.z, t.x, t.y).data
    features = mapbox_vector_tile.decode(data).get("pois", {"features": []})["features"] if data \
        else []
    return {f["properties"].get("name") for f in features}


def test_edits_are_written_through_to_the_layer_table(pg_url: str, tmp_path: Path) -> None:
    """The table holds the current features: SQL clients and ST_AsMVT tiles see every edit,
    and a process opened afterwards still answers as-of queries from before the edits."""
    service = _open(pg_url, tmp_path).layer_service
    before_create = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    fid = str(service.create("pois", _poi(7)).fid)
    assert _table_row(pg_url, fid)[0] == "故障测试7"
    assert "故障测试7" in _tile_names(service, 121.47 + 7e-5, 31.23)
    moved = {"type": "Point", "coordinates": [121.4705, 31.2301]}
    service.update("pois", fid, {"properties": {"name": "搬家了"}, "geometry": moved}, version=1)
    name, x, y = _table_row(pg_url, fid)
    assert name == "搬家了" and (x, y) == pytest.approx((121.4705, 31.2301))
    assert "搬家了" in _tile_names(service, 121.4705, 31.2301)

    reopened = _open(pg_url, tmp_path / "reopened").layer_service
    assert reopened.feature("pois", fid)["properties"]["_version"] == 2
    assert fid in {str(i) for i in reopened.data("pois").index}
    assert fid not in {str(i) for i in reopened.data("pois", as_of=before_create).index}
    service.delete("pois", fid, version=2)
    assert _table_row(pg_url, fid) is None
    assert "搬家了" not in _tile_names(service, 121.4705, 31.2301)
    assert [c.op for c in _open(pg_url, tmp_path / "third").layer_service.changes("pois")] == [
        "create", "update", "delete"]


def test_address_edits_live_in_postgis(cluster: tuple[str, str], city: City, tmp_path: Path
                                       ) -> None:
    url = cluster[0]
    write_city_layers(url, city.name, city.layers, schema="addr_faults")
    first = City.from_postgis(url, schema="addr_faults", cache_dir=tmp_path / "a")
    code = first.address.create(road="南京东路", number=9601, lon=121.48, lat=31.235)["code"]
    first.address.update(code, expected_version=1, names="库里")
    assert not list(tmp_path.rglob("*.jsonl"))
    engine = connect(url, create_extension=False)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT fid, feature_version FROM addr_faults._edits"
                                    " WHERE layer = '_addresses' ORDER BY seq")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(code, 1), (code, 2)]
    second = City.from_postgis(url, schema="addr_faults", cache_dir=tmp_path / "b")
    assert second.address.record(code)["names"] == "库里"
    assert second.address.geocode("南京东路9601号")[0]["code"] == code


def test_concurrent_writers_exactly_one_wins(pg_url: str, tmp_path: Path) -> None:
    workers = [_open(pg_url, tmp_path / f"w{i}").layer_service for i in range(3)]
    fid = str(workers[0].create("pois", _poi(2)).fid)
    outcomes: list[object] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        service = workers[i % len(workers)]
        try:
            result: object = service.update("pois", fid, {"properties": {"name": f"w{i}"}},
                                            version=1)
        except VersionConflict as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if not isinstance(o, VersionConflict)]
    conflicts = [o for o in outcomes if isinstance(o, VersionConflict)]
    assert len(wins) == 1 and len(conflicts) == 11
    assert all(c.current_version == 2 for c in conflicts)
    winner = wins[0].after["properties"]["name"]
    for service in workers:
        assert service.feature("pois", fid)["properties"]["name"] == winner
    assert _stored_edits(pg_url) == [(fid, 1), (fid, 2)]


def test_database_crash_mid_requests(pg_url: str, cluster: tuple[str, str], tmp_path: Path) -> None:
    pg_city = _open(pg_url, tmp_path)
    app = create_app(Settings(api_keys={"fault-editor": "editor"}), city=pg_city)
    accepted: list[str] = []
    writes: list[tuple[float, int, str]] = []
    reads: list[int] = []
    stop = threading.Event()

    with TestClient(app) as client:
        def writer() -> None:
            i = 100
            while not stop.is_set():
                i += 1
                res = client.post("/layers/pois/features", json=_poi(i), headers=KEY)
                writes.append((time.monotonic(), res.status_code, res.text))
                if res.status_code == 201:
                    accepted.append(str(res.json()["fid"]))
                time.sleep(0.02)

        def reader() -> None:
            while not stop.is_set():
                reads.append(client.get("/layers/pois/features?limit=5").status_code)
                time.sleep(0.02)

        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            subprocess.run([str(SCRIPT), "pause", cluster[1], "immediate"], check=True)
            down_at = time.monotonic()
            time.sleep(2.0)
            subprocess.run([str(SCRIPT), "resume", cluster[1]], check=True)
            up_at = time.monotonic()
            deadline = up_at + 30
            while time.monotonic() < deadline and \
                    not any(t > up_at and code == 201 for t, code, _ in writes):
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()

    codes = {code for _, code, _ in writes}
    assert codes <= {201, 503}, [w for w in writes if w[1] not in (201, 503)][:3]
    assert set(reads) <= {200, 503}
    down = [text for t, code, text in writes if code == 503]
    assert down and all("unavailable" in text.lower() for text in down)
    assert any(down_at < t < up_at and code == 503 for t, code, _ in writes)
    assert any(t > up_at and code == 201 for t, code, _ in writes)  # reconnected by itself
    assert any(t < down_at and code == 201 for t, code, _ in writes)
    # no accepted write is lost: each is in the database and in a fresh process's view
    stored = {fid for fid, _ in _stored_edits(pg_url)}
    assert set(accepted) <= stored and len(accepted) == len(set(accepted))
    fresh = _open(pg_url, tmp_path / "fresh").layer_service
    for fid in accepted:
        assert fresh.feature("pois", fid)["properties"]["name"].startswith("故障测试")


def test_unreachable_database_is_503_with_a_reason(pg_url: str, cluster: tuple[str, str],
                                                   tmp_path: Path) -> None:
    pg_city = _open(pg_url, tmp_path)
    service = pg_city.layer_service
    subprocess.run([str(SCRIPT), "pause", cluster[1]], check=True)
    try:
        with pytest.raises(StoreUnavailable, match="unavailable"):
            service.create("pois", _poi(3))
        with TestClient(create_app(Settings(api_keys={"fault-editor": "editor"}),
                                   city=pg_city)) as client:
            res = client.post("/layers/pois/features", json=_poi(4), headers=KEY)
            assert res.status_code == 503 and res.headers["Retry-After"]
            assert "unavailable" in res.json()["detail"]
    finally:
        subprocess.run([str(SCRIPT), "resume", cluster[1]], check=True)
    assert service.create("pois", _poi(5)).op == "create"
