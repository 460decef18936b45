"""Building a twin for another city from an OSM PBF, and loading a graph file."""

from __future__ import annotations

from pathlib import Path

import osmnx as ox
import pyrosm
import pytest

from twin import City
from twin.build import build_city
from twin.bundle import read_manifest
from twin.errors import BuildError
from twin.roads import prepare_drive_graph

HELSINKI = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
FUTIAN = Path(__file__).resolve().parents[2] / "data" / "sources" / "shenzhen_futian_drive.graphml"


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> City:
    build_dir = tmp_path_factory.mktemp("cities")
    return City.load(build_city(osm=HELSINKI, name="helsinki", build_dir=build_dir,
                                progress=False))


def test_pbf_city_builds(helsinki: City) -> None:
    roads = helsinki.layers["roads"].data
    assert len(roads) > 300
    assert helsinki.name == "helsinki"
    # the PBF carries real traffic signals
    assert len(helsinki.layers["signals"].data) > 10
    assert (helsinki.layers["homes"].data["source"] == "synthetic").all()
    minx, miny, maxx, maxy = roads.total_bounds
    assert 24.8 < minx < maxx < 25.1 and 60.1 < miny < maxy < 60.3


def test_failed_build_leaves_previous_bundle(helsinki: City, monkeypatch: pytest.MonkeyPatch) -> None:
    before = read_manifest(helsinki.bundle_dir).built_at

    def boom(ctx: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("twin.build._load_step", lambda spec: boom)
    with pytest.raises(BuildError, match="disk full"):
        build_city(osm=HELSINKI, name="helsinki", build_dir=helsinki.bundle_dir.parent,
                   force=True, progress=False)
    assert read_manifest(helsinki.bundle_dir).built_at == before
    assert City.load(helsinki.bundle_dir).layers["roads"].data.shape[0] > 0
    assert not [p for p in helsinki.bundle_dir.parent.iterdir() if ".building-" in p.name]


def test_graphml_loads_into_the_road_model() -> None:
    raw = ox.load_graphml(FUTIAN)
    graph = prepare_drive_graph(raw, consolidate=False)
    assert graph.number_of_nodes() > 1000
    names = {d.get("name") for _, _, d in graph.edges(data=True)}
    assert any(isinstance(n, str) and "路" in n for n in names)
    assert all(d["travel_time"] > 0 for _, _, d in graph.edges(data=True))
