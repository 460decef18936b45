"""Generated fire and ambulance stations sited by the planning rule."""

from __future__ import annotations

import math

from twin import City
from twin.stations import FIRE_RULE, built_up_area_km2, site_stations


def test_station_count_follows_the_area_rule(city: City) -> None:
    fire = city.layers["fire_stations"].data
    area = built_up_area_km2(city.graph)
    assert math.ceil(area / 7.0) <= len(fire) <= math.ceil(area / 4.0)
    assert (fire["source"] == "synthetic").all()
    assert fire["rule"].str.contains("建标152").all()
    amb = city.layers["ambulance_stations"].data
    assert set(amb["node"]).isdisjoint(fire["node"])


def test_greedy_cover_beats_the_same_count_placed_badly(city: City) -> None:
    stations, report = site_stations(city.graph, FIRE_RULE, prefix="F", name_format="F{i}")
    assert 0.0 < report["coverage"] <= 1.0
    # each added station covered less new road than the one before (greedy order)
    covered = list(stations["covered_m"])
    assert covered == sorted(covered, reverse=True)
