"""Trips -> H3 -> quotas: the vectorized pipeline vs a plain per-row pandas + h3 baseline.

Input: synthetic trips in the Mobike schema (GCJ-02, labelled synthetic), generated from
the real Mobike grid demand of the embedded city (not timed). Both sides do the same
work: GCJ-02 -> WGS84, H3 cell of both ends (res 9), pick-ups / drop-offs per
(day, hour, cell), need per (day, cell), quota per cell.

* ours: :func:`twin.bikes.trips.ingest_trips` (numpy + h3ronpy), ``bincount`` flows,
  vectorized needs and quotas; pinned to one core.
* baseline: ``DataFrame.itertuples`` with a scalar GCJ-02 inverse (same formula and stop
  rule) and ``h3.latlng_to_cell`` per row, then ``groupby`` counts and needs; timed on a
  subsample and scaled linearly to the full size (said in the output).
* 10M trips: the 1M trips repeated ten times on later days, in a fresh process; peak RSS
  (whole process, input table included).

    PYTHONPATH=. .venv/bin/python benchmarks/bikes_aggregate.py
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # h3ronpy: one core
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import h3  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from twin import City  # noqa: E402
from twin.bikes.demand import disaggregate  # noqa: E402
from twin.bikes.model import base_need, daily_needs, hourly_flows, quotas  # noqa: E402
from twin.bikes.parking import parking_capacity  # noqa: E402
from twin.bikes.trips import generate_trips, ingest_trips  # noqa: E402

RES = 9
DAYS = 14
BASELINE_ROWS = 50_000
_A, _EE = 6378245.0, 0.00669342162296594323


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def make_trips(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` synthetic trips over :data:`DAYS` days and the res-9 cells of the city."""
    city = City.load()
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    cells = disaggregate(*layers, res=RES)
    demand = (cells["starts"] + cells["ends"]) / 2 + 0.05
    weights = cells.assign(start_weight=demand * cells["home_share"],
                           end_weight=demand * (1 - cells["home_share"]))
    trips = generate_trips(weights, DAYS, trips_per_day=int(n / DAYS / 0.8), seed=11)
    if len(trips) < n:
        raise RuntimeError(f"generated {len(trips)} trips, fewer than {n}")
    return trips.sample(n, random_state=0).sort_values("start_time", ignore_index=True), cells


def ours(trips: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """Vectorized pipeline: quota per cell (dry-weekday factor 1, every day weighted 1)."""
    ingested = ingest_trips(trips, res=RES)
    flows = hourly_flows(ingested, cells["cell"].to_numpy())
    needs = daily_needs(flows)
    return quotas(base_need(needs, np.ones(len(needs))), 1.0, parking_capacity(cells))


def _gcj_delta(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * pi) + 320 * math.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sq = math.sqrt(magic)
    dlon = (dlon * 180.0) / (_A / sq * math.cos(rad) * pi)
    return dlon, (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sq) * pi)


def _gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    wlon, wlat = lon, lat
    for _ in range(30):
        dlon, dlat = _gcj_delta(wlon, wlat)
        elon, elat = wlon + dlon - lon, wlat + dlat - lat
        wlon, wlat = wlon - elon, wlat - elat
        if abs(elon) <= 1e-8 and abs(elat) <= 1e-8:
            break
    return wlon, wlat


def baseline(trips: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """Per-row pandas + h3: the same quotas."""
    rows = []
    for t in trips.itertuples(index=False):
        slon, slat = _gcj_to_wgs(t.start_location_x, t.start_location_y)
        elon, elat = _gcj_to_wgs(t.end_location_x, t.end_location_y)
        rows.append((t.start_time.normalize(), t.start_time.hour, h3.latlng_to_cell(slat, slon, RES),
                     t.end_time.hour, h3.latlng_to_cell(elat, elon, RES)))
    frame = pd.DataFrame(rows, columns=["day", "start_hour", "start", "end_hour", "end"])
    picks = frame.groupby(["day", "start"]).size().unstack(fill_value=0)
    picks = picks.reindex(columns=cells["h3"], fill_value=0)
    all_days = pd.DatetimeIndex(sorted(frame["day"].unique()))
    picks = picks.reindex(all_days, fill_value=0)
    need = np.ceil(picks / 4.0)
    base = need.mean(axis=0).to_numpy()
    return np.minimum(np.round(base), np.floor(parking_capacity(cells)))


def _time(func, *args) -> tuple[float, object]:  # noqa: ANN001
    start = time.perf_counter()
    out = func(*args)
    return time.perf_counter() - start, out


def big(n_copies: int) -> None:
    """The 10M run (child process): prints JSON with seconds and peak RSS."""
    _pin_one_core()
    trips, cells = make_trips(1_000_000)
    parts = [trips.assign(start_time=trips["start_time"] + pd.Timedelta(days=DAYS * k),
                          end_time=trips["end_time"] + pd.Timedelta(days=DAYS * k))
             for k in range(n_copies)]
    tiled = pd.concat(parts, ignore_index=True)
    del parts, trips
    rss_in = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds, quota = _time(ours, tiled, cells)
    print(json.dumps({"rows": len(tiled), "seconds": seconds, "quota_sum": float(quota.sum()),
                      "peak_rss_mb_before": rss_in,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big:
        big(args.big)
        return
    _pin_one_core()
    start = time.perf_counter()
    trips, cells = make_trips(args.rows)
    print(f"{len(trips):,} synthetic trips (Mobike schema, GCJ-02), {len(cells):,} H3 res-{RES} cells, "
          f"prepared in {time.perf_counter() - start:.1f} s (not timed); one core")
    runs = [_time(ours, trips, cells) for _ in range(2)]
    ours_s = min(r[0] for r in runs)
    sub = trips.sample(BASELINE_ROWS, random_state=1).sort_values("start_time")
    base_s, base_q = _time(baseline, sub, cells)
    sub_q = ours(sub, cells)
    same = bool(np.array_equal(base_q, sub_q))
    scaled = base_s * len(trips) / len(sub)
    print()
    print("| pipeline (1M trips -> H3 res 9 -> quotas) | seconds | trips/s |")
    print("|---|---|---|")
    for i, (s, _) in enumerate(runs, 1):
        print(f"| ours, vectorized (run {i}) | {s:.2f} | {len(trips) / s:,.0f} |")
    print(f"| baseline per-row pandas + h3, {len(sub):,}-trip subsample | {base_s:.2f} | "
          f"{len(sub) / base_s:,.0f} |")
    print(f"| baseline scaled linearly to {len(trips):,} trips | {scaled:.1f} | {len(sub) / base_s:,.0f} |")
    print()
    print(f"speed-up ours vs baseline: {scaled / ours_s:.0f}x (best of 2 runs vs scaled baseline); "
          f"goal < 5 s on one core: {'met' if ours_s < 5 else 'NOT met'} ({ours_s:.2f} s)")
    print(f"same quotas on the subsample: {same}")
    out = subprocess.run([sys.executable, __file__, "--big", "10"], capture_output=True, text=True,
                         check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"10M trips: {res['rows']:,} rows in {res['seconds']:.1f} s, peak RSS {res['peak_rss_mb']:,.0f} MB "
          f"(input table alone {res['peak_rss_mb_before']:,.0f} MB; machine "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB)")


if __name__ == "__main__":
    main()
