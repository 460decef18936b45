"""Signal-plan arithmetic, and green waves around other runs' windows: the priority rule,
absolute times across midnight, and never slower than no priority."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine import Path
from routing.greenwave import (
    HOLD_S,
    LEAD_BASE_S,
    PRIORITY_RULE,
    ActiveWindows,
    Window,
    eta_without_priority,
    plan_green_wave,
)
from routing.network import RoadNetwork, SignalPlan, expected_signal_delay
from routing.profiles import clock_seconds

TZ = ZoneInfo("Asia/Shanghai")
PLAN = SignalPlan(node=1, cycle_s=90.0, offset_s=10.0, phases=(
    {"name": "main", "approaches": [[5, 1, 0]], "green_s": 50.0, "yellow_s": 3.0, "all_red_s": 2.0},
    {"name": "cross", "approaches": [[7, 1, 0]], "green_s": 30.0, "yellow_s": 3.0, "all_red_s": 2.0},
))


def test_green_windows_follow_offset_and_phase_order() -> None:
    assert PLAN.green_window(0, 10.0) == (10.0, 60.0)
    assert PLAN.green_window(1, 10.0) == (65.0, 95.0)
    assert PLAN.green_window(0, 61.0) == (100.0, 150.0)
    assert PLAN.wait_at(0, 30.0) == 0.0
    assert PLAN.wait_at(0, 61.0) == pytest.approx(39.0)
    assert PLAN.phase_of(7) == 1 and PLAN.phase_of(5) == 0 and PLAN.phase_of(99) == 0


def test_expected_delay_is_webster_uniform_term() -> None:
    assert expected_signal_delay(PLAN, 0) == pytest.approx((90 - 50) ** 2 / 180)
    assert expected_signal_delay(PLAN, 1) > expected_signal_delay(PLAN, 0)


# -- a hand-made corridor: 1 -> 2 -> 3 -> 4, signals at 2 and 3 (cross streets from 5, 6) --
def _corridor() -> RoadNetwork:
    g = nx.MultiDiGraph()
    for n, (x, y) in {1: (0.000, 0), 2: (0.004, 0), 3: (0.008, 0), 4: (0.012, 0),
                      5: (0.004, 0.004), 6: (0.008, 0.004)}.items():
        g.add_node(n, x=121.4 + x, y=31.2 + y)
    for u, v in [(1, 2), (2, 3), (3, 4), (5, 2), (6, 3)]:
        for a, b in ((u, v), (v, u)):
            g.add_edge(a, b, 0, length=400.0, speed_kph=36.0, highway="primary", lanes=2)
    plans = {n: SignalPlan(node=n, cycle_s=90.0, offset_s=off, phases=(
        {"name": "main", "approaches": [[n - 1, n, 0]], "green_s": 40.0, "yellow_s": 3.0,
         "all_red_s": 2.0},
        {"name": "cross", "approaches": [[n + 3, n, 0]], "green_s": 40.0, "yellow_s": 3.0,
         "all_red_s": 2.0})) for n, off in ((2, 0.0), (3, 30.0))}
    return RoadNetwork(g, plans)


NET = _corridor()


def _path(*node_ids: int, seconds_per_edge: float = 40.0) -> Path:
    nodes = [NET.index(n) for n in node_ids]
    edges = [int(NET.edges_between(a, b)[0]) for a, b in zip(nodes, nodes[1:], strict=False)]
    times = np.arange(len(nodes), dtype=float) * seconds_per_edge
    return Path(nodes=nodes, edges=edges, times=times, length_m=400.0 * len(edges))


MAIN = _path(1, 2, 3, 4)   # crosses 2 and 3 on "main"
CROSS = _path(5, 2, 1)     # crosses 2 on "cross"


def _at(hour: int, minute: int, second: float = 0.0, day: int = 23) -> tuple[float, float]:
    when = dt.datetime(2026, 11, day, hour, minute, tzinfo=TZ) + dt.timedelta(seconds=second)
    return when.timestamp(), clock_seconds(when, TZ)


def test_windows_open_lead_before_the_arrival_and_close_after_it() -> None:
    depart, clock = _at(8, 0)
    wave = plan_green_wave(NET, MAIN, depart, clock_s=clock)
    assert [s.node for s in wave.signals] == [2, 3] and wave.priority and not wave.conflicts
    for sig, arrival in zip(wave.signals, (40.0, 80.0), strict=True):
        assert sig.arrival_s == pytest.approx(arrival)
        assert sig.lead_s >= LEAD_BASE_S and sig.held
        assert sig.green_start_s == pytest.approx(arrival - sig.lead_s)
        assert sig.green_end_s == pytest.approx(arrival + HOLD_S)
    assert wave.eta_s == pytest.approx(120.0)
    assert wave.eta_s <= wave.eta_without_priority_s
    windows = wave.windows("a", "inc-1")
    assert [(w.node, w.incident_id) for w in windows] == [(2, "inc-1"), (3, "inc-1")]
    assert windows[0].start == pytest.approx(depart + 40.0 - wave.signals[0].lead_s)


def test_the_first_dispatched_keeps_its_window() -> None:
    depart, clock = _at(8, 0)
    first = plan_green_wave(NET, CROSS, depart, clock_s=clock)
    active = ActiveWindows(first.windows("a"))
    # the second vehicle reaches junction 2 on "main" at the very moment the first does
    second = plan_green_wave(NET, MAIN, depart, clock_s=clock, active=active, run_id="b")
    (conflict,) = second.conflicts
    assert conflict["node"] == 2 and conflict["with"] == ["a"] and conflict["delay_s"] > 0
    assert conflict["rule"] == PRIORITY_RULE and "first dispatched" in conflict["rule"]
    sig = second.signals[0]
    blocker = first.windows("a")[0]
    crossing = depart + sig.arrival_s
    assert not blocker.start <= crossing < blocker.end  # never through the first one's green
    if sig.held:  # its own window starts when the first one's ends
        assert depart + sig.green_start_s >= blocker.end - 1e-6
    # the delay moves the later signal too, and the ETA stays within no priority
    assert second.signals[1].arrival_s >= 80.0 + conflict["delay_s"] - 1e-6
    assert second.eta_s <= second.eta_without_priority_s
    assert [w.start for w in active.at(2)] == [blocker.start]  # the first kept its window


def test_same_phase_shares_the_green_and_own_windows_are_replaced() -> None:
    depart, clock = _at(8, 0)
    active = ActiveWindows(plan_green_wave(NET, MAIN, depart, clock_s=clock).windows("a"))
    twin = plan_green_wave(NET, MAIN, depart + 3, clock_s=clock + 3, active=active, run_id="b")
    assert twin.conflicts == [] and all(s.held for s in twin.signals)
    # a re-plan of "a" itself does not yield to its own old windows
    again = plan_green_wave(NET, CROSS, depart, clock_s=clock, active=active, run_id="a")
    assert again.conflicts == []
    active.add("a", again.windows("a"))
    assert {w.node for w in active} == {2} and len(active) == 1


def test_runs_straddling_midnight_conflict_in_absolute_time() -> None:
    """Departures at 23:59:50 and 00:00:00: both reach junction 2 in the same seconds
    although their clock times are a day apart."""
    d1, c1 = _at(23, 59, 50.0)
    d2, c2 = _at(0, 0, 0.0, day=24)
    assert c1 > 86_000 and c2 == 0.0 and d2 - d1 == 10.0
    first = plan_green_wave(NET, CROSS, d1, clock_s=c1)
    second = plan_green_wave(NET, MAIN, d2, clock_s=c2, active=ActiveWindows(first.windows("a")),
                             run_id="b")
    assert [c["node"] for c in second.conflicts] == [2]
    w = first.windows("a")[0]
    crossing = d2 + second.signals[0].arrival_s
    assert not w.start <= crossing < w.end


def test_a_blocked_priority_window_falls_back_to_the_normal_plan() -> None:
    """When the granted window would make it wait longer than the fixed-time green, the
    vehicle crosses on the normal plan there (no window held) and says so."""
    depart, clock = _at(8, 0)
    arrive = depart + 40.0
    # another run holds "cross" at junction 2 for two minutes around the arrival
    blocker = Window("long", 2, "cross", arrive - 20.0, arrive + 100.0)
    # with the normal plan "main" is green at junction 2 at arrive + 110 at the latest
    wave = plan_green_wave(NET, MAIN, depart, clock_s=clock, active=ActiveWindows([blocker]),
                           run_id="b")
    sig = wave.signals[0]
    assert wave.conflicts[0]["resolution"] in {"crosses on the normal signal plan",
                                              "waits for the granted window, then gets its own"}
    assert not blocker.start <= depart + sig.arrival_s < blocker.end
    assert wave.eta_s <= wave.eta_without_priority_s


def test_no_priority_waits_for_the_other_runs_windows_too() -> None:
    """Blocked everywhere, priority gains nothing and loses nothing: the ETA without
    priority counts the other runs' windows (the fixed-time plans alone are faster, but
    no vehicle can cross a junction another run holds on another phase)."""
    depart, clock = _at(8, 0)
    fixed_only, _ = eta_without_priority(NET, MAIN, clock)
    blockers = [Window("x", n, "cross", depart - 60, depart + 3600) for n in (2, 3)]
    wave = plan_green_wave(NET, MAIN, depart, clock_s=clock, active=ActiveWindows(blockers),
                           run_id="b")
    assert wave.eta_without_priority_s > 3600 > fixed_only
    assert wave.eta_s == pytest.approx(wave.eta_without_priority_s)
    assert [c["node"] for c in wave.conflicts] == [2]  # after junction 2 it is clear
    for sig in wave.signals:
        assert not depart - 60 <= depart + sig.arrival_s < depart + 3600


# -- the property: whatever else is active, no plan is slower than no priority -----------
_routes = st.sampled_from([MAIN, CROSS, _path(4, 3, 2, 1), _path(6, 3, 2, 5), _path(5, 2, 3, 6)])


@settings(max_examples=300, deadline=None)
@given(route=_routes, base=st.integers(-3600, 3600),
       others=st.lists(st.tuples(_routes, st.floats(-300, 300)), max_size=8))
def test_never_slower_than_no_priority_on_the_corridor(route: Path, base: int,
                                                       others: list[tuple[Path, float]]) -> None:
    _never_slower(NET, route, base, others)


def _never_slower(net: RoadNetwork, route: Path, base: int,
                  others: list[tuple[Path, float]]) -> None:
    """Plan ``others`` in order (as the store does), then ``route``; ``base`` is seconds
    around local midnight of 24 Nov."""
    midnight = dt.datetime(2026, 11, 24, tzinfo=TZ)
    active = ActiveWindows()
    plans = []
    for i, (path, offset) in enumerate([*others, (route, 0.0)]):
        when = midnight + dt.timedelta(seconds=base + offset)
        wave = plan_green_wave(net, path, when.timestamp(), clock_s=clock_seconds(when, TZ),
                               active=active, run_id=f"r{i}")
        assert wave.eta_s <= wave.eta_without_priority_s + 1e-9
        # granted windows are kept: a new window never overlaps another phase's window
        for w in wave.windows(f"r{i}"):
            assert not any(o.overlaps(w.start, w.end) for o in active.at(w.node)
                           if o.phase != w.phase)
        active.add(f"r{i}", wave.windows(f"r{i}"))
        plans.append(wave)


@pytest.fixture(scope="module")
def city_paths(city) -> tuple[RoadNetwork, list[Path]]:  # noqa: ANN001
    """Fire-engine paths between a spread of signalized junctions (crossing each other)."""
    net = city.routing.network
    engine = city.routing.engine("fire")
    nodes = [net.index(int(n)) for n in city.layers["signals"].data["node"].iloc[::4]]
    nodes = [i for i in nodes if net.routable[i]]
    paths = [engine.route(a, b) for a, b in zip(nodes[::2], nodes[1::2][::-1], strict=False)]
    return net, [p for p in paths if len(p.nodes) > 3]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), base=st.integers(-7200, 7200))
def test_never_slower_than_no_priority_on_the_city(city_paths, data, base: int) -> None:  # noqa: ANN001
    net, paths = city_paths
    pick = st.sampled_from(paths)
    others = data.draw(st.lists(st.tuples(pick, st.floats(-300, 300)), max_size=30))
    _never_slower(net, data.draw(pick), base, others)
