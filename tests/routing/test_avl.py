"""Route matching of noisy, late AVL fixes on a hand-made street with a side road."""

from __future__ import annotations

import datetime as dt
import math

import networkx as nx
import numpy as np
import pytest

from routing.avl import Fix, RouteGeometry, RouteMatcher, remaining_path
from routing.engine import PathEngine
from routing.network import RoadNetwork, SignalPlan
from routing.profiles import Profile

LON0, LAT0 = 121.40, 31.20
M_LON = 111_320.0 * math.cos(math.radians(LAT0))
M_LAT = 110_540.0
T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SPACING = 200.0


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return LON0 + x / M_LON, LAT0 + y / M_LAT


@pytest.fixture(scope="module")
def street():
    """A 2.4 km east-bound street (nodes 0..12, 200 m apart, signals at 1..11) and a side
    road north from node 6 (nodes 100..103)."""
    g = nx.MultiDiGraph()
    for i in range(13):
        g.add_node(i, **dict(zip("xy", _lonlat(i * SPACING, 0.0), strict=True)))
    for j in range(4):
        g.add_node(100 + j, **dict(zip("xy", _lonlat(6 * SPACING, (j + 1) * SPACING), strict=True)))
    attrs = {"length": SPACING, "speed_kph": 60.0, "highway": "primary", "lanes": 2}
    for i in range(12):
        g.add_edge(i, i + 1, 0, **attrs)
        g.add_edge(i + 1, i, 0, **attrs)
    chain = [6, 100, 101, 102, 103]
    for a, b in zip(chain, chain[1:], strict=False):
        g.add_edge(a, b, 0, **attrs)
        g.add_edge(b, a, 0, **attrs)
    plan = ({"name": "main", "approaches": [], "green_s": 50.0, "yellow_s": 3.0, "all_red_s": 2.0},
            {"name": "cross", "approaches": [], "green_s": 30.0, "yellow_s": 3.0, "all_red_s": 2.0})
    plans = {i: SignalPlan(i, 90.0, 0.0, plan) for i in range(1, 12)}
    net = RoadNetwork(g, plans)
    engine = PathEngine(net, Profile.emergency("fire"))
    path = engine.path_from_nodes([net.index(i) for i in range(13)])
    return net, path, RouteGeometry.from_path(net, path)


def _fix(x: float, y: float, at: dt.datetime, rng: np.random.Generator, sigma: float = 15.0) -> Fix:
    # 15 m 2-D RMS error: sigma / sqrt(2) per axis
    ex, ey = rng.normal(0.0, sigma / math.sqrt(2), 2)
    return Fix(*_lonlat(x + ex, y + ey), at=at, accuracy_m=sigma)


def test_geometry_of_the_route(street) -> None:
    net, path, geom = street
    assert geom.length_m == pytest.approx(12 * SPACING, rel=1e-3)
    assert geom.signal_nodes == tuple(range(1, 12))
    assert geom.signal_m == pytest.approx(np.arange(1, 12) * SPACING, rel=1e-3)
    assert geom.edge_at(450.0) == (2, pytest.approx(50.0, abs=1.0))


@pytest.mark.parametrize("seed", range(20))
def test_noise_never_drops_a_signal_ahead_nor_reroutes(street, seed) -> None:
    """12 m/s with a stop at 1 km, fixes every 5 s, 15 m noise, 1-2 s latency."""
    net, path, geom = street
    rng = np.random.default_rng(seed)
    matcher = RouteMatcher(geom, T0)
    x, t = 0.0, 0.0
    while x < geom.length_m - 50:
        t += 5.0
        stopped = 80.0 <= t < 110.0  # a 30 s stop (e.g. behind a queue)
        x = min(x + (0.0 if stopped else 12.0 * 5.0), geom.length_m)
        at = T0 + dt.timedelta(seconds=t)
        m = matcher.update(_fix(x, 0.0, at, rng), now=at + dt.timedelta(seconds=rng.uniform(1, 2)))
        assert not m.off_route
        ahead = {n for n, s in zip(geom.signal_nodes, geom.signal_m, strict=True) if s > x}
        assert ahead <= set(m.ahead_signals)
        assert abs(m.progress_m - x) < 45.0
        # clearly passed signals (two accuracies behind plus the noise) are released
        behind = {n for n, s in zip(geom.signal_nodes, geom.signal_m, strict=True) if s < x - 100}
        assert behind <= set(m.passed_signals)
        # the rest of the route, from which windows are re-planned, keeps every one of them
        rest = remaining_path(path, m, geom)
        assert set(m.ahead_signals) <= {int(net.node_ids[n]) for n in rest.nodes[1:-1]}


def test_progress_never_goes_backwards_nor_jumps(street) -> None:
    _, _, geom = street
    matcher = RouteMatcher(geom, T0)
    rng = np.random.default_rng(7)
    at = T0
    last = 0.0
    for k in range(1, 30):
        at = T0 + dt.timedelta(seconds=5 * k)
        m = matcher.update(_fix(600.0, 0.0, at, rng), now=at)  # parked at 600 m
        assert m.progress_m >= last
        last = m.progress_m
    assert last < 600.0 + 45.0
    # a fix 2 km ahead 5 s later is not believed beyond the plausible speed
    far = matcher.update(Fix(*_lonlat(2300.0, 0.0), at=at + dt.timedelta(seconds=5), accuracy_m=15),
                         now=at + dt.timedelta(seconds=5))
    assert far.progress_m <= last + matcher.max_speed_mps * 5 + 1e-6


def test_a_real_turn_off_is_detected_within_three_fixes(street) -> None:
    _, _, geom = street
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        matcher = RouteMatcher(geom, T0)
        t = 0.0
        x = 0.0
        while x < 6 * SPACING:  # along the route up to the side road at node 6
            t += 5.0
            x += 12.0 * 5.0
            at = T0 + dt.timedelta(seconds=t)
            assert not matcher.update(_fix(min(x, 6 * SPACING), 0.0, at, rng), now=at).off_route
        y = x - 6 * SPACING
        fixes = 0
        m = None
        while fixes < 3 and not (m and m.off_route):  # now north on the side road
            fixes += 1
            t += 5.0
            y += 12.0 * 5.0
            at = T0 + dt.timedelta(seconds=t)
            m = matcher.update(_fix(6 * SPACING, y, at, rng), now=at)
        assert m.off_route, f"seed {seed}: not detected after {fixes} fixes off the route"
        assert 6 not in m.passed_signals or m.progress_m > 6 * SPACING


def test_latency_is_extrapolated_and_delay_measured(street) -> None:
    _, path, geom = street
    matcher = RouteMatcher(geom, T0)
    speed = 10.0
    for k in range(1, 8):
        at = T0 + dt.timedelta(seconds=5 * k)
        m = matcher.update(Fix(*_lonlat(speed * 5 * k, 0.0), at=at, accuracy_m=5.0),
                           now=at + dt.timedelta(seconds=2))
    assert m.now_progress_m == pytest.approx(m.progress_m + 2 * m.speed_mps)
    assert m.speed_mps == pytest.approx(speed, rel=0.15)
    planned = geom.planned_time_at(m.progress_m)
    assert m.delay_s == pytest.approx(35.0 - planned, abs=1e-6)
    rest = remaining_path(path, m, geom)
    assert rest.nodes[0] == path.nodes[rest.extra["from_edge"]]
    assert rest.times[0] == 0.0
    assert rest.extra["offset_m"] == pytest.approx(m.now_progress_m - rest.extra["from_edge"] * SPACING,
                                                   abs=1.0)
