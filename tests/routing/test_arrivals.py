"""The one planner of runs, dispatch and the SUMO validation: predicted arrivals, widened
windows, honest ETAs, the run's pace, and the priority a run keeps on its way."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import routing.arrivals as arrivals_module
from routing.arrivals import (
    PACE_BOUNDS,
    WIDEN,
    Arrivals,
    honest_etas,
    predict,
    residual_waits,
    timed_wave,
)
from routing.avl import Fix, RouteGeometry, RouteMatcher
from routing.controller import current_requests, windows_from_wave
from routing.eta import EtaModel, eta
from routing.greenwave import plan_green_wave
from twin import City

TZ = ZoneInfo("Asia/Shanghai")
DEPART = dt.datetime(2026, 11, 23, 8, 0, tzinfo=TZ)
INCIDENT = {"lon": 121.484, "lat": 31.238}


@pytest.fixture(scope="module")
def route(city: City):  # noqa: ANN201
    svc = city.routing
    engine, _ = svc.engine_at("fire", depart_at=DEPART)
    path = engine.route(svc.station_node("F1"), svc.locate(INCIDENT))
    return svc, path


def test_the_signals_of_a_route_are_its_signalized_inner_nodes(route) -> None:  # noqa: ANN001
    svc, path = route
    network = svc.network
    last = len(path.nodes) - 1
    assert network.signal_at(path, 0) is None and network.signal_at(path, last) is None
    inner = [i for i in range(1, last) if int(network.node_ids[path.nodes[i]]) in network.plans]
    assert inner and [i for i in range(last + 1) if network.signal_at(path, i)] == inner
    for i in inner:
        plan, phase = network.signal_at(path, i)
        assert plan.node == int(network.node_ids[path.nodes[i]])
        assert phase == plan.phase_of(int(network.node_ids[path.nodes[i - 1]]),
                                      int(network.edge_key[path.edges[i - 1]]))


def test_arrivals_from_the_station_are_the_eta_model_with_priority(route) -> None:  # noqa: ANN001
    svc, path = route
    speeds = svc.eta_speeds("fire")
    arrivals = predict(svc.network, path, speeds, at=DEPART, tz=svc.tz)
    model = eta(svc.network, path, speeds, priority=True, clock_s=arrivals.clock_s)
    np.testing.assert_allclose(arrivals.arrival_s, model.arrival_s)
    assert arrivals.pace == 1.0 and arrivals.offset_m == 0.0
    # a standing start and the turns make it slower than cruising
    assert arrivals.arrival_s[-1] > path.duration_s


def test_windows_widen_with_the_time_to_the_arrival(route) -> None:  # noqa: ANN001
    svc, path = route
    arrivals = predict(svc.network, path, svc.eta_speeds("fire"), at=DEPART, tz=svc.tz)
    depart = DEPART.timestamp()
    narrow = plan_green_wave(svc.network, path, depart, clock_s=arrivals.clock_s,
                             arrival_s=arrivals.arrival_s)
    wide = plan_green_wave(svc.network, path, depart, clock_s=arrivals.clock_s,
                           arrival_s=arrivals.arrival_s, widen=WIDEN)
    assert wide.signals and len(wide.signals) == len(narrow.signals)
    for n, w in zip(narrow.signals, wide.signals, strict=True):
        assert w.arrival_s == pytest.approx(n.arrival_s)
        assert w.green_start_s == pytest.approx(n.green_start_s - WIDEN[0] * n.arrival_s)
        assert w.green_end_s == pytest.approx(n.green_end_s + WIDEN[1] * n.arrival_s)
    windows = wide.windows("r")
    assert all(w.start < w.arrival < w.end for w in windows)


@pytest.fixture(scope="module")
def planned(route):  # noqa: ANN001, ANN201
    """The route's arrivals from the station at DEPART and its widened green wave."""
    svc, path = route
    speeds = svc.eta_speeds("fire")
    arrivals = predict(svc.network, path, speeds, at=DEPART, tz=svc.tz)
    wave = plan_green_wave(svc.network, path, DEPART.timestamp(), clock_s=arrivals.clock_s,
                           arrival_s=arrivals.arrival_s, widen=WIDEN)
    return svc, path, speeds, arrivals, wave


def test_honest_etas_bracket_cruise_and_never_favour_priority_wrongly(planned) -> None:  # noqa: ANN001
    svc, path, speeds, arrivals, wave = planned
    with_p, without = honest_etas(svc.network, arrivals, wave, speeds, run_id="r", tz=svc.tz)
    assert path.duration_s < with_p
    assert arrivals.arrival_s[-1] <= with_p + 1e-6  # residual waits only add
    assert with_p <= without or not wave.priority


