"""A run keeps the priority it holds on its way: a re-plan neither drops its windows nor
re-plans an extension the controller is already running as a phase to cut again."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

import routing.arrivals as arrivals_module
from routing.arrivals import WIDEN, predict, residual_waits, timed_wave
from routing.controller import current_requests, windows_from_wave
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


def test_a_run_keeps_the_priority_it_holds(route, monkeypatch) -> None:  # noqa: ANN001
    svc, path = route
    speeds = svc.eta_speeds("fire")
    arrivals = predict(svc.network, path, speeds, at=DEPART, tz=svc.tz)
    # the limits would leave it slower with priority than without
    monkeypatch.setattr(arrivals_module, "honest_etas", lambda *a, **k: (300.0, 200.0))
    fresh = timed_wave(svc.network, arrivals, speeds, run_id="r", tz=svc.tz)
    assert not fresh.priority and not fresh.windows("r")
    assert fresh.eta_s == fresh.eta_without_priority_s == 200.0
    kept = timed_wave(svc.network, arrivals, speeds, run_id="r", tz=svc.tz, keep_priority=True)
    assert kept.priority and kept.windows("r")
    assert (kept.eta_s, kept.eta_without_priority_s) == (300.0, 200.0)  # said as it is


def test_an_extension_already_running_is_not_cut_again(route) -> None:  # noqa: ANN001
    svc, path = route
    network = svc.network
    arrivals = predict(network, path, svc.eta_speeds("fire"), at=DEPART, tz=svc.tz)
    wave = plan_green_wave(network, path, DEPART.timestamp(), clock_s=arrivals.clock_s,
                           arrival_s=arrivals.arrival_s, widen=WIDEN)
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
