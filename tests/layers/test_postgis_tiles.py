"""The embedded MVT path and PostGIS ST_AsMVT give equivalent tiles."""

from __future__ import annotations

import mapbox_vector_tile
import pytest
import shapely
import shapely.geometry

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
    projected = ProjectedLayer.from_gdf(layer, city.layers[layer].data, info.version,
                                        minzoom=info.minzoom)
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


#: a natural key of each layer, present in both tiles (the feature id is not in ST_AsMVT's)
KEYS = {"roads": ("u", "v", "key"), "pois": ("osm_id",), "signals": ("node",)}


def _by_key(tile: bytes, layer: str) -> dict[tuple, dict]:
    features = mapbox_vector_tile.decode(tile).get(layer, {"features": []})["features"]
    return {tuple(f["properties"].get(k) for k in KEYS[layer]): f for f in features}


@pytest.mark.parametrize("layer", sorted(KEYS))
def test_same_features_and_geometry_within_tolerance(city: City, engine, layer: str) -> None:  # noqa: ANN001
    """Feature by feature: same set, same attributes, geometry within 4 tile units (of 4096)."""
    info = city.layers[layer].info
    projected = ProjectedLayer.from_gdf(layer, city.layers[layer].data, info.version,
                                        minzoom=info.minzoom)
    compared = 0
    for t in TILES:
        ours = _by_key(encode_tile([projected], t.z, t.x, t.y), layer)
        theirs = _by_key(postgis_tile(engine, "tiles_eq", [info], t.z, t.x, t.y), layer)
        missing, extra = set(theirs) - set(ours), set(ours) - set(theirs)
        assert len(missing) + len(extra) <= max(1, 0.01 * len(theirs)), (t, missing, extra)
        for key in set(ours) & set(theirs):
            a, b = ours[key], theirs[key]
            for field, value in b["properties"].items():
                assert a["properties"].get(field) == pytest.approx(value) \
                    if isinstance(value, float) else a["properties"].get(field) == value, (key, field)
            ga = shapely.geometry.shape(a["geometry"])
            gb = shapely.geometry.shape(b["geometry"])
            assert ga.geom_type.replace("Multi", "") == gb.geom_type.replace("Multi", "")
            assert shapely.hausdorff_distance(ga, gb) <= 4.0, (t, key)
            compared += 1
    assert compared > 20
