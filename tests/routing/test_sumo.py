"""The green wave validated in SUMO: a short peak-demand scenario on the embedded city.

Starts SUMO (PyPI ``eclipse-sumo``) through TraCI: netconvert from the city's OSM source,
background traffic, the fire engine on the planner's route without and with the plan.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SUMO_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "sumo"
PROJ_ENV = {k: os.environ.get(k) for k in ("PROJ_DATA", "PROJ_LIB")}


@pytest.fixture(scope="module")
def bench():
    """The benchmark's modules (``benchmarks/sumo`` is a script directory, not a package)."""
    sys.path.insert(0, str(SUMO_DIR))
    try:
        yield importlib.import_module("green_wave_sumo")
    finally:
        sys.path.remove(str(SUMO_DIR))


@pytest.fixture(scope="module")
def comparison(bench, city, tmp_path_factory):
    """F1 → I1 at the benchmark's peak demand (1800 veh/h), without and with the green wave."""
    scenario = bench.Scenario(periods=(2.0,), seeds=(1,), routes=(("F1", "I1"),),
                              warmup_s=300.0, horizon_s=500.0)
    results = bench.run_scenario(city, scenario, tmp_path_factory.mktemp("sumo"), log=lambda s: None)
    assert len(results) == 1
    return results[0]


def test_route_in_sumo_is_the_planned_route(bench, comparison) -> None:
    scenario = sys.modules["scenario"]
    assert comparison.route.edges
    # SUMO also guesses lights where OSM maps none (no planner signal within MATCH_M):
    # most of the route's SUMO lights, not all, are the planner's
    assert comparison.wave.matched_signals >= 0.75 * comparison.wave.sumo_signals
    assert comparison.wave.matched_signals >= 3
    assert abs(comparison.route.sumo_length_m - comparison.route.plan["distance_m"]) < \
        0.25 * comparison.route.plan["distance_m"]
    assert scenario.MIN_OVERLAP >= 0.9


def test_green_wave_is_faster_without_red_stops(comparison) -> None:
    base, wave = comparison.base, comparison.wave
    assert math.isfinite(wave.travel_s)
    assert base.red_stops >= 1  # at peak the vehicle waits at reds under the normal plans
    assert wave.red_stops == 0
    assert wave.travel_s < base.travel_s
    assert wave.travel_s <= 0.6 * base.travel_s  # the goal: travel time down >= 40 %
    assert wave.actions.get("early", 0) + wave.actions.get("extend", 0) >= 3
    # the same background traffic ran in both
    assert base.others == wave.others > 0


def test_benchmark_leaves_the_proj_database_alone(bench) -> None:
    # ``import sumo`` would point PROJ at SUMO's database and break pyproj / rasterio
    assert {k: os.environ.get(k) for k in PROJ_ENV} == PROJ_ENV
    import pyproj

    assert pyproj.CRS.from_epsg(4547).name


def test_bad_route_is_rejected(bench, tmp_path) -> None:
    scenario = sys.modules["scenario"]
    net_file = scenario.build_network(tmp_path)
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    far = [[121.0, 31.0], [121.001, 31.001]]
    with pytest.raises(RuntimeError):
        scenario.map_route(net, far)
