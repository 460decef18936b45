"""Feature queries, versioned edits, as-of reads, changes, auth and bad input."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from fastapi.testclient import TestClient

from api import create_app
from twin import City, Settings

KEYS = {"k-edit": "editor", "k-read": "reader"}
EDIT = {"X-API-Key": "k-edit"}


@pytest.fixture()
def client(fresh_city: City) -> TestClient:
    with TestClient(create_app(Settings(api_keys=KEYS), city=fresh_city)) as c:
        yield c


def test_bbox_paging_and_property_filter(client: TestClient, city: City) -> None:
    res = client.get("/layers/roads/features",
                     params={"bbox": "121.47,31.225,121.48,31.235", "limit": 10, "offset": 5,
                             "highway": "primary"}).json()
    assert res["type"] == "FeatureCollection" and res["numberReturned"] == 10
    assert res["numberMatched"] > 10
    assert all(f["properties"]["highway"] == "primary" for f in res["features"])
    expected = city.features("roads", bbox=(121.47, 31.225, 121.48, 31.235),
                             where={"highway": "primary"})
    assert res["numberMatched"] == len(expected)


def test_point_radius_and_polygon(client: TestClient) -> None:
    near = client.get("/layers/pois/features", params={"lon": 121.4737, "lat": 31.2304,
                                                       "radius": 400, "limit": 500}).json()
    far = client.get("/layers/pois/features", params={"lon": 121.4737, "lat": 31.2304,
                                                      "radius": 800, "limit": 500}).json()
    assert 0 < near["numberMatched"] < far["numberMatched"]
    poly = {"type": "Polygon", "coordinates": [[[121.47, 31.225], [121.48, 31.225],
                                                [121.48, 31.235], [121.47, 31.225]]]}
    res = client.post("/layers/roads/features/intersects", json=poly).json()
    assert res["numberMatched"] > 0


@pytest.mark.parametrize(
    "params",
    [{"bbox": "1,2,3"}, {"bbox": "a,b,c,d"}, {"bbox": "10,10,0,0"}, {"limit": 100000},
     {"nosuchfield": "x"}, {"lanes": "many"}, {"lon": 121.47}, {"name": "'; DROP TABLE roads;--"},
     {"as_of": "yesterday"}],
)
def test_bad_queries_are_4xx(client: TestClient, params: dict) -> None:
    res = client.get("/layers/roads/features", params=params)
    if "name" in params:  # an injection string is just a value that matches nothing
        assert res.status_code == 200 and res.json()["numberMatched"] == 0
    else:
        assert 400 <= res.status_code < 500 and res.json()["detail"]


def test_create_update_delete_with_versions_and_as_of(client: TestClient) -> None:
    t0 = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.47, 31.23]},
               "properties": {"name": "测试店", "shop": "bakery"}}
    created = client.post("/layers/pois/features", json=feature, headers=EDIT)
    assert created.status_code == 201
    fid = created.json()["fid"]
    got = client.get(f"/layers/pois/features/{fid}").json()
    assert got["properties"]["name"] == "测试店" and got["properties"]["_version"] == 1
    time.sleep(0.01)
    t1 = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    patched = client.patch(f"/layers/pois/features/{fid}", params={"version": 1},
                           json={"properties": {"name": "改名店"}}, headers=EDIT)
    assert patched.status_code == 200
    stale = client.patch(f"/layers/pois/features/{fid}", params={"version": 1},
                         json={"properties": {"name": "冲突"}}, headers=EDIT)
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert client.get(f"/layers/pois/features/{fid}").json()["properties"]["name"] == "改名店"
    assert client.get(f"/layers/pois/features/{fid}",
                      params={"as_of": t1}).json()["properties"]["name"] == "测试店"
    assert client.get(f"/layers/pois/features/{fid}", params={"as_of": t0}).status_code == 404
    deleted = client.delete(f"/layers/pois/features/{fid}", params={"version": 2}, headers=EDIT)
    assert deleted.status_code == 200
    assert client.get(f"/layers/pois/features/{fid}").status_code == 404
    changes = client.get("/layers/pois/changes", params={"since": t0}).json()["changes"]
    assert [c["op"] for c in changes] == ["create", "update", "delete"]


def test_writes_need_an_editor_key(client: TestClient) -> None:
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.47, 31.23]},
               "properties": {"name": "x"}}
    assert client.post("/layers/pois/features", json=feature).status_code == 401
    assert client.post("/layers/pois/features", json=feature,
                       headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/layers/pois/features", json=feature,
                       headers={"X-API-Key": "k-read"}).status_code == 403


@pytest.mark.parametrize(
    "feature",
    [{"geometry": {"type": "Point", "coordinates": [500, 31]}, "properties": {}},
     {"geometry": {"type": "LineString", "coordinates": [[121.4, 31.2], [121.5, 31.3]]},
      "properties": {}},
     {"geometry": {"type": "Polygon", "coordinates": "nope"}, "properties": {}},
     {"geometry": {"type": "Point", "coordinates": [121.47, 31.23]}, "properties": {"bogus": 1}},
     {"geometry": None, "properties": {}}],
)
def test_invalid_features_are_rejected(client: TestClient, feature: dict) -> None:
    res = client.post("/layers/pois/features", json=feature, headers=EDIT)
    assert res.status_code == 422 and res.json()["detail"]


def test_edits_survive_a_restart(fresh_city: City) -> None:
    with TestClient(create_app(Settings(api_keys=KEYS), city=fresh_city)) as c:
        fid = c.post("/layers/schools/features", headers=EDIT, json={
            "geometry": {"type": "Point", "coordinates": [121.47, 31.23]},
            "properties": {"name": "新学校", "level": "primary", "capacity": 900}}).json()["fid"]
    reopened = City.load(fresh_city.bundle_dir)
    with TestClient(create_app(Settings(), city=reopened)) as c:
        got = c.get(f"/layers/schools/features/{fid}").json()
        assert got["properties"]["name"] == "新学校" and got["properties"]["capacity"] == 900


def test_concurrent_edits_lose_nothing(fresh_city: City) -> None:
    service = fresh_city.layer_service
    fid = "0"
    results: list[str] = []

    def writer(i: int) -> None:
        from layers.errors import VersionConflict

        for _ in range(50):
            version = service.editor("pois").feature_version(0)
            try:
                service.update("pois", fid, {"properties": {"name": f"w{i}"}}, version=version)
                results.append("ok")
                return
            except VersionConflict:
                results.append("conflict")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = results.count("ok")
    assert accepted == 8
    assert service.editor("pois").feature_version(0) == 1 + accepted
    updates = [c for c in service.changes("pois") if c.op == "update"]
    assert len(updates) == accepted
    assert [c.feature_version for c in updates] == list(range(2, 2 + accepted))
