"""Validate the green wave (一路绿灯) in SUMO on the embedded city.

The SUMO network is built with netconvert from the same OSM file as the twin, with its
signals (:mod:`scenario`); background cars come from SUMO's randomTrips at several demand
levels. A fire engine (SUMO ``vClass="emergency"``, the twin's fire speed profile) drives
the route the twin's planner returns from a fire station to an incident, once under the
normal fixed-time programs and once with the green-wave plan applied through TraCI
(:mod:`priority`: early green / green extension per signal with the planner's lead,
yellow and all-red transitions, recovery to the normal schedule). Both runs use the same
background trips and the same SUMO seed.

Reported per run and per demand level: the fire engine's travel time, stops and stops at
a red light, and the other vehicles' mean time loss (the cost of the priority to other
traffic), with and without the plan.

    .venv/bin/python benchmarks/sumo/green_wave_sumo.py            # full run
    .venv/bin/python benchmarks/sumo/green_wave_sumo.py --quick    # short run
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from scenario import EmergencyRoute, background_routes, build_network, plan_routes  # noqa: E402
from simulate import RunResult, run_once  # noqa: E402

__all__ = ["Scenario", "QUICK", "FULL", "Comparison", "compare", "run_scenario"]

#: Morning peak: the planner's clock for the plans (and the peak speed profile of cars).
DEPART_AT = dt.datetime(2026, 11, 23, 8, 0)


@dataclass(frozen=True)
class Scenario:
    """Demand levels, seeds and routes of one validation run."""

    periods: tuple[float, ...]
    seeds: tuple[int, ...]
    routes: tuple[tuple[str, str], ...]
    warmup_s: float
    horizon_s: float
    #: ``live`` (windows re-planned from the vehicle's position) or ``plan`` (open loop)
    timing: str = "live"


QUICK = Scenario(periods=(2.0,), seeds=(1,), routes=(("F1", "I1"), ("F3", "I3")),
                 warmup_s=300.0, horizon_s=500.0)
FULL = Scenario(periods=(6.0, 3.0, 2.0), seeds=(1, 2),
                routes=(("F1", "I1"), ("F1", "I3"), ("F3", "I1"), ("F3", "I3"), ("F2", "I2")),
                warmup_s=600.0, horizon_s=900.0)


@dataclass
class Comparison:
    """One route at one demand level and seed, without and with the plan."""

    period: float
    seed: int
    route: EmergencyRoute
    base: RunResult
    wave: RunResult


def compare(net: Path, background: Path, workdir: Path, route: EmergencyRoute, *, period: float,
            seed: int, scenario: Scenario) -> Comparison:
    """Run ``route`` without and with the green-wave plan on the same traffic."""
    runs = [run_once(net, background, workdir, route, priority=p, dispatch_s=scenario.warmup_s,
                     horizon_s=scenario.horizon_s, seed=seed, timing=scenario.timing)
            for p in (False, True)]
    return Comparison(period, seed, route, *runs)


def run_scenario(city, scenario: Scenario, workdir: Path, *, log=print) -> list[Comparison]:
    """Build the network, plan the routes and run every comparison of ``scenario``."""
    net = build_network(workdir)
    planned = dict(zip(scenario.routes, plan_routes(city, net, list(scenario.routes), depart_at=DEPART_AT),
                       strict=True))
    out = []
    end = scenario.warmup_s + scenario.horizon_s
    for period in scenario.periods:
        for seed in scenario.seeds:
            background = background_routes(net, workdir, period=period, end=end, seed=seed)
            for key in scenario.routes:
                c = compare(net, background, workdir, planned[key], period=period, seed=seed,
                            scenario=scenario)
                log(_row(c))
                out.append(c)
    return out


def _fmt(r: RunResult) -> str:
    travel = f"{r.travel_s:.0f}" if math.isfinite(r.travel_s) else "unfinished"
    return f"{travel} / {r.stops} / {r.red_stops}"


def _row(c: Comparison) -> str:
    change = ((c.wave.travel_s - c.base.travel_s) / c.base.travel_s
              if math.isfinite(c.base.travel_s) and math.isfinite(c.wave.travel_s) else math.nan)
    plan = c.route.plan
    return (f"| {3600 / c.period:.0f} | {c.seed} | {c.route.name} | {plan['distance_m']:.0f} | "
            f"{c.wave.matched_signals}/{c.wave.sumo_signals} | {plan['eta_without_priority_s']:.0f} → "
            f"{plan['eta_s']:.0f} | {_fmt(c.base)} | {_fmt(c.wave)} | {change:+.0%} | "
            f"{c.base.others_time_loss_s:.1f} → {c.wave.others_time_loss_s:.1f} | "
            f"{c.base.teleports}/{c.wave.teleports} | {_drift(c.wave)} |")


def _drift(r: RunResult) -> str:
    """The vehicle's passage at the last matched signal minus the planner's arrival."""
    return f"{r.arrival_error_s[-1]:+.0f}" if r.arrival_error_s else "-"


RUN_HEADER = (
    "| demand (veh/h) | seed | route | planned m | signals matched/SUMO | planner ETA without → with (s) "
    "| normal plans: s / stops / red stops | green wave: s / stops / red stops | travel time change "
    "| others' mean time loss, normal → green wave (s) | teleports | green wave: SUMO − planned "
    "arrival at the last signal (s) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|")


def summary(results: list[Comparison], horizon_s: float) -> str:
    """Per demand level: mean travel time with/without, reduction, stops, cost to others.

    An unfinished run counts as the horizon (a lower bound of its travel time).
    """
    lines = ["| demand (veh/h) | runs | mean travel time, normal plans (s) | with green wave (s) | "
             "reduction | stops normal / green wave | red stops normal / green wave | "
             "unfinished normal / green wave | others' mean time loss normal → green wave (s) | "
             "cost to others | green wave: SUMO travel time vs planner ETA | "
             "priority actions: early green / extension / hold given up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for period in dict.fromkeys(c.period for c in results):
        rows = [c for c in results if c.period == period]

        def t(r: RunResult) -> float:
            return r.travel_s if math.isfinite(r.travel_s) else horizon_s

        base = statistics.mean(t(c.base) for c in rows)
        wave = statistics.mean(t(c.wave) for c in rows)
        lb = statistics.mean(c.base.others_time_loss_s for c in rows)
        lw = statistics.mean(c.wave.others_time_loss_s for c in rows)
        eta = statistics.mean(t(c.wave) / c.route.plan["eta_s"] - 1 for c in rows)
        lines.append(
            f"| {3600 / period:.0f} | {len(rows)} | {base:.0f} | {wave:.0f} | {(base - wave) / base:.0%} | "
            f"{sum(c.base.stops for c in rows)} / {sum(c.wave.stops for c in rows)} | "
            f"{sum(c.base.red_stops for c in rows)} / {sum(c.wave.red_stops for c in rows)} | "
            f"{sum(not math.isfinite(c.base.travel_s) for c in rows)} / "
            f"{sum(not math.isfinite(c.wave.travel_s) for c in rows)} | {lb:.1f} → {lw:.1f} | "
            f"{(lw - lb) / lb:+.1%} | {eta:+.0%} | "
            + " / ".join(str(sum(c.wave.actions.get(a, 0) for c in rows))
                         for a in ("early", "extend", "expired")) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="peak demand only, two routes, short")
    parser.add_argument("--periods", help="comma-separated seconds between background departures")
    parser.add_argument("--timing", choices=("live", "plan"), default="live",
                        help="priority windows from the live position (default) or as planned")
    args = parser.parse_args()
    scenario = QUICK if args.quick else FULL
    periods = tuple(float(p) for p in args.periods.split(",")) if args.periods else scenario.periods
    scenario = dataclasses.replace(scenario, periods=periods, timing=args.timing)
    from twin import City
    from twin.build import build_city

    city = City.load(build_city(name="shanghai-core", progress=False))  # the OSM of scenario.py
    with tempfile.TemporaryDirectory(prefix="citytwin-sumo-") as tmp:
        print(RUN_HEADER, flush=True)
        results = run_scenario(city, scenario, Path(tmp), log=lambda s: print(s, flush=True))
    print()
    print(summary(results, scenario.horizon_s))


if __name__ == "__main__":
    main()
