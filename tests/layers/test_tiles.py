"""Vector tiles: valid MVT, composite, empty/out-of-range, ETag, cache invalidation."""

from __future__ import annotations

import mapbox_vector_tile
import morecantile
import pytest
import shapely
from fastapi.testclient import TestClient

from api import create_app
from layers.tiles import TMS, lonlat_bounds, tile_bounds
from twin import City, Settings

CENTRE = (121.4735, 31.2304)


@pytest.fixture(scope="module")
def client(city: City) -> TestClient:
    with TestClient(create_app(Settings(api_keys={"k-edit": "editor"}), city=city)) as c:
        yield c


def tile_of(z: int) -> tuple[int, int, int]:
    t = TMS.tile(*CENTRE, z)
    return t.z, t.x, t.y


@pytest.mark.parametrize("z", [12, 14, 16])
def test_vector_tile_is_valid_mvt_with_attributes(client: TestClient, city: City, z: int) -> None:
    zz, x, y = tile_of(z)
    res = client.get(f"/tiles/roads/{zz}/{x}/{y}.mvt")
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert res.headers["etag"] and "max-age" in res.headers["cache-control"]
    decoded = mapbox_vector_tile.decode(res.content)
    roads = decoded["roads"]
    assert roads["extent"] == 4096
    assert roads["features"]
    props = roads["features"][0]["properties"]
    assert {"highway", "length", "travel_time"} <= set(props)
    for f in roads["features"]:
        for ring in _coords(f["geometry"]["coordinates"]):
            assert -64 - 1 <= ring[0] <= 4096 + 65 and -64 - 1 <= ring[1] <= 4096 + 65
    names = {f["properties"].get("name") for f in roads["features"]}
    assert names & set(city.layers["roads"].data["name"].dropna())


def _coords(value: list) -> list:
    if value and isinstance(value[0], int | float):
        return [value]
    out = []
    for v in value:
        out.extend(_coords(v))
    return out


def test_simplification_shrinks_low_zooms(client: TestClient) -> None:
    z12 = client.get("/tiles/roads/{}/{}/{}.mvt".format(*tile_of(12))).content
    count12 = sum(len(_coords(f["geometry"]["coordinates"]))
                  for f in mapbox_vector_tile.decode(z12)["roads"]["features"])
    feats12 = len(mapbox_vector_tile.decode(z12)["roads"]["features"])
    # a z12 tile covers the whole network; its vertices per feature are fewer than at z16
    z16 = client.get("/tiles/roads/{}/{}/{}.mvt".format(*tile_of(16))).content
    d16 = mapbox_vector_tile.decode(z16)["roads"]["features"]
    per16 = sum(len(_coords(f["geometry"]["coordinates"])) for f in d16) / len(d16)
    assert count12 / feats12 < per16


def test_composite_tile_has_both_layers(client: TestClient) -> None:
    res = client.get("/tiles/roads,pois/{}/{}/{}.mvt".format(*tile_of(15)))
    assert set(mapbox_vector_tile.decode(res.content)) == {"roads", "pois"}


def test_empty_and_out_of_range_tiles(client: TestClient, city: City) -> None:
    # a z18 tile inside the schools' bounds but with no school in it is 204
    minx, miny, maxx, maxy = city.layers["schools"].info.bounds
    schools = city.layers["schools"].data.geometry
    empty = next(t for t in TMS.tiles(minx, miny, maxx, maxy, [18])
                 if not schools.intersects(shapely.box(*lonlat_bounds(t.z, t.x, t.y))).any())
    res = client.get(f"/tiles/schools/{empty.z}/{empty.x}/{empty.y}.mvt")
    assert res.status_code == 204
    assert client.get("/tiles/roads/10/0/0.mvt").status_code == 404  # outside bounds
    assert client.get("/tiles/roads/5/40/3.mvt").status_code == 404  # x out of range
    assert client.get("/tiles/roads/30/0/0.mvt").status_code == 422
    assert client.get("/tiles/nope/14/1/1.mvt").status_code == 404
    assert client.get("/tiles/districts/14/1/1.mvt").status_code == 404  # no geometry
    assert client.get("/tiles/Roads;drop/14/1/1.mvt").status_code == 422


def test_etag_revalidation(client: TestClient) -> None:
    url = "/tiles/roads/{}/{}/{}.mvt".format(*tile_of(15))
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_edit_invalidates_cached_tiles(client: TestClient, city: City) -> None:
    z, x, y = tile_of(16)
    url = f"/tiles/fire_stations/{z}/{x}/{y}.mvt"
    before = client.get(url)
    bounds = TMS.bounds(TMS.tile(*CENTRE, 16))
    lon, lat = (bounds.left + bounds.right) / 2, (bounds.bottom + bounds.top) / 2
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
               "properties": {"id": "F99", "name": "新站", "kind": "fire", "source": "synthetic"}}
    res = client.post("/layers/fire_stations/features", json=feature,
                      headers={"X-API-Key": "k-edit"})
    assert res.status_code == 201, res.text
    after = client.get(url)
    assert after.status_code == 200 and after.headers["etag"] != before.headers.get("etag")
    names = [f["properties"]["name"] for f in
             mapbox_vector_tile.decode(after.content)["fire_stations"]["features"]]
    assert "新站" in names
    fid = res.json()["fid"]
    client.delete(f"/layers/fire_stations/features/{fid}", params={"version": 1},
                  headers={"X-API-Key": "k-edit"})


def test_tilejson(client: TestClient, city: City) -> None:
    tj = client.get("/tiles/roads,pois/tilejson.json").json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"][0].endswith("/tiles/roads,pois/{z}/{x}/{y}.mvt")
    ids = [v["id"] for v in tj["vector_layers"]]
    assert ids == ["roads", "pois"]
    assert tj["vector_layers"][0]["fields"]["highway"] == "String"
    assert "OpenStreetMap" in tj["attribution"]
    raster = client.get("/tiles/fire_travel_time/tilejson.json").json()
    assert raster["tiles"][0].endswith(".png")


def test_raster_tiles_and_values(client: TestClient) -> None:
    z, x, y = tile_of(15)
    png = client.get(f"/tiles/fire_travel_time/{z}/{x}/{y}.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/tiles/fire_travel_time/10/0/0.png").status_code == 404
    value = client.get("/rasters/fire_travel_time/point",
                       params={"lon": CENTRE[0], "lat": CENTRE[1]}).json()
    assert value["unit"] == "min" and 0 <= value["value"] < 15
    outside = client.get("/rasters/fire_travel_time/point", params={"lon": 100, "lat": 20}).json()
    assert outside["value"] is None
    assert client.get("/rasters/nope/point", params={"lon": 1, "lat": 1}).status_code == 404


@pytest.mark.parametrize("z", [0, 1, 9, 14, 16, 22])
def test_tile_bounds_agree_with_morecantile(z: int) -> None:
    n = 1 << z
    for x, y in {(0, 0), (n - 1, n - 1), (n // 3, (2 * n) // 3), (n // 2, n // 5)}:
        xy, ll = TMS.xy_bounds(morecantile.Tile(x, y, z)), TMS.bounds(morecantile.Tile(x, y, z))
        assert tile_bounds(z, x, y) == pytest.approx((xy.left, xy.bottom, xy.right, xy.top),
                                                     abs=1e-6)
        assert lonlat_bounds(z, x, y) == pytest.approx((ll.left, ll.bottom, ll.right, ll.top),
                                                       abs=1e-9)
