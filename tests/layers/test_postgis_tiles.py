"""The embedded MVT path and PostGIS ST_AsMVT give equivalent tiles."""

from __future__ import annotations

import mapbox_vector_tile
import pytest

from layers.postgis import connect
from layers.postgis_tiles import postgis_tile
from layers.tiles import TMS, ProjectedLayer, encode_tile
from twin import City
from twin.database import write_city_layers

pytestmark = pytest.mark.postgis
TILES = [TMS.tile(121.4735, 31.2304, z) for z in (13, 14, 15, 16)] + [
    TMS.tile(121.465, 31.225, 16), TMS.tile(121.482, 31.238, 15)]


@pytest.fixture(scope="module")
def engine(city: City, postgis_url: str):  # noqa: ANN201
    write_city_layers(postgis_url, city.name, city.layers, schema="tiles_eq")
    eng = connect(postgis_url)
    yield eng
    eng.dispose()


@pytest.mark.parametrize("layer", ["roads", "pois", "signals"])
def test_same_features_and_attributes(city: City, engine, layer: str) -> None:  # noqa: ANN001
    info = city.layers[layer].info
    projected = ProjectedLayer.from_gdf(layer, city.layers[layer].data, info.version)
    for t in TILES:
        ours = encode_tile([projected], t.z, t.x, t.y)
        theirs = postgis_tile(engine, "tiles_eq", [info], t.z, t.x, t.y)
        a = mapbox_vector_tile.decode(ours).get(layer, {"features": []})["features"]
        b = mapbox_vector_tile.decode(theirs).get(layer, {"features": []})["features"]
        assert abs(len(a) - len(b)) <= max(1, 0.02 * len(b)), (t, len(a), len(b))
        names_a = sorted(str(f["properties"].get("name")) for f in a)
        names_b = sorted(str(f["properties"].get("name")) for f in b)
        common = set(names_a) & set(names_b)
        assert len(common) >= 0.95 * len(set(names_b))
        keys_a = set().union(*(f["properties"] for f in a)) if a else set()
        keys_b = set().union(*(f["properties"] for f in b)) if b else set()
        assert keys_b <= keys_a | {"id"}


def test_twin_on_postgis_serves_st_asmvt_tiles(engine, postgis_url: str) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from api import create_app
    from twin import Settings

    pg_city = City.from_postgis(postgis_url, schema="tiles_eq")
    assert pg_city.layer_service.postgis is not None
    t = TILES[2]
    with TestClient(create_app(Settings(), city=pg_city)) as client:
        res = client.get(f"/tiles/roads/{t.z}/{t.x}/{t.y}.mvt")
        assert res.status_code == 200
        assert mapbox_vector_tile.decode(res.content)["roads"]["features"]
        assert client.get("/health").json()["store"] == "postgis"
