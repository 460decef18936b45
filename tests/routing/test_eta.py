"""Honest ETAs on a hand-made L-shaped street: standing start, a turn, a red, residual waits."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from routing.engine import PathEngine
from routing.eta import EtaModel, edge_speeds, eta, pace_factors, turn_speeds
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
    expected = 90.0 - t_stop + model.startup_lost_s + (
        queue * model.saturation_headway_s * model.queue_share)
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


def _no_queue(**kwargs: float) -> EtaModel:
    return EtaModel(queue_share=0.0, startup_lost_s=0.0, **kwargs)


def test_pace_factors_are_ascending_quantiles_of_mean_one() -> None:
    f = pace_factors(0.2, 7)
    assert len(f) == 7 and np.all(np.diff(f) > 0) and np.mean(f) == pytest.approx(1.0)
    # the median and the lowest of 7: z = 0 and z = -1.4652 (the 1/14 quantile)
    assert f[3] / f[0] == pytest.approx(math.exp(0.2 * 1.4652), rel=1e-4)
    assert pace_factors(0.0, 5) == (1.0,) * 5 and pace_factors(0.3, 1) == (1.0,)


def test_uncertain_arrivals_without_spread_are_the_known_ones(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    for clock in (0.0, 30.0, 45.0, 70.0):
        known = eta(net, path, speeds, priority=False, clock_s=clock, arrivals="known")
        same = eta(net, path, speeds, priority=False, clock_s=clock, arrivals="uncertain",
                   model=EtaModel(pace_cv=0.0, members=5))
        assert same.eta_s == pytest.approx(known.eta_s)
        np.testing.assert_allclose(same.arrival_s, known.arrival_s)
        np.testing.assert_allclose(same.waits_s, known.waits_s)
        # a pace scales the driving time the phases are met at
        slow = eta(net, path, speeds, priority=False, clock_s=clock, pace=1.3)
        unc = eta(net, path, speeds, priority=False, clock_s=clock, pace=1.3, arrivals="uncertain",
                  model=EtaModel(pace_cv=0.0, members=3))
        assert slow.arrival_s[1] == pytest.approx(1.3 * known.arrival_s[1])
        assert unc.eta_s == pytest.approx(slow.eta_s)


def test_uncertain_arrivals_blur_the_phase_towards_the_random_expectation(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    clocks = np.arange(0.0, 90.0, 5.0)
    rnd = eta(net, path, speeds, priority=False, arrivals="random", model=_no_queue())
    known = [eta(net, path, speeds, priority=False, clock_s=c, model=_no_queue()).eta_s
             for c in clocks]
    spreads = []
    for cv in (0.0, 0.2, 0.5, 1.0):
        model = _no_queue(pace_cv=cv, members=51)
        etas = [eta(net, path, speeds, priority=False, clock_s=c, arrivals="uncertain",
                    model=model).eta_s for c in clocks]
        spreads.append(max(etas) - min(etas))
        # over a cycle of departures, the uncertainty moves the delay, it adds none
        assert np.mean(etas) == pytest.approx(np.mean(known), rel=0.02)
    # the departure clock tells less and less about the wait at the signal
    assert all(a > b for a, b in itertools.pairwise(spreads))
    assert spreads[-1] < 0.5 * spreads[0]
    # and whatever the clock, the ETA comes near the random arrival's (the known one's
    # misses it by more than the random wait at some clocks)
    assert max(abs(e - rnd.eta_s) for e in known) > rnd.waits_s[1]
    assert all(abs(e - rnd.eta_s) < rnd.waits_s[1] for e in etas)


def test_the_uncertain_eta_grows_with_the_queue_and_the_start_up(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    for clock in (0.0, 30.0, 60.0):
        etas = [eta(net, path, speeds, priority=False, clock_s=clock, arrivals="uncertain",
                    model=EtaModel(queue_share=q, startup_lost_s=s, pace_cv=0.3)).eta_s
                for q, s in ((0.0, 0.0), (0.0, 2.0), (0.5, 2.0), (1.0, 2.0), (1.0, 4.0))]
        assert all(a <= b + 1e-9 for a, b in itertools.pairwise(etas))


@pytest.mark.parametrize("bad", [{"pace_cv": -0.1}, {"pace_cv": math.nan}, {"members": 0},
                                 {"queue_share": 1.5}, {"queue_share": -0.1}])
def test_bad_model_parameters_raise(bad: dict) -> None:
    with pytest.raises(ValueError):
        EtaModel(**bad)


def test_a_bad_pace_raises(net) -> None:
    speeds = edge_speeds(net, Profile.emergency("fire"))
    path = _path(net, [0, 1, 2])
    for pace in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError):
            eta(net, path, speeds, priority=False, arrivals="uncertain", pace=pace)
