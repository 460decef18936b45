"""Signal-plan arithmetic and the conflict rule, on hand-made plans."""

from __future__ import annotations

import pytest

from routing.greenwave import GreenWave, SignalPriority, resolve_conflicts
from routing.network import SignalPlan, expected_signal_delay

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


def _wave(phase: str, start: float, depart: float = 0.0) -> GreenWave:
    sig = SignalPriority(node=1, lon=0, lat=0, arrival_s=start + 8, phase=phase,
                         green_start_s=start, green_end_s=start + 12, action="early",
                         lead_s=8, normal_wait_s=0, recovery_end_s=start + 200, cycle_s=90)
    later = SignalPriority(node=2, lon=0, lat=0, arrival_s=start + 60, phase="main",
                           green_start_s=start + 50, green_end_s=start + 64, action="none",
                           lead_s=8, normal_wait_s=0, recovery_end_s=start + 300, cycle_s=90)
    return GreenWave(signals=[sig, later], eta_s=start + 100, eta_without_priority_s=start + 150,
                     depart_s=depart, conflicts=[])


def test_first_dispatched_keeps_its_window() -> None:
    first = _wave("main", 20.0)
    second = resolve_conflicts(_wave("cross", 25.0), "b", {"a": first})
    assert second.conflicts == [{"node": 1, "with": "a", "delay_s": 7.0,
                                 "rule": "first dispatched keeps its green window"}]
    assert second.signals[0].green_start_s == pytest.approx(32.0)
    # the delay propagates to later signals and the ETA
    assert second.signals[1].green_start_s == pytest.approx(82.0)
    assert second.eta_s == pytest.approx(132.0)
    assert first.signals[0].green_start_s == 20.0


def test_same_phase_or_disjoint_windows_do_not_conflict() -> None:
    assert resolve_conflicts(_wave("main", 25.0), "b", {"a": _wave("main", 20.0)}).conflicts == []
    assert resolve_conflicts(_wave("cross", 40.0), "b", {"a": _wave("main", 20.0)}).conflicts == []


def test_plan_windows_on_a_city_route(city) -> None:
    """Every window opens ``lead`` before the arrival and closes ``HOLD_S`` after it."""
    import datetime as dt

    from routing.greenwave import HOLD_S, LEAD_BASE_S

    run = city.routing.emergency_route({"station": "F1"}, {"lon": 121.4840, "lat": 31.2380},
                                       vehicle="fire", depart_at=dt.datetime(2026, 11, 23, 8, 0))
    city.routing.finish(run["id"])
    assert len(run["signals"]) >= 3
    assert run["eta_s"] <= run["eta_without_priority_s"]
    for sig in run["signals"]:
        assert sig["lead_s"] >= LEAD_BASE_S
        assert sig["green_start_s"] == pytest.approx(sig["arrival_s"] - sig["lead_s"], abs=0.11)
        assert sig["green_end_s"] == pytest.approx(sig["arrival_s"] + HOLD_S, abs=0.11)
        assert sig["action"] in {"none", "extend", "early"}
        if sig["action"] == "none":
            assert sig["normal_wait_s"] == 0
