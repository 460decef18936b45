"""Bike metrics across resolutions, models of the real grid, history length and volume.

Runs the model of the embedded city (real Mobike grid demand, synthetic trips) and prints:

1. per H3 resolution: 精准投放率 on the held-out days, per day for the deployed quota
   (:mod:`twin.bikes.forecast`) and for the reference mean rule, beside the **ceiling**:
   the same per-day rate for the quota that knows each cell's expected pick-ups of the
   generator (estimated from :data:`ORACLE_DAYS` extra weekdays and weekend days without
   the day shock, never shown to the model); no quota fitted on any history can beat it
   except by chance, since a day's need is a Poisson draw around that expectation. Then
   the held-out period rate, 乱停乱放率 and bikes moved;
2. 精准投放率 on held-out real grid cells, for each model of :mod:`twin.bikes.gridmodel`,
   at ±20 / 30 / 50 % and the median absolute error, with the ceilings of the real data;
3. at res 9: the held-out-day rates (and their ceiling) when the quotas are fitted on more
   days (10, 30, 60) and at other daily volumes (each row has its own calendar, so its own
   held-out days);
4. at res 9: 乱停乱放率 with / without fences and quotas for several bay shares.

    PYTHONPATH=. .venv/bin/python benchmarks/bikes_backtest.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from twin import City
from twin.bikes.backtest import held_out_days, held_out_period
from twin.bikes.calendar import SHOCK_SD, WEEKEND_VOLUME
from twin.bikes.forecast import day_quota
from twin.bikes.model import hourly_flows, need_from_pickups, precise_rate
from twin.bikes.service import DEFAULTS, BikeService
from twin.bikes.trips import generate_trips, ingest_trips

RESOLUTIONS = (7, 8, 9, 10)
#: Days of each type simulated to estimate the generator's expected pick-ups per cell.
ORACLE_DAYS = 30


def _service(city: City, **options: object) -> BikeService:
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    return BikeService(*layers, **options)


def _daily_pickups(service: BikeService, res: int) -> np.ndarray:
    return service.model(res).flows.pickups.sum(axis=1)


def _expected_pickups(service: BikeService) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per resolution: expected pick-ups per cell on a factor-1 weekday and weekend day."""
    n = ORACLE_DAYS
    calendar = pd.DataFrame({"date": pd.date_range("2030-01-01", periods=2 * n),
                             "weekend": [False] * n + [True] * n, "rain": False,
                             "factor": [1.0] * n + [WEEKEND_VOLUME] * n})
    trips = generate_trips(service.generator_cells(), calendar,
                           trips_per_day=service.options["trips_per_day"],
                           seed=service.options["seed"] + 1000)
    out = {}
    for res in RESOLUTIONS:
        flows = hourly_flows(ingest_trips(trips, res=res), service.model(res).cells["cell"].to_numpy())
        daily = flows.pickups.sum(axis=1)
        out[res] = daily[:n].mean(axis=0), daily[n:].mean(axis=0) / WEEKEND_VOLUME
    return out


