"""Priority requests within controller limits, on a hand-made two-phase plan."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from routing.controller import (
    Limits,
    PriorityWindow,
    current_requests,
    diff_requests,
    min_service_s,
    plan_request,
    release_request,
    state_at,
)
from routing.network import SignalPlan

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 23, tzinfo=UTC)
#: main 0-50 s green, 50-55 change; cross 55-85 green, 85-90 change (cycle 90 s)
PLAN = SignalPlan(node=1, cycle_s=90.0, offset_s=0.0, phases=(
    {"name": "main", "approaches": [[5, 1, 0]], "green_s": 50.0, "yellow_s": 3.0,
     "all_red_s": 2.0, "min_green_s": 12.4, "ped_clearance_s": 10.4},
    {"name": "cross", "approaches": [[7, 1, 0]], "green_s": 30.0, "yellow_s": 3.0,
     "all_red_s": 2.0, "min_green_s": 10.0, "ped_clearance_s": 5.8},
))


def T(s: float) -> dt.datetime:
    return DAY + dt.timedelta(seconds=s)


def S(t: dt.datetime) -> float:
    return (t - DAY).total_seconds()


def window(phase: int, start: float, end: float, arrival: float | None = None,
           run: str = "fire-1") -> PriorityWindow:
    return PriorityWindow(run, 1, phase, T(start), T(end), T(end - 4 if arrival is None else arrival))


def test_min_service_is_min_green_or_walk_plus_clearance() -> None:
    assert min_service_s(PLAN, 0) == pytest.approx(7.0 + 10.4)
    assert min_service_s(PLAN, 1) == pytest.approx(7.0 + 5.8)
    assert min_service_s(PLAN, 1, Limits(min_green_s=15.0)) == pytest.approx(15.0)
    # clearance allowed to run into yellow + all-red: the plan's minimum green
    assert min_service_s(PLAN, 0, Limits(ped_clearance_in_green=False)) == pytest.approx(12.4)


def test_green_over_the_window_needs_nothing() -> None:
    r = plan_request(PLAN, window(0, 10, 20), now=T(0), tz=UTC)
    assert r.action == "none" and r.takeover_at is None and r.residual_wait_s == 0
    assert r.schedule == ()


def test_extension_holds_and_recovers_in_step() -> None:
    r = plan_request(PLAN, window(0, 45, 58), now=T(0), tz=UTC)
    assert r.action == "extend"
    assert S(r.takeover_at) == pytest.approx(50.0)
    assert S(r.green_end) == pytest.approx(58.0)
    assert r.residual_wait_s == 0
    assert r.recovery.method == "shorten" and r.recovery.offset_error_s == pytest.approx(8.0)
    # back on the fixed-time plan: the phase after the recovery (cross, which follows main)
    # starts where the plan starts it
    assert (S(r.recovery.resume_at) - PLAN.phase_start(1)) % PLAN.cycle_s == pytest.approx(0.0, abs=1e-6)


def _check_limits(r, limits: Limits = Limits()) -> None:
    """Every phase in the schedule runs its minimum service, changes go through yellow and
    all-red, the intervals follow each other without gaps."""
    for a, b in zip(r.schedule, r.schedule[1:], strict=False):
        assert b.green_start == a.end
        assert (a.yellow_s, a.all_red_s) == (3.0, 2.0)
        assert a.green_s >= min_service_s(PLAN, a.phase, limits) - 1e-6
    if r.schedule:
        assert r.schedule[-1].green_s >= min_service_s(PLAN, r.schedule[-1].phase, limits) - 1e-6
        assert r.recovery.resume_at == r.schedule[-1].end


@pytest.mark.parametrize("start", np.arange(0.0, 180.0, 2.5).tolist())
@pytest.mark.parametrize("phase", [0, 1])
def test_limits_hold_for_any_window(phase: int, start: float) -> None:
    limits = Limits(max_preempt_s=60.0)
    r = plan_request(PLAN, window(phase, start, start + 14), now=T(0), tz=UTC, limits=limits)
    _check_limits(r, limits)
    if r.takeover_at is not None:
        # no green longer than the pre-emption limit beyond the plan's own green
        normal_end = PLAN.green_window(phase, S(r.green_end) - 1e-6)[1]
        assert (S(r.green_end) - S(r.takeover_at) <= limits.max_preempt_s + 1e-6
                or S(r.green_end) == pytest.approx(normal_end))
    for c in r.cut:
        if c["how"] == "cut":
            assert c["green_s"] >= c["min_service_s"] - 1e-6
    # the green the vehicle gets starts at most the residual wait after the window start
    assert S(r.green_start) <= start + r.residual_wait_s + 1e-6


def test_cut_waits_for_minimum_service_and_reports_residual_wait() -> None:
    # asked at 88 (cross's green is over, so it cannot be extended) for green at 95:
    # main's green begins at 90 and must run 17.4 s, so cross cannot be green before 112.4
    r = plan_request(PLAN, window(1, 95, 110), now=T(88), tz=UTC)
    assert r.action == "early"
    assert S(r.green_start) == pytest.approx(90 + 17.4 + 5.0)
    assert r.residual_wait_s == pytest.approx(112.4 - 95)
    assert r.cut[0]["how"] == "cut" and r.cut[0]["green_s"] == pytest.approx(17.4)
    # asked earlier, while cross was still green, the controller holds cross instead
    held = plan_request(PLAN, window(1, 95, 110), now=T(60), tz=UTC)
    assert held.action == "extend" and held.residual_wait_s == 0


def test_short_cycle_when_the_hold_would_be_too_long() -> None:
    # cross wanted at 100-128 (arrival 127), asked at 0: holding cross from 85 would take
    # 43 s > 40 s; main cannot be cut before 107.4 (it starts at 90). Instead cross ends
    # early at 72.6 (after its minimum), main runs its minimum service, cross is back at 100.
    limits = Limits(max_preempt_s=40.0)
    r = plan_request(PLAN, window(1, 100, 128, arrival=127), now=T(0), tz=UTC, limits=limits)
    assert r.action == "early" and r.residual_wait_s == 0
    assert S(r.green_start) == pytest.approx(100.0)
    assert S(r.takeover_at) == pytest.approx(100.0 - 5 - min_service_s(PLAN, 0) - 5)
    assert [c["how"] for c in r.cut] == ["cut", "cut"]
    _check_limits(r, limits)


def test_max_preemption_cuts_the_hold_and_leaves_a_wait() -> None:
    limits = Limits(max_preempt_s=60.0)
    r = plan_request(PLAN, window(0, 45, 130, arrival=126), now=T(0), tz=UTC, limits=limits)
    assert r.action == "extend"
    assert S(r.hold_limit) == pytest.approx(110.0)
    assert S(r.green_end) == pytest.approx(110.0)
    assert r.residual_wait_s > 0
    # the vehicle gets green again when the recovery serves main after cross's minimum
    assert r.residual_wait_s >= 110 + 5 + min_service_s(PLAN, 1) + 5 - 126 - 1e-6
    _check_limits(r, limits)


def test_update_keeps_takeover_and_release_ends_green_after_min_service() -> None:
    first = plan_request(PLAN, window(1, 20, 35), now=T(0), tz=UTC)
    assert first.action == "early"
    take = first.takeover_at
    # the vehicle is late: at t=30 the window moves to [20, 50]
    later = plan_request(PLAN, window(1, 20, 50), now=T(30), tz=UTC, active=first)
    assert later.takeover_at == take and S(later.green_end) == pytest.approx(50.0)
    # passed at t=40: green ends now (it has run its minimum)
    done = release_request(PLAN, later, now=T(40), tz=UTC)
    assert S(done.green_end) == pytest.approx(40.0)
    _check_limits(done)
    assert state_at(done, T(41)) == (1, "yellow")
    assert state_at(done, T(44)) == (1, "all_red")
    assert state_at(done, T(46))[1] == "green"
    assert state_at(done, done.recovery.resume_at) is None


def test_two_runs_on_conflicting_phases_wait_in_dispatch_order() -> None:
    plans = {1: PLAN}
    a = window(1, 20, 35, run="fire-1")
    b = window(0, 30, 45, run="fire-2")
    reqs = current_requests(plans, [a, b], now=T(0), tz=UTC)
    assert [r.runs for r in reqs] == [("fire-1",), ("fire-2",)]
    first, second = reqs
    assert second.conflicts and second.conflicts[0]["with"] == ["fire-1"]
    assert second.green_start >= first.green_end + dt.timedelta(seconds=5)
    assert second.residual_wait_s >= second.conflicts[0]["wait_s"]
    # same phase, overlapping: one request for both
    shared = current_requests(plans, [a, window(1, 25, 40, run="fire-3")], now=T(0), tz=UTC)
    assert len(shared) == 1 and shared[0].runs == ("fire-1", "fire-3")


def test_messages_and_change_events() -> None:
    plans = {1: PLAN}
    old = current_requests(plans, [window(1, 20, 35)], now=T(0), tz=UTC)
    msg = old[0].to_json()
    assert json.loads(json.dumps(msg)) == msg
    assert msg["id"] == "1:fire-1:1" and msg["action"] == "early"
    assert msg["takeover_at"].endswith("+00:00") and msg["schedule"]
    new = current_requests(plans, [window(1, 20, 45), window(0, 200, 210, run="fire-2")],
                           now=T(0), tz=UTC)
    events = diff_requests(old, new)
    assert [(e["event"], e["id"]) for e in events] == [("changed", "1:fire-1:1"), ("added", "1:fire-2:0")]
    assert diff_requests(new, new[1:]) == [{"event": "removed", "id": "1:fire-1:1", "request": None}]


def test_far_windows_are_announced_then_planned_and_passed_runs_released() -> None:
    plans = {1: PLAN}
    w = window(1, 100, 115)
    far = current_requests(plans, [w], now=T(0), tz=UTC, horizon_s=40.0)
    assert far[0].action == "pending" and far[0].takeover_at is None
    near = current_requests(plans, [w], now=T(70), tz=UTC, horizon_s=40.0,
                            active={r.key: r for r in far})
    assert near[0].action in ("extend", "early") and near[0].takeover_at is not None
    running = {r.key: r for r in near}
    # at 108 the run has passed: no window any more; its green ends after the minimum
    # service and the request stays until the junction is back in coordination
    left = current_requests(plans, [], now=T(108), tz=UTC, active=running)
    assert [r.key for r in left] == [near[0].key]
    assert S(left[0].green_end) == pytest.approx(max(108.0, S(near[0].green_start)
                                                     + min_service_s(PLAN, 1)))
    _check_limits(left[0])
    # another run's window at the junction is planned after it
    other = current_requests(plans, [window(0, 115, 125, run="fire-2")], now=T(108), tz=UTC,
                             active=running)
    assert len(other) == 2
    assert max(r.takeover_at or T(0) for r in other) >= left[0].takeover_at
