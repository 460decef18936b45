"""Versions in time on tiles: ``as_of`` serves the layer as it was, edit by edit."""

from __future__ import annotations

import datetime as dt
import time

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from api import create_app
from layers.tiles import TMS
from twin import City, Settings

EDIT = {"X-API-Key": "k-edit"}


@pytest.fixture()
def client(fresh_city: City) -> TestClient:
    with TestClient(create_app(Settings(api_keys={"k-edit": "editor"}),
                               city=fresh_city)) as c:
        yield c


def _now() -> str:
    time.sleep(0.02)
    stamp = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.02)
    return stamp


def _names(res) -> list[str]:  # noqa: ANN001
    if res.status_code == 204:
        return []
    assert res.status_code == 200, res.text
    return sorted(f["properties"].get("name", "") for f in
                  mapbox_vector_tile.decode(res.content).get("schools", {"features": []})["features"])


def test_tiles_as_of_each_version(client: TestClient) -> None:
    tile = TMS.tile(121.4735, 31.2304, 16)
    b = TMS.bounds(tile)
    centre = [(b.left + b.right) / 2, (b.bottom + b.top) / 2]
    url = f"/tiles/schools/{tile.z}/{tile.x}/{tile.y}.mvt"
    t0, original = _now(), _names(client.get(url))

    created = client.post("/layers/schools/features", headers=EDIT, json={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": centre},
        "properties": {"name": "新建小学", "level": "primary", "capacity": 600}})
    assert created.status_code == 201, created.text
    fid = created.json()["fid"]
    t1 = _now()
    renamed = client.patch(f"/layers/schools/features/{fid}", params={"version": 1}, headers=EDIT,
                           json={"properties": {"name": "改名小学"}})
    assert renamed.status_code == 200, renamed.text
    t2 = _now()
    assert client.delete(f"/layers/schools/features/{fid}", params={"version": 2},
                         headers=EDIT).status_code == 200

    assert _names(client.get(url)) == original
    assert _names(client.get(url, params={"as_of": t0})) == original
    assert _names(client.get(url, params={"as_of": t1})) == sorted([*original, "新建小学"])
    assert _names(client.get(url, params={"as_of": t2})) == sorted([*original, "改名小学"])
    # the same times on the feature API and the change log
    one = client.get(f"/layers/schools/features/{fid}", params={"as_of": t1})
    assert one.status_code == 200 and one.json()["properties"]["name"] == "新建小学"
    assert client.get(f"/layers/schools/features/{fid}").status_code == 404
    ops = [c["op"] for c in client.get("/layers/schools/changes", params={"since": t0}).json()["changes"]]
    assert ops == ["create", "update", "delete"]
    later = client.get("/layers/schools/changes", params={"since": t2}).json()["changes"]
    assert [c["op"] for c in later] == ["delete"]