def _ceiling(service: BikeService, res: int, expected: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean per-day rate of the quota that knows the generator's expected pick-ups.

    ``expected`` is at the default volume; expected pick-ups scale with the daily volume.
    """
    m, o = service.model(res), service.options
    volume = o["trips_per_day"] / DEFAULTS["trips_per_day"]
    expected = (expected[0] * volume, expected[1] * volume)
    needs = need_from_pickups(_daily_pickups(service, res))
    rates = []
    for d in range(o["fit_days"], len(m.days)):
        rate = expected[1] if m.days["weekend"].iat[d] else expected[0]
        quota = day_quota(rate, float(m.days["factor"].iat[d]), m.capacity, sd=SHOCK_SD,
                          fleet=o["fleet"])
        rates.append(precise_rate(quota, needs[d]))
    return float(np.mean(rates))


def _resolution_table(service: BikeService,
                      expected: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    print("| res | cells | mean need (bikes) | per day: deployed quota | per day: mean rule | "
          "per day: ceiling | held-out period | disorderly without | with | reduction | "
          "bikes moved am+pm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for res in RESOLUTIONS:
        m = service.metrics(res=res)
        held = service.model(res).needs[service.options["fit_days"]:]
        print(f"| {res} | {len(service.model(res).cells):,} | {held[held > 0].mean():.1f} | "
              f"{m['precise_deployment_rate']:.3f} | {m['precise_deployment_rate_mean_rule']:.3f} | "
              f"{_ceiling(service, res, expected[res]):.3f} | "
              f"{m['precise_deployment_rate_period']:.3f} | "
              f"{m['disorderly_parking_rate_without']:.3f} | {m['disorderly_parking_rate_with']:.3f} | "
              f"{m['disorderly_parking_reduction']} | {m['bikes_moved_by_rebalancing']:,} |")


def _grid_table(service: BikeService) -> None:
    g = service.metrics(res=9)["grid_holdout"]
    splits = service.options["grid_splits"]
    print(f"| real 1 km grid: {g['cells_fit']} cells fitted, {g['cells_held_out']} held out | "
          f"±20 % (this split) | ±20 % (mean of {splits} splits) | ±30 % | ±50 % | "
          "median abs error | bandwidth (m) | ridge |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in g["models"].items():
        mark = " (reported)" if name == g["model"] else ""
        print(f"| {name}{mark} | {r['within_20']:.3f} | {r['within_20_mean_of_splits']:.3f} | "
              f"{r['within_30']:.3f} | {r['within_50']:.3f} | {r['median_abs_error']:.3f} | "
              f"{r['bandwidth_m'] or '-'} | {r['ridge']} |")
    c = g["ceilings"]
    print(f"| ceiling: covariates in-sample | {g['in_sample_rate']:.3f} | | | | | | |")
    print(f"| ceiling: {g['model']} in-sample | {g['in_sample_rate_headline']:.3f} | | | | | | |")
    for name, key in (("ceiling: need from the cell's own ends vs its starts", "ends_vs_starts"),
                      ("ceiling: two random halves of the starts", "split_half")):
        r = c[key]
        print(f"| {name} | {r['within_20']:.3f} | | {r['within_30']:.3f} | {r['within_50']:.3f} | "
              f"{r['median_abs_error']:.3f} | | |")
    print(f"| ceiling: Poisson (a perfect model of each cell's expected starts) | "
          f"{c['poisson']:.3f} | | | | | | |")


def _history_table(city: City, expected: tuple[np.ndarray, np.ndarray]) -> None:
    print("| res 9, 4 held-out days | trips/day | fit days | per day: deployed quota | "
          "per day: mean rule | per day: ceiling | period rate | cells below need |")
    print("|---|---|---|---|---|---|---|---|")
    for per_day, fit in ((60_000, 10), (60_000, 30), (60_000, 60), (30_000, 10), (120_000, 10)):
        service = _service(city, trips_per_day=per_day, days=fit + 4, fit_days=fit)
        m, o = service.model(9), service.options
        pickups = _daily_pickups(service, 9)
        days = held_out_days(pickups, m.days, fit, m.capacity, o["fleet"])
        period = held_out_period(pickups, m.days["factor"].to_numpy(), fit, m.capacity, o["fleet"])
        print(f"| | {per_day:,} | {fit} | {days['precise_rate'].mean():.3f} | "
              f"{days['mean_rule_rate'].mean():.3f} | {_ceiling(service, 9, expected):.3f} | "
              f"{period:.3f} | "
              f"{days['below_need_share'].mean():.3f} |")


def _parking_table(city: City) -> None:
    print("| res 9, bay share of sidewalk capacity | without | with | quotas only | fences only | "
          "reduction |")
    print("|---|---|---|---|---|---|")
    for share in (0.05, 0.10, 0.20, 0.40):
        m = _service(city, bay_share=share, grid_splits=1).metrics(res=9)
        print(f"| {share:.2f} | {m['disorderly_parking_rate_without']:.3f} | "
              f"{m['disorderly_parking_rate_with']:.3f} | {m['disorderly_parking_rate_quotas_only']:.3f} | "
              f"{m['disorderly_parking_rate_fences_only']:.3f} | {m['disorderly_parking_reduction']} |")


def main() -> None:
    city = City.load()
    start = time.perf_counter()
    default = _service(city)
    expected = _expected_pickups(default)
    _resolution_table(default, expected)
    print()
    _grid_table(default)
    print()
    _history_table(city, expected[9])
    print()
    _parking_table(city)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
