"""Road feature ids derive from OSM ids and survive rebuilds of the same source."""

from __future__ import annotations

from pathlib import Path

from twin import City
from twin.build import build_city
from twin.roads import ROAD_ID_STRIDE


def test_road_ids_name_their_osm_way(city: City) -> None:
    roads = city.layers["roads"].data
    assert roads.index.is_unique
    assert (roads.index // ROAD_ID_STRIDE == roads["osmid"]).all()
    assert (roads["osm_from"] > 0).all() and (roads["osm_to"] > 0).all()
    nodes = city.layers["nodes"].data
    assert nodes["osm_node"].is_unique and (nodes["osm_node"] > 0).all()


def test_road_ids_are_stable_across_rebuilds(city: City, tmp_path: Path) -> None:
    again = City.load(build_city(name="shanghai-core", build_dir=tmp_path, seed=7,
                                 progress=False))
    a, b = city.layers["roads"].data, again.layers["roads"].data
    assert list(a.index) == list(b.index)
    assert (a["osm_from"] == b.loc[a.index, "osm_from"]).all()
    assert a.geometry.geom_equals_exact(b.loc[a.index].geometry, 1e-9).all()
