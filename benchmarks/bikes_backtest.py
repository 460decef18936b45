"""Bike figures on held-out days: ours vs the status quo, with and without the floor.

Runs the model of the embedded city (real Mobike grid demand, **simulated** trips; every
figure below is on simulated trips except the real-grid table) and prints README-ready
tables:

1. per H3 resolution, on the held-out days (each forecast the evening before from the
   earlier days, the calendar and a rain forecast that is wrong with a stated
   probability; never the generator's day factors): 精准投放率 of our quotas and of the
   status quo (the whole fleet spread like last week's drop-offs, no fences; and the same
   allocation scaled to our total), each with the ±1-bike floor and without it; the
   **oracle** column is the same rate for the quota that knows the generator's expected
   pick-ups of each cell and the day's realised factor (estimated from
   :data:`ORACLE_DAYS` extra days of each type, never shown to the model): no forecast
   can beat it except by chance. Then 乱停乱放率 (status quo vs ours) and bikes moved;
2. 精准投放率 on held-out real grid cells (basis real), per model of
   :mod:`twin.bikes.gridmodel`, with the ceilings of the real data;
3. the same held-out-day table for a city without the real grid (the land-use proxy of
   the embedded city's roads), to show what the proxy gives.

    PYTHONPATH=. .venv/bin/python benchmarks/bikes_backtest.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from twin import City
from twin.bikes import service_from_layers
from twin.bikes.calendar import WEEKEND_VOLUME
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


def _expected_pickups(service: BikeService,
                      resolutions: tuple[int, ...]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per resolution: expected pick-ups per cell per unit of day factor, working day and
    day off (the generator's truth, for the oracle only)."""
    n = ORACLE_DAYS
    calendar = pd.DataFrame({"date": pd.date_range("2030-01-07", periods=2 * n),
                             "weekend": [False] * n + [True] * n,
                             "day_off": [False] * n + [True] * n, "rain": False,
                             "factor": [1.0] * n + [WEEKEND_VOLUME] * n})
    trips = generate_trips(service.generator_cells(), calendar,
                           trips_per_day=service.options["trips_per_day"],
                           seed=service.options["seed"] + 1000)
    out = {}
    for res in resolutions:
        flows = hourly_flows(ingest_trips(trips, res=res), service.model(res).cells["cell"].to_numpy())
        daily = flows.pickups.sum(axis=1)
        out[res] = daily[:n].mean(axis=0), daily[n:].mean(axis=0) / WEEKEND_VOLUME
    return out


def _oracle(service: BikeService, res: int, expected: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean held-out rate of the quota knowing the expected pick-ups and the day's factor."""
    m, o = service.model(res), service.options
    needs = need_from_pickups(m.flows.pickups.sum(axis=1))
    rates = []
    for d in range(m.fit_days, len(m.days)):
        rate = expected[1] if m.days["day_off"].iat[d] else expected[0]
        quota = day_quota(rate, float(m.days["actual"].iat[d]), m.capacity, fleet=o["fleet"])
        rates.append(precise_rate(quota, needs[d]))
    return float(np.mean(rates))


def _days_table(title: str, service: BikeService, resolutions: tuple[int, ...],
                expected: dict[int, tuple[np.ndarray, np.ndarray]] | None) -> None:
    print(f"**{title}** ({service.source}; basis: {service.basis}; fleet "
          f"{service.options['fleet']:,}, {service.options['trips_per_day']:,} trips a day)\n")
    print("| res | cells | mean need (bikes) | ours | ours, no floor | status quo | "
          "status quo, no floor | status quo same total | same total, no floor | oracle | "
          "disorderly: status quo | disorderly: ours | bikes moved am+pm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for res in resolutions:
        m = service.metrics(res=res)
        f = {k: v["value"] for k, v in m["figures"].items()}
        model = service.model(res)
        held = model.needs[model.fit_days:]
        oracle = f"{_oracle(service, res, expected[res]):.3f}" if expected else "-"
        print(f"| {res} | {len(model.cells):,} | {held[held > 0].mean():.1f} | "
              f"{f['precise_deployment_rate']:.3f} | {f['precise_deployment_rate_no_floor']:.3f} | "
              f"{f['precise_deployment_rate_status_quo']:.3f} | "
              f"{f['precise_deployment_rate_status_quo_no_floor']:.3f} | "
              f"{f['precise_deployment_rate_status_quo_same_total']:.3f} | "
              f"{f['precise_deployment_rate_status_quo_same_total_no_floor']:.3f} | {oracle} | "
              f"{f['disorderly_parking_rate_status_quo']:.3f} | "
              f"{f['disorderly_parking_rate_with']:.3f} | {f['bikes_moved_by_rebalancing']:,} |")
    m = service.metrics(res=resolutions[-1])
    t = m["trips"]
    print(f"\n{t['held_out_days']} held-out days ({m['days'][0]['date']} to {m['days'][-1]['date']}) "
          f"after {t['fit_days']} fitting days; day volume model of the last forecast: "
          f"{m['volume_model']}")


def _grid_table(service: BikeService) -> None:
    g = service.metrics(res=9)["grid_holdout"]
    splits = service.options["grid_splits"]
    print(f"**Held-out real grid cells** (basis: real; {g['cells_fit']} cells fitted, "
          f"{g['cells_held_out']} held out)\n")
    print(f"| model | ±20 % (this split) | ±20 % (mean of {splits} splits) | ±30 % | ±50 % | "
          "median abs error |")
    print("|---|---|---|---|---|---|")
    for name, r in g["models"].items():
        mark = " (reported)" if name == g["model"] else ""
        print(f"| {name}{mark} | {r['within_20']:.3f} | {r['within_20_mean_of_splits']:.3f} | "
              f"{r['within_30']:.3f} | {r['within_50']:.3f} | {r['median_abs_error']:.3f} |")
    c = g["ceilings"]
    for name, key in (("ceiling: need from the cell's own ends vs its starts", "ends_vs_starts"),
                      ("ceiling: two random halves of the starts", "split_half")):
        r = c[key]
        print(f"| {name} | {r['within_20']:.3f} | | {r['within_30']:.3f} | {r['within_50']:.3f} | "
              f"{r['median_abs_error']:.3f} |")
    print(f"| ceiling: Poisson (a perfect model of each cell's expected starts) | "
          f"{c['poisson']:.3f} | | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the small shanghai-core bundle, resolutions 8-9, no oracle")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.quick:
        from twin.build import build_city

        city, resolutions = City.load(build_city(name="shanghai-core", progress=False)), (8, 9)
    else:
        city, resolutions = City.load(), RESOLUTIONS
    default = _service(city)
    expected = None if args.quick else _expected_pickups(default, resolutions)
    _days_table(f"{city.name}, held-out days", default, resolutions, expected)
    print()
    _grid_table(default)
    print()
    proxy = service_from_layers({"roads": city.layers["roads"]}, grid_splits=1)
    _days_table(f"{city.name} roads only (land-use proxy, as a city without the Mobike grid)",
                proxy, resolutions, None)
    print(f"\n(defaults {DEFAULTS}; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
