"""Priority requests within controller limits, on a hand-made two-phase plan (and their
messages, also on the embedded city's plans)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import routing.controller
from routing.controller import (
    Limits,
    PriorityRequest,
    PriorityWindow,
    current_requests,
    diff_requests,
    min_service_s,
    plan_request,
    release_request,
    state_at,
    windows_for_route,
)
from routing.greenwave import HOLD_S, queue_clearance_lead
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


def test_phases_are_found_by_name() -> None:
    assert (PLAN.phase_index("main"), PLAN.phase_index("cross")) == (0, 1)
    assert PLAN.phase_index("left") is None
    assert [PLAN.phase_start(i) for i in range(2)] == [0.0, 55.0]


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
    # and a takeover never leaves a longer wait than the plan's own next green would
    normal_start = PLAN.green_window(phase, start)[0]
    assert r.residual_wait_s <= max(0.0, normal_start - start) + 1e-6


@pytest.mark.parametrize("start", np.arange(20.0, 40.0, 2.5).tolist())
def test_a_long_window_is_never_served_later_than_by_the_plan(start: float) -> None:
    # a 90 s window (an arrival far ahead, widened): cutting main early would hit the
    # pre-emption limit before the arrival and leave the vehicle waiting for a cross
    # green after the recovery; the plan's own cross green (55-85 s) serves it sooner, so a
    # takeover is taken only when it does better
    r = plan_request(PLAN, window(1, start, start + 90, start + 63), now=T(0), tz=UTC,
                     limits=Limits())
    normal_start = PLAN.green_window(1, start)[0]
    assert r.residual_wait_s <= max(0.0, normal_start - start) + 1e-6


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


def test_a_shared_request_goes_on_when_its_first_run_has_passed() -> None:
    plans = {1: PLAN}
    a, c = window(1, 20, 35, run="fire-1"), window(1, 25, 45, run="fire-3")
    shared = current_requests(plans, [a, c], now=T(10), tz=UTC)
    assert len(shared) == 1 and shared[0].runs == ("fire-1", "fire-3")
    running = {r.key: r for r in shared}
    assert shared[0].takeover_at <= T(30)
    # at 36 fire-1 has passed; fire-3, late, still wants green until 48
    later = current_requests(plans, [window(1, 25, 48, run="fire-3")], now=T(36), tz=UTC,
                             active=running)
    assert [r.key for r in later] == [shared[0].key]  # the same request, not a new one
    assert later[0].takeover_at == shared[0].takeover_at
    assert S(later[0].green_end) == pytest.approx(48.0) and later[0].residual_wait_s == 0
    _check_limits(later[0])


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


def test_the_interface_exports_every_name() -> None:
    assert sorted(routing.controller.__all__) == sorted([
        "Limits", "PriorityWindow", "Interval", "Recovery", "PriorityRequest", "min_service_s",
        "plan_request", "release_request", "current_requests", "diff_requests",
        "windows_for_route", "windows_from_wave", "state_at"])
    for name in routing.controller.__all__:
        assert getattr(routing.controller, name).__name__ == name


# -- the message read back (PriorityRequest.from_json) ----------------------------------
def _hand_made_requests() -> list[PriorityRequest]:
    """The requests of the tests above: every action, cuts, short cycles, the hold limit,
    updates and releases, conflicts and shared greens."""
    plans = {1: PLAN}
    out = [plan_request(PLAN, window(phase, start, start + 14), now=T(0), tz=UTC)
           for phase in (0, 1) for start in np.arange(0.0, 180.0, 7.5).tolist()]
    out += [plan_request(PLAN, window(1, 95, 110), now=T(88), tz=UTC),
            plan_request(PLAN, window(1, 100, 128, arrival=127), now=T(0), tz=UTC,
                         limits=Limits(max_preempt_s=40.0)),
            plan_request(PLAN, window(0, 45, 130, arrival=126), now=T(0), tz=UTC)]
    first = plan_request(PLAN, window(1, 20, 35), now=T(0), tz=UTC)
    later = plan_request(PLAN, window(1, 20, 50), now=T(30), tz=UTC, active=first)
    out += [first, later, release_request(PLAN, later, now=T(40), tz=UTC)]
    out += current_requests(plans, [window(1, 20, 35), window(0, 30, 45, run="fire-2"),
                                    window(1, 25, 40, run="fire-3")], now=T(0), tz=UTC)
    far = current_requests(plans, [window(1, 100, 115)], now=T(0), tz=UTC, horizon_s=40.0)
    near = current_requests(plans, [window(1, 100, 115)], now=T(70), tz=UTC, horizon_s=40.0,
                            active={r.key: r for r in far})
    out += far + near + current_requests(plans, [window(0, 115, 125, run="fire-2")], now=T(108),
                                         tz=UTC, active={r.key: r for r in near})
    return out


@pytest.fixture(scope="module")
def city_requests(city) -> list[PriorityRequest]:  # noqa: ANN001
    """Requests on the embedded city's plans: fire engines between signalized junctions,
    dispatched 6 s apart (so many share a green), planned at 08:00 and again 30 s
    later (greens taken over, updated, released), and announced within a 40 s horizon."""
    net = city.routing.network
    tz = city.routing.tz
    engine = city.routing.engine("fire")
    nodes = [net.index(int(n)) for n in city.layers["signals"].data["node"].iloc[::4]]
    nodes = [i for i in nodes if net.routable[i]]
    paths = [engine.route(a, b) for a, b in zip(nodes[::2], nodes[1::2][::-1], strict=False)]
    paths = [p for p in paths if len(p.nodes) > 3][:8]
    now = dt.datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

    def windows(at: dt.datetime, skip_s: float) -> list[PriorityWindow]:
        out = []
        for i, path in enumerate(paths):
            depart = now + dt.timedelta(seconds=6 * i)
            arrivals = [depart + dt.timedelta(seconds=9.3 * j) for j in range(len(path.nodes))]
            ws = windows_for_route(net, path, arrivals, run_id=f"fire-{i}", lead=queue_clearance_lead,
                                   hold_s=HOLD_S, now=at, early_share=0.05, late_share=0.05)
            out += [w for w in ws if (w.arrival - at).total_seconds() > skip_s]
        return out

    first = current_requests(net.plans, windows(now, -60), now=now, tz=tz)
    then = now + dt.timedelta(seconds=30)
    second = current_requests(net.plans, windows(then, 0.0), now=then, tz=tz,
                              active={r.key: r for r in first})
    announced = current_requests(net.plans, windows(now, -60), now=now, tz=tz, horizon_s=40.0)
    return first + second + announced


def _assert_same_states(r: PriorityRequest, back: PriorityRequest) -> None:
    """``state_at`` agrees over the request's span, every 0.1 s, except within the
    millisecond the message truncates a switching time to, and just around each switch."""
    if not r.schedule:
        assert back.schedule == ()
        return
    switches = [t for iv in r.schedule for t in
                (iv.green_start, iv.green_end, iv.green_end + dt.timedelta(seconds=iv.yellow_s), iv.end)]
    ms = dt.timedelta(milliseconds=1)
    t, stop = r.schedule[0].green_start - dt.timedelta(seconds=5), r.ends_at + dt.timedelta(seconds=5)
    checked = 0
    while t < stop:
        if not any(-ms < t - s < ms for s in switches):
            assert state_at(back, t) == state_at(r, t), t
            checked += 1
        t += dt.timedelta(milliseconds=100)
    assert checked > 0.9 * (stop - r.schedule[0].green_start).total_seconds() * 10 - 100
    for iv in back.schedule:
        for s in (iv.green_start, iv.green_end, iv.green_end + dt.timedelta(seconds=iv.yellow_s), iv.end):
            assert state_at(back, s - ms) == state_at(r, s - ms)
            assert state_at(back, s + ms) == state_at(r, s + ms)


def _assert_round_trip(requests: list[PriorityRequest]) -> None:
    for r in requests:
        msg = json.loads(json.dumps(r.to_json()))
        back = PriorityRequest.from_json(msg)
        assert back.to_json() == r.to_json()
        assert PriorityRequest.from_json(back.to_json()) == back  # exact once rounded
        assert back.key == r.key and back.runs == r.runs and back.action == r.action
        times = [back.window_start, back.window_end, back.arrival, back.green_start, back.green_end,
                 back.takeover_at, back.hold_limit] + [t for iv in back.schedule
                                                        for t in (iv.green_start, iv.green_end)]
        for t, orig in zip(times, [r.window_start, r.window_end, r.arrival, r.green_start,
                                   r.green_end, r.takeover_at, r.hold_limit]
                           + [t for iv in r.schedule for t in (iv.green_start, iv.green_end)],
                           strict=True):
            if orig is None:
                assert t is None
            else:  # aware, the same instant to the millisecond, the same UTC offset
                assert t.utcoffset() == orig.utcoffset()
                assert dt.timedelta(0) <= orig - t < dt.timedelta(milliseconds=1)
        assert back.residual_wait_s == pytest.approx(r.residual_wait_s, abs=0.05)
        assert (back.recovery is None) == (r.recovery is None)
        if r.recovery is not None:
            assert back.recovery.cycles == r.recovery.cycles
            assert back.recovery.method == r.recovery.method
        assert back.ends_at - r.ends_at < dt.timedelta(milliseconds=1)
        _assert_same_states(r, back)


def test_from_json_rebuilds_the_requests() -> None:
    requests = _hand_made_requests()
    assert {r.action for r in requests} == {"none", "extend", "early", "pending"}
    assert any(r.conflicts for r in requests) and any(len(r.runs) > 1 for r in requests)
    assert {c["how"] for r in requests for c in r.cut} == {"cut", "delayed"}  # two phases: none skipped
    _assert_round_trip(requests)


def test_from_json_rebuilds_the_requests_on_the_city(city_requests: list[PriorityRequest]) -> None:
    assert len(city_requests) > 10
    assert {"extend", "early"} <= {r.action for r in city_requests}
    assert all(r.to_json()["window"]["start"].endswith("+08:00") for r in city_requests)
    _assert_round_trip(city_requests)


def test_from_json_ignores_a_missing_id_and_unknown_keys() -> None:
    r = plan_request(PLAN, window(1, 95, 110), now=T(88), tz=UTC)
    msg = r.to_json()
    del msg["id"]
    msg["extra"] = {"for": "a later version"}
    assert PriorityRequest.from_json(msg).to_json() == r.to_json()


def _malformed(edit) -> dict:  # noqa: ANN001
    msg = copy.deepcopy(plan_request(PLAN, window(1, 95, 110), now=T(88), tz=UTC).to_json())
    assert msg["recovery"] is not None and msg["schedule"] and msg["cut"]
    edit(msg)
    return msg


@pytest.mark.parametrize(("edit", "match"), [
    (lambda m: m.pop("junction"), "missing key 'junction'"),
    (lambda m: m["window"].pop("start"), "missing key 'window.start'"),
    (lambda m: m["recovery"].pop("resume_at"), "missing key 'recovery.resume_at'"),
    (lambda m: m["schedule"][1].pop("green_end"), r"missing key 'schedule\[1\].green_end'"),
    (lambda m: m.update(takeover_at="2026-11-23T25:00:00+00:00"), "takeover_at.*not an ISO 8601 time"),
    (lambda m: m["green"].update(start="soon"), "green.start.*not an ISO 8601 time"),
    (lambda m: m.update(arrival="2026-11-23T08:00:00.000"), "arrival.*no UTC offset"),
    (lambda m: m["schedule"][0].update(green_start=1779000000), r"schedule\[0\].green_start.*ISO 8601"),
    (lambda m: m.update(junction="1"), "junction.*an integer"),
    (lambda m: m.update(phase=True), "phase.*an integer"),
    (lambda m: m.update(residual_wait_s=None), "residual_wait_s.*a number"),
    (lambda m: m.update(runs=[]), "runs.*no run"),
    (lambda m: m.update(runs="fire-1"), "runs.*array of strings"),
    (lambda m: m.update(action="explode"), "action.*'explode' is not one of"),
    (lambda m: m["recovery"].update(method="reboot"), "recovery.method"),
    (lambda m: m["recovery"].update(green_change_s={"main": "a lot"}), "green_change_s.main"),
    (lambda m: m.update(window=["2026-11-23T00:01:35+00:00"]), "window.*expected a JSON object"),
    (lambda m: m.update(schedule={}), "schedule.*an array"),
    (lambda m: m["cut"].append("main"), r"cut\[1\].*expected a JSON object"),
    (lambda m: m["cut"][0].update(how="shortened"), r"cut\[0\].how"),
    (lambda m: m.update(conflicts=[{"with": "fire-2", "wait_s": 3.0}]), r"conflicts\[0\].with"),
    (lambda m: m.update(id="1:fire-9:1"), "id.*'1:fire-9:1' is not .*'1:fire-1:1'"),
])
def test_from_json_rejects_malformed_messages(edit, match: str) -> None:  # noqa: ANN001
    msg = _malformed(edit)
    with pytest.raises(ValueError, match=match) as err:
        PriorityRequest.from_json(msg)
    assert str(err.value).startswith("priority request")


@pytest.mark.parametrize("data", [None, [], "{}", 42])
def test_from_json_rejects_what_is_no_object(data: object) -> None:
    with pytest.raises(ValueError, match="expected a JSON object"):
        PriorityRequest.from_json(data)  # type: ignore[arg-type]