def test_the_pace_of_a_slow_engine_pushes_the_arrivals_back(route) -> None:  # noqa: ANN001
    svc, path = route
    speeds = svc.eta_speeds("fire")
    geometry = RouteGeometry.from_path(svc.network, path)
    planned = predict(svc.network, path, speeds, at=DEPART, tz=svc.tz)
    # the engine is where the model puts it at 60 s, but 120 s after leaving
    at_60 = float(np.interp(60.0, planned.arrival_s, geometry.node_m))
    matcher = RouteMatcher(geometry, DEPART)
    late = DEPART + dt.timedelta(seconds=120)
    for k in range(1, 25):  # fixes along the way at half the model's pace
        t = DEPART + dt.timedelta(seconds=5 * k)
        lon, lat = geometry.point_at(at_60 * k / 24)
        match = matcher.update(Fix(lon, lat, t, 5.0), now=t)
    assert match.at == late
    slow = predict(svc.network, path, speeds, at=late, tz=svc.tz, match=match, geometry=geometry,
                   route_depart_at=DEPART)
    assert slow.pace == pytest.approx(PACE_BOUNDS[1])
    assert slow.passed == match.passed_signals
    fresh = eta(svc.network, slow.path, speeds, priority=True, clock_s=slow.clock_s,
                start_speed_mps=slow.start_speed_mps, offset_m=slow.offset_m)
    np.testing.assert_allclose(slow.arrival_s, fresh.arrival_s * slow.pace)


def test_the_eta_without_priority_meets_the_plans_with_the_pace_uncertain(planned) -> None:  # noqa: ANN001
    svc, path, speeds, arrivals, wave = planned
    _, without = honest_etas(svc.network, arrivals, wave, speeds, run_id="r", tz=svc.tz)
    kwargs = {"priority": False, "clock_s": arrivals.clock_s}
    model = eta(svc.network, path, speeds, arrivals="uncertain", **kwargs)
    assert without == pytest.approx(max(model.eta_s, wave.eta_without_priority_s))
    # without spread it is the known-phase trajectory
    sure = EtaModel(pace_cv=0.0, members=1)
    _, known = honest_etas(svc.network, arrivals, wave, speeds, run_id="r", tz=svc.tz,
                           model=sure)
    assert known == pytest.approx(max(eta(svc.network, path, speeds, **kwargs).eta_s,
                                      wave.eta_without_priority_s))
    # a slow run meets the plans later: its trajectories are driven at its pace
    slow = Arrivals(path, arrivals.arrival_s * 1.3, DEPART, arrivals.clock_s, pace=1.3,
                    turns=arrivals.turns)
    _, slower = honest_etas(svc.network, slow, wave, speeds, run_id="r", tz=svc.tz)
    paced = eta(svc.network, path, speeds, arrivals="uncertain", pace=1.3, **kwargs)
    assert slower == pytest.approx(max(paced.eta_s, wave.eta_without_priority_s))
    assert paced.eta_s > model.eta_s


def test_a_run_keeps_the_priority_it_holds(planned, monkeypatch) -> None:  # noqa: ANN001
    """A re-plan on the way keeps the windows the controllers may be running."""
    svc, _, speeds, arrivals, _ = planned
    # the limits would leave it slower with priority than without
    monkeypatch.setattr(arrivals_module, "honest_etas", lambda *a, **k: (300.0, 200.0))
    fresh = timed_wave(svc.network, arrivals, speeds, run_id="r", tz=svc.tz)
    assert not fresh.priority and not fresh.windows("r")
    assert fresh.eta_s == fresh.eta_without_priority_s == 200.0
    kept = timed_wave(svc.network, arrivals, speeds, run_id="r", tz=svc.tz, keep_priority=True)
    assert kept.priority and kept.windows("r")
    assert (kept.eta_s, kept.eta_without_priority_s) == (300.0, 200.0)  # said as it is


def test_an_extension_already_running_is_not_cut_again(planned) -> None:  # noqa: ANN001
    """An open window's residual wait is planned as of its opening."""
    svc, _, _, _, wave = planned
    network = svc.network
    windows = windows_from_wave(network, wave, run_id="r", depart_at=DEPART)
    at_dispatch = {r.junction: r for r in current_requests(network.plans, windows, now=DEPART,
                                                           tz=svc.tz)}
    # a window whose green the controller extends past the plan's, before the arrival
    window, request = next(
        (w, at_dispatch[w.node]) for w in windows
        if at_dispatch[w.node].action == "extend" and at_dispatch[w.node].residual_wait_s == 0
        and w.start < at_dispatch[w.node].takeover_at < w.arrival)
    later = max(request.takeover_at, window.start) + dt.timedelta(seconds=1)
    shift = (later - DEPART).total_seconds()
    # the same windows, re-planned from ``later`` (times relative to it)
    replanned = replace(wave, signals=[
        replace(s, arrival_s=s.arrival_s - shift, green_start_s=s.green_start_s - shift,
                green_end_s=s.green_end_s - shift) for s in wave.signals])
    waits = residual_waits(network, replanned, run_id="r", at=later, tz=svc.tz)
    assert waits.get(window.node, 0.0) == 0.0
    # planned from scratch at ``later``, the plan's green is over and the phase running
    # would be cut at its minimum: the wait that made runs drop their priority
    scratch = current_requests(network.plans, [window], now=later, tz=svc.tz)
    assert scratch[0].residual_wait_s > 0
