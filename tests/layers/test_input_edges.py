"""Edge cases of queries, edits, TileJSON and raster tiles that once returned a 500 or a
wrong answer: table layers without geometry, unknown GeoJSON types, reused feature ids,
raster tile pixels against point values."""

from __future__ import annotations

import dataclasses
import io

import morecantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api import create_app
from layers.errors import FeatureNotFound, InvalidFeature, InvalidQuery
from layers.queries import parse_geometry
from layers.registry import Layer
from layers.versions import LayerEditor
from twin import City, Settings

EDIT = {"X-API-Key": "k-edit"}


@pytest.fixture()
def client(fresh_city: City) -> TestClient:
    fresh = fresh_city
    with TestClient(create_app(Settings(api_keys={"k-edit": "editor"}), city=fresh)) as c:
        yield c


def test_table_layer_features_have_null_geometry(client: TestClient, city: City) -> None:
    res = client.get("/layers/communities/features", params={"limit": 5})
    assert res.status_code == 200
    body = res.json()
    assert body["numberMatched"] == len(city.layers["communities"].data) > 0
    assert all(f["geometry"] is None and f["properties"]["name"] for f in body["features"])
    fid = body["features"][0]["id"]
    one = client.get(f"/layers/communities/features/{fid}")
    assert one.status_code == 200 and one.json()["geometry"] is None


def test_table_layer_has_no_tilejson(client: TestClient) -> None:
    res = client.get("/tiles/communities/tilejson.json")
    assert res.status_code == 404 and "geometry" in res.json()["detail"]


@pytest.mark.parametrize("geometry", [
    {"type": "Nope", "coordinates": [1, 2]},
    {"type": "Polygon", "coordinates": "x"},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
    {"type": "Point", "coordinates": [500, 31]},
    {"coordinates": [121.47, 31.23]},
    {"type": "GeometryCollection", "geometries": []},
])
def test_bad_geometries_are_4xx_on_read_and_write(client: TestClient, geometry: dict) -> None:
    read = client.post("/layers/roads/features/intersects", json=geometry)
    assert read.status_code == 400 and read.json()["error"] == "InvalidQuery"
    write = client.post("/layers/pois/features", headers=EDIT,
                        json={"type": "Feature", "geometry": geometry, "properties": {}})
    assert write.status_code == 422 and write.json()["error"] == "InvalidFeature"
    with pytest.raises(InvalidQuery):
        parse_geometry(geometry)


def test_deleted_ids_are_never_reused(city: City) -> None:
    layer = city.layers["schools"]
    editor = LayerEditor(Layer(dataclasses.replace(layer.info), layer.data.copy()))
    top = editor.layer.data.index.max()
    editor.delete(top, expected_version=1)
    point = {"type": "Point", "coordinates": [121.47, 31.23]}
    created = editor.create({"name": "新校"}, point)
    assert created.fid != top and created.fid == top + 1
    # a client still holding the deleted feature's version cannot edit the new one by mistake
    with pytest.raises(FeatureNotFound):
        editor.update(top, expected_version=1, properties={"name": "x"})
    with pytest.raises(InvalidFeature):
        editor.create({"name": "x"}, {"type": "Nope"})


def test_raster_tile_pixels_match_point_values(city: City) -> None:
    client = TestClient(create_app(Settings(), city=city))
    meta = client.get("/rasters").json()["rasters"]
    raster = next(r for r in meta if r["name"] == "fire_travel_time")
    minx, miny, maxx, maxy = raster["bounds"]
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    tms = morecantile.tms.get("WebMercatorQuad")
    tile = tms.tile(lon, lat, 15)
    png = client.get(f"/tiles/fire_travel_time/{tile.z}/{tile.x}/{tile.y}.png")
    assert png.status_code == 200
    rgba = np.asarray(Image.open(io.BytesIO(png.content)))
    assert rgba.shape == (256, 256, 4)
    xb = tms.xy_bounds(tile)
    checked = 0
    for col in range(8, 256, 36):
        for row in range(8, 256, 36):
            # the centre of this pixel, the exact point the tile sampled
            mx = xb.left + (col + 0.5) / 256 * (xb.right - xb.left)
            my = xb.top - (row + 0.5) / 256 * (xb.top - xb.bottom)
            plon, plat = tms.lnglat(mx, my)
            value = client.get("/rasters/fire_travel_time/point",
                               params={"lon": plon, "lat": plat}).json()["value"]
            alpha = rgba[row, col, 3]
            assert (alpha > 0) == (value is not None), (plon, plat, value, alpha)
            checked += value is not None
    assert checked > 0
