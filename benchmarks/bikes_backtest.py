"""Bike metrics across resolutions, history length, volume and bay share.

Runs the model of the embedded city (real Mobike grid demand, synthetic trips) and prints:

1. per H3 resolution: 精准投放率 on the held-out days and on held-out real grid cells,
   with the mean need of an active cell (the ±1-bike floor dominates small needs);
2. at res 9: the held-out-day rate when the quotas are fitted on more days (10, 30, 60)
   and at other daily volumes: how much of the gap to 90 % is day-to-day Poisson noise;
3. at res 9: 乱停乱放率 with / without fences and quotas for several bay shares (the one
   assumption the baseline rests on).

    PYTHONPATH=. .venv/bin/python benchmarks/bikes_backtest.py
"""

from __future__ import annotations

import time

import numpy as np

from twin import City
from twin.bikes.service import BikeService


def _service(city: City, **options: object) -> BikeService:
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    return BikeService(*layers, **options)


def _mean_need(service: BikeService, res: int) -> float:
    m = service.model(res)
    held = m.needs[service.options["fit_days"]:]
    return float(held[held > 0].mean())


def main() -> None:
    city = City.load()
    start = time.perf_counter()
    default = _service(city)
    print("| res | cells | held-out days rate | held-out period rate | mean need (bikes) | "
          "grid hold-out rate | grid in-sample ceiling | disorderly without | with | reduction | "
          "bikes moved am+pm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for res in (7, 8, 9, 10):
        m = default.metrics(res=res)
        g = m["grid_holdout"]
        print(f"| {res} | {len(default.model(res).cells):,} | {m['precise_deployment_rate']:.3f} | "
              f"{m['precise_deployment_rate_period']:.3f} | "
              f"{_mean_need(default, res):.1f} | {g['precise_rate']:.3f} | {g['in_sample_rate']:.3f} | "
              f"{m['disorderly_parking_rate_without']:.3f} | {m['disorderly_parking_rate_with']:.3f} | "
              f"{m['disorderly_parking_reduction']} | {m['bikes_moved_by_rebalancing']:,} |")
    print()
    print("| res 9, 4 held-out days | trips/day | fit days | held-out days rate | period rate | "
          "cells below need |")
    print("|---|---|---|---|---|---|")
    for per_day, fit in ((60_000, 10), (60_000, 30), (60_000, 60), (30_000, 10), (120_000, 10)):
        service = _service(city, trips_per_day=per_day, days=fit + 4, fit_days=fit)
        m = service.metrics(res=9)
        below = np.mean([d["below_need_share"] for d in m["precise_deployment_rate_days"]])
        print(f"| | {per_day:,} | {fit} | {m['precise_deployment_rate']:.3f} | "
              f"{m['precise_deployment_rate_period']:.3f} | {below:.3f} |")
    print()
    print("| res 9, bay share of sidewalk capacity | without | with | quotas only | fences only | "
          "reduction |")
    print("|---|---|---|---|---|---|")
    for share in (0.05, 0.10, 0.20, 0.40):
        m = _service(city, bay_share=share).metrics(res=9)
        print(f"| {share:.2f} | {m['disorderly_parking_rate_without']:.3f} | "
              f"{m['disorderly_parking_rate_with']:.3f} | {m['disorderly_parking_rate_quotas_only']:.3f} | "
              f"{m['disorderly_parking_rate_fences_only']:.3f} | {m['disorderly_parking_reduction']} |")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
