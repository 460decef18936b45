"""The embedded city's build: layers, graph, synthetic facilities, caching, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin import City
from twin.build import build_city
from twin.bundle import read_manifest
from twin.errors import BundleError, SourceNotFound

CORE_LAYERS = {
    "roads", "nodes", "signals", "pois", "stations", "districts", "streets", "communities",
    "bike_grid", "homes", "schools", "fire_stations", "ambulance_stations",
}


def test_bundle_has_every_core_layer(city: City) -> None:
    assert CORE_LAYERS <= set(city.layers)
    manifest = read_manifest(city.bundle_dir)
    assert set(manifest.sources) >= {"osm", "signals", "shops"}
    assert all("sha256:" in v for v in manifest.sources.values())
    for name in CORE_LAYERS:
        assert manifest.layers[name] == len(city.layers[name].data)


def test_roads_are_attributed(city: City) -> None:
    roads = city.layers["roads"].data
    assert len(roads) > 500
    assert (roads["length"] > 0).all()
    assert (roads["speed_kph"] > 0).all()
    assert (roads["lanes"] >= 1).all()
    # travel time is length / speed
    expected = roads["length"] / (roads["speed_kph"] / 3.6)
    assert ((roads["travel_time"] - expected).abs() < 0.5).all()
    assert roads["name"].str.contains("路").sum() > 300
    assert roads["oneway"].any()
    assert set(roads["highway"]) >= {"primary", "secondary", "residential"}


def test_graph_round_trips_from_layers(city: City) -> None:
    graph = city.graph
    assert graph.number_of_nodes() == len(city.layers["nodes"].data)
    assert graph.number_of_edges() == len(city.layers["roads"].data)
    u, v, data = next(iter(graph.edges(data=True)))
    assert {"length", "travel_time", "highway", "lanes"} <= set(data)


def test_signals_snapped_with_plans(city: City) -> None:
    signals = city.layers["signals"].data
    nodes = city.layers["nodes"].data
    assert 50 < len(signals) <= len(nodes)
    assert set(signals["node"]) == set(nodes.index[nodes["signal"]])
    assert (signals["cycle_s"] >= 30).all() and (signals["cycle_s"] <= 200).all()
    phases = json.loads(signals["phases"].iloc[0])
    assert len(phases) >= 2
    assert all(p["green_s"] > 0 for p in phases)


def test_synthetic_layers_are_labelled_and_plausible(city: City) -> None:
    for name in ("homes", "fire_stations", "ambulance_stations"):
        data = city.layers[name].data
        assert (data["source"] == "synthetic").all(), name
        assert city.layers[name].info.source == "synthetic"
    homes = city.layers["homes"].data
    assert homes["households"].sum() > 10_000
    assert (homes["population"] >= homes["households"]).all()
    schools = city.layers["schools"].data
    # real primary schools of the source file where they lie inside the extent, the rest
    # generated; every row says which
    assert set(schools["source"]) == {"real", "synthetic"}
    assert set(schools.loc[schools["source"] == "real", "level"]) <= {"primary", "kindergarten"}
    assert set(schools["level"]) == {"kindergarten", "primary", "middle"}
    assert (schools["capacity"] > 0).all()
    minx, miny, maxx, maxy = city.layers["roads"].info.bounds
    fire = city.layers["fire_stations"].data
    assert len(fire) >= 1
    assert fire.geometry.x.between(minx, maxx).all() and fire.geometry.y.between(miny, maxy).all()


def test_admin_codes_are_official(city: City) -> None:
    districts = city.layers["districts"].data
    assert len(districts) == 16
    assert "黄浦区" in set(districts["name"])
    streets = city.layers["streets"].data
    assert streets["code"].str.len().eq(9).all()
    communities = city.layers["communities"].data
    assert communities["code"].str.len().eq(12).all()
    assert set(communities["parent_code"]) <= set(streets["code"])


def test_osm_attribution_on_osm_layers(city: City) -> None:
    for name in ("roads", "pois", "signals"):
        assert "OpenStreetMap" in city.layers[name].info.attribution


def test_rebuild_with_unchanged_sources_is_reused(city: City) -> None:
    before = read_manifest(city.bundle_dir).built_at
    again = build_city(name=city.name, progress=False)
    assert again == city.bundle_dir
    assert read_manifest(again).built_at == before


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match="missing source files"):
        build_city(sources_dir=tmp_path, build_dir=tmp_path / "b", progress=False)
    with pytest.raises(SourceNotFound):
        build_city(osm=tmp_path / "nope.osm.pbf", name="x", build_dir=tmp_path, progress=False)


def test_missing_or_corrupt_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="twin build"):
        City.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match="corrupt"):
        City.load(tmp_path)
