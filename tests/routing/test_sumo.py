"""The green wave validated in SUMO: one fire engine on a central-city corridor.

Starts SUMO (PyPI ``eclipse-sumo``; libsumo when installed, else TraCI): netconvert from
the central city's OSM source, the twin's own timing plans as SUMO programs, background
traffic, then the engine without priority and with the served plan: the twin's own
emergency run (AVL fixes every 5 s with 15 m noise and 1–2 s latency go to its position
updates) and SUMO's lights executing the twin's ``GET /signals/requests`` messages, rebuilt
from their JSON, within controller limits.
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
def central():
    """The embedded default city as built (built first only when missing)."""
    from twin import City
    from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY

    return City.load(build=not (DEFAULT_BUILD_DIR / DEFAULT_CITY).is_dir())


@pytest.fixture(scope="module")
def corridor(bench, central, tmp_path_factory):
    """One engine, 2-8 km, at 1800 veh/h of background traffic: no priority, then AVL."""
    sweep = bench.Sweep(city="central", periods=(2.0,), seeds=(1,), incidents=1, warmup_s=300.0,
                        horizon_s=700.0, engines=1, modes=("base", "avl"))
    tmp = tmp_path_factory.mktemp("sumo")
    (tmp / "work").mkdir()
    results = bench.run_sweep(central, sweep, tmp / "work", tmp / "cache", workers=2,
                              log=lambda s: None)
    return {r["mode"]: r for r in results}


def test_the_served_plan_is_faster(corridor) -> None:
    base, avl = corridor["base"]["engines"][0], corridor["avl"]["engines"][0]
    assert 2000 <= avl["length_m"] <= 8500
    assert math.isfinite(avl["travel_s"])
    assert avl["travel_s"] < (base["travel_s"] if math.isfinite(base["travel_s"]) else 700.0)
    assert avl["red_stops"] <= base["red_stops"]
    # the same background traffic ran in both
    assert corridor["base"]["others"] == corridor["avl"]["others"] > 0


def test_avl_never_reroutes_on_noise_and_requests_respect_limits(corridor) -> None:
    avl = corridor["avl"]
    engine = avl["engines"][0]
    assert engine["fixes"] >= engine["travel_s"] / 5 - 3
    assert engine["off_route"] == 0 and engine["rerouted"] == 0
    # the run was the twin's: its ETA as answered, and the engine's true track recorded
    assert engine["run_eta_s"] == pytest.approx(engine["eta_s"], abs=0.5)
    assert len(engine["trace"]) >= engine["travel_s"] / 5 - 3
    assert avl["preemptions"], "no junction took over for the engine"
    for pre in avl["preemptions"]:
        assert pre["action"] in ("extend", "early")
        assert pre["runs"] and pre["green_s"][0] < pre["green_s"][1]
        assert pre["recovery_s"] >= 0 and pre["residual_wait_s"] >= 0


def test_benchmark_leaves_the_proj_database_alone(bench) -> None:
    # ``import sumo`` would point PROJ at SUMO's database and break pyproj / rasterio
    assert {k: os.environ.get(k) for k in PROJ_ENV} == PROJ_ENV
    import pyproj

    assert pyproj.CRS.from_epsg(4547).name


def test_bad_route_is_rejected(bench, tmp_path) -> None:
    scenario = sys.modules["scenario"]
    net_file = scenario.build_network(tmp_path, scenario.OSM["core"])
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    far = [[121.0, 31.0], [121.001, 31.001]]
    with pytest.raises(RuntimeError):
        scenario.map_route(net, far)
