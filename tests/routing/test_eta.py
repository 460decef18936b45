"""Honest ETAs on a hand-made L-shaped street: standing start, a turn, a red, residual waits."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from routing.engine import PathEngine
from routing.eta import EtaModel, edge_speeds, eta, turn_speeds
from routing.network import RoadNetwork, SignalPlan
from routing.profiles import Profile

LAT0 = 31.2
M_LON = 111_320.0 * math.cos(math.radians(LAT0))
M_LAT = 110_540.0
#: main green 0-50 s, change 50-55, cross 55-85, change 85-90
PLAN = ({"name": "main", "approaches": [[0, 1, 0]], "green_s": 50.0, "yellow_s": 3.0, "all_red_s": 2.0},
        {"name": "cross", "approaches": [], "green_s": 30.0, "yellow_s": 3.0, "all_red_s": 2.0})


@pytest.fixture(scope="module")
def net():
    """0 -(500 m east)- 1 -(500 m east)- 2, and 1 -(500 m north)- 3 (a left turn at 1)."""
    g = nx.MultiDiGraph()
    pts = {0: (0, 0), 1: (500, 0), 2: (1000, 0), 3: (500, 500)}
    for n, (x, y) in pts.items():
        g.add_node(n, x=121.4 + x / M_LON, y=LAT0 + y / M_LAT)
    for a, b in ((0, 1), (1, 2), (1, 3)):
        for u, v in ((a, b), (b, a)):
            g.add_edge(u, v, 0, length=500.0, speed_kph=60.0, highway="primary", lanes=2)
    return RoadNetwork(g, {1: SignalPlan(1, 90.0, 0.0, PLAN)})


def _path(net, nodes):
    return PathEngine(net, Profile.emergency("fire")).path_from_nodes([net.index(n) for n in nodes])


def test_standing_start_costs_what_kinematics_say(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    v = float(speeds[path.edges[0]])
    res = eta(net, path, speeds, priority=True, clock_s=0.0)
    model = EtaModel()
    # accelerate from 0 and brake to 0 at the end: v / 2a + v / 2d more than cruising
    assert res.eta_s == pytest.approx(path.duration_s + v / (2 * model.accel_mps2)
                                      + v / (2 * model.decel_mps2), rel=1e-6)
    assert res.cruise_s == pytest.approx(path.duration_s)
    assert res.waits_s.sum() == 0


def test_a_turn_is_slower_than_straight_on(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    straight, left = _path(net, [0, 1, 2]), _path(net, [0, 1, 3])
    assert turn_speeds(net, left)[1] == pytest.approx(math.sqrt(3.0 * 20.0))
    assert math.isinf(turn_speeds(net, straight)[1])
    assert (eta(net, left, speeds).eta_s > eta(net, straight, speeds).eta_s + 1.0)


def test_without_priority_waits_for_green_and_the_queue(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    model = EtaModel()
    # leave at clock 30: the stop line is reached during main's red (50-90)
    res = eta(net, path, speeds, priority=False, clock_s=30.0, model=model)
    t_stop = 30.0 + res.arrival_s[1]
    assert 50.0 < t_stop < 90.0
    queue = 650.0 / 3600.0 * (t_stop - 50.0)  # primary: 650 veh/h/lane since the red began
    expected = 90.0 - t_stop + model.startup_lost_s + queue * model.saturation_headway_s
    assert res.waits_s[1] == pytest.approx(expected, rel=1e-6)
    # leaving so as to arrive in the green once the queue has gone: no wait
    green = eta(net, path, speeds, priority=False, clock_s=-10.0)
    assert green.waits_s[1] == 0.0
    # the random-arrival ETA is at least Webster's uniform delay longer than the green wave
    rnd = eta(net, path, speeds, priority=False, arrivals="random")
    assert rnd.eta_s - eta(net, path, speeds).eta_s >= 40.0 ** 2 / 180.0


def test_residual_waits_stop_the_vehicle(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    free = eta(net, path, speeds)
    held = eta(net, path, speeds, residual_waits={1: 6.0})
    v = float(speeds[path.edges[1]])
    model = EtaModel()
    # the wait, plus braking to a stop and starting again
    assert held.eta_s == pytest.approx(free.eta_s + 6.0 + v / (2 * model.accel_mps2)
                                       + v / (2 * model.decel_mps2), rel=1e-6)
    assert held.waits_s[1] == 6.0
    with pytest.raises(ValueError):
        eta(net, path, speeds, priority=False, arrivals="sometimes")
