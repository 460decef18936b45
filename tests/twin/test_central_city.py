"""The default twin at full scale: central Shanghai builds every layer and serves every model.

Most tests run on the small ``shanghai-core`` fixture; these check that the central city
(~13.5 × 11 km, ~1,000 signalized junctions) cannot silently break.
"""

from __future__ import annotations

import json
import math

import mapbox_vector_tile
import pytest

from layers.tiles import TMS, ProjectedLayer, encode_tile
from twin import City
from twin.stations import built_up_area_km2

MAX_TILE_BYTES = 500 * 1024


def test_every_layer_is_built_at_city_scale(central_city: City) -> None:
    layers = central_city.layers
    assert central_city.name == "shanghai"
    assert len(layers["roads"].data) > 7000
    assert len(layers["signals"].data) > 900
    assert (layers["signals"].data["timing_source"] == "synthetic").all()
    for name in ("pois", "stations", "homes", "schools", "fire_stations", "ambulance_stations",
                 "bike_grid", "bike_cells", "school_districts"):
        assert len(layers[name].data) > 0, name
    division = central_city.division
    assert division.city == "上海市"


def test_fire_stations_follow_the_area_standard(central_city: City) -> None:
    fire = central_city.layers["fire_stations"].data
    area = built_up_area_km2(central_city.graph)
    assert 80 < area < 160
    assert math.ceil(area / 7.0) <= len(fire) <= math.ceil(area / 4.0)
    assert 15 <= len(fire) <= 35
    assert len(central_city.layers["ambulance_stations"].data) >= 5


def test_real_schools_inside_the_extent(central_city: City) -> None:
    schools = central_city.layers["schools"].data
    real = schools[schools["source"] == "real"]
    assert 30 <= len(real) <= 45  # of the 60 in the file, about a third lie outside
    assert set(real["level"]) == {"primary", "kindergarten"}
    assert set(schools["level"]) == {"kindergarten", "primary", "middle"}


def test_dispatch_route_and_coverage_across_the_city(central_city: City) -> None:
    routing = central_city.routing
    incident = {"lon": 121.52, "lat": 31.26}  # north-east of the centre
    ranked = routing.dispatch(incident, limit=50)
    assert len(ranked) == len(central_city.layers["fire_stations"].data)
    etas = [r["eta_s"] for r in ranked]
    assert etas == sorted(etas)
    run = central_city.runs.create({"station": ranked[-1]["station"]}, incident)
    try:
        assert run["distance_m"] > 3000  # the farthest station is across the city
        assert len(run["signals"]) >= 5
        assert run["eta_s"] <= run["eta_without_priority_s"]
    finally:
        central_city.runs.finish(run["id"])
    coverage = routing.coverage(minutes=5)
    share = coverage["with_green_wave"]["road_length_share"]
    assert 0.8 <= share <= 1.0
    assert coverage["without_green_wave"]["road_length_share"] <= share


def test_signal_plans_hold_controller_limits(central_city: City) -> None:
    for row in central_city.layers["signals"].data.itertuples():
        phases = json.loads(row.phases)
        assert 60 <= row.cycle_s <= 180
        for p in phases:
            assert p["green_s"] >= p["min_green_s"] - 0.11
            assert p["min_green_s"] >= 10


@pytest.mark.parametrize("z", [10, 11, 12, 13, 14])
def test_no_tile_is_larger_than_500_kb(central_city: City, z: int) -> None:
    layers = central_city.layers
    names = [n for n, layer in layers.items() if layer.info.bounds is not None]
    projected = [ProjectedLayer.from_gdf(n, layers[n].data, 1, minzoom=layers[n].info.minzoom)
                 for n in names]
    minx, miny, maxx, maxy = layers["roads"].info.bounds
    largest = 0
    for t in TMS.tiles(minx, miny, maxx, maxy, [z]):
        tile = encode_tile(projected, t.z, t.x, t.y)
        largest = max(largest, len(tile))
        if z == 10:  # the whole city in one tile: arterials only, no local streets
            roads = mapbox_vector_tile.decode(tile)["roads"]["features"]
            assert {f["properties"]["highway"] for f in roads} <= {"primary", "trunk", "motorway"}
    assert 0 < largest <= MAX_TILE_BYTES, largest
