"""Batch jobs on Dask: in-process vs 1 and 2 local worker processes, and what that
predicts for a 10- and 100-worker cluster.

* geocoding: ``--addresses`` messy addresses generated from the gazetteer's doors (door
  variants with spacing, traditional 號, floors and rooms, bracketed landmarks; 1 in 10
  junk), written to Parquet first (not timed), then :func:`twin.batch.geocode.geocode_file`
  (client reads partitions, workers geocode, client writes in order).
* trips: ``--trips`` synthetic Mobike-schema trips generated *per partition on the
  workers* (one day of trips each, seeded by its number; never held whole anywhere),
  ingested to H3 res 9 and reduced to (day, hour, cell) counts summed in a tree on the
  workers, then the quota model fitted on the client (:mod:`twin.batch.bikes`).

Every configuration runs in a fresh process (``--run``) so that peak RSS is its own: of the
client process, and of each worker process (``ru_maxrss`` read on the workers). Cluster
start-up and shipping the city are timed separately from the job.

    PYTHONPATH=. .venv/bin/python benchmarks/batch_dask.py --addresses 200000 --trips 2000000
    PYTHONPATH=. .venv/bin/python benchmarks/batch_dask.py --addresses 1000000 --trips 100000000
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from twin import City
from twin.batch._io import read_partitions
from twin.batch.bikes import aggregate_counts, count_trips, reduce_counts
from twin.batch.cluster import batch_client
from twin.batch.geocode import geocode_file
from twin.bikes.calendar import day_table
from twin.bikes.trips import generate_trips


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_addresses(city: City, n: int, path: Path, *, seed: int = 0) -> None:
    """``n`` messy addresses from the doors, written in row groups (never one big list of
    Python strings: 200k rows at a time)."""
    doors = city.address.gazetteer.doors
    roads, numbers = doors["road"].to_numpy(str), doors["number"].astype(int).to_numpy()
    rng = np.random.default_rng(seed)
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    done = 0
    while done < n:
        m = min(200_000, n - done)
        i = rng.integers(len(doors), size=m)
        kind = rng.integers(10, size=m)
        floor, room = rng.integers(1, 30, size=m), rng.integers(1, 40, size=m)
        texts = []
        for k, r, num, f, rm in zip(kind, roads[i], numbers[i], floor, room, strict=True):
            if k == 0:
                texts.append(f"{r}{num}号")
            elif k == 1:
                texts.append(f"上海市 {r} {num} 号 {f}楼")
            elif k == 2:
                texts.append(f"{r}{num}號{f}0{rm}室")
            elif k == 3:
                texts.append(f"上海{r}{num}弄{f}号{rm}室")
            elif k in (4, 5):
                texts.append(f"{r}{num}号({rm}号门)")
            elif k in (6, 7):
                texts.append(f"{r} {num}号 {f}F-{rm}")
            elif k == 8:
                texts.append(f"{r}{num}号近地铁站{rm}号口")
            else:
                texts.append(f"无此路{f * 37 + rm}号")
        table = pa.table({"id": np.arange(done, done + m), "addr": texts})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=50_000)
        done += m
    writer.close()


def _trip_partition(item: tuple[int, pd.DataFrame, int]) -> object:
    """One day of synthetic trips, generated here and reduced to counts at once."""
    day, cells, per_day = item
    table = day_table(1, str((pd.Timestamp("2016-08-01") + pd.Timedelta(days=day)).date()),
                      np.random.default_rng(day))
    trips = generate_trips(cells, table, trips_per_day=per_day, seed=1000 + day)
    return count_trips(trips, res=9, bikes=False)


def _worker_peaks(client) -> list[float]:  # noqa: ANN001
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return sorted(peaks.values())


def run(kind: str, workers: int, args: argparse.Namespace) -> dict:
    city = City.load(args.bundle) if args.bundle else City.load()
    out_dir = Path(args.tmp)
    result: dict = {"kind": kind, "workers": workers}
    if kind == "read":  # the client's ceiling: read + serialize every partition
        start = time.perf_counter()
        size = 0
        for part in read_partitions(out_dir / "addresses.parquet", args.partition_rows):
            size += len(pickle.dumps(part, protocol=5))
        result |= {"seconds": time.perf_counter() - start, "bytes": size}
        return result
    start = time.perf_counter()
    with batch_client(workers=workers, dashboard=False) as client:
        result["startup_s"] = time.perf_counter() - start
        if kind == "geocode":
            if client is not None:  # ship first, timed apart (geocode_file would do it)
                from twin.batch.cluster import ship_city

                t = time.perf_counter()
                ship_city(client, city, "address")
                client.run(lambda: None)
                result["ship_s"] = time.perf_counter() - t
            else:
                city.address  # noqa: B018  (opened before the clock, like the workers' cache)
            report = geocode_file(city, out_dir / "addresses.parquet", column="addr",
                                  out=out_dir / f"geocoded-{workers}.parquet", client=client,
                                  partition_rows=args.partition_rows, progress=False)
            result |= {"rows": report.rows, "seconds": report.seconds,
                       "failed": report.failed}
        else:
            cells = city.bikes.generator_cells()
            n_parts = max(1, round(args.trips / args.trip_partition))
            shared = client.scatter(cells, broadcast=True) if client is not None else cells
            items = ((d, shared, args.trip_partition) for d in range(n_parts))
            t = time.perf_counter()
            counts = reduce_counts(client, _trip_partition, items, total=n_parts,
                                   progress=False)
            result["aggregate_s"] = time.perf_counter() - t
            quotas = aggregate_counts(city.layers, counts, res=9, fleet=60_000)
            result |= {"rows": counts.rows, "seconds": time.perf_counter() - t,
                       "partitions": n_parts, "cells": len(quotas),
                       "quota_sum": int(quotas["quota"].sum()),
                       "pickups_sum": int(quotas["pickups_total"].sum())}
        result["client_peak_mb"] = _rss_mb()
        result["worker_peak_mb"] = _worker_peaks(client) if client is not None else []
    return result


def _child(kind: str, workers: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--run", kind, "--run-workers", str(workers), "--tmp",
           args.tmp, "--partition-rows", str(args.partition_rows), "--trips", str(args.trips),
           "--trip-partition", str(args.trip_partition)]
    if args.bundle:
        cmd += ["--bundle", args.bundle]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _predict(rate1: float, eff2: float, n: int, ceiling: float | None) -> str:
    rate = rate1 * n * eff2
    capped = min(rate, ceiling) if ceiling else rate
    return f"{capped:,.0f}/s" + (" (client-bound)" if ceiling and rate > ceiling else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=200_000)
    parser.add_argument("--trips", type=int, default=2_000_000)
    parser.add_argument("--partition-rows", type=int, default=50_000)
    parser.add_argument("--trip-partition", type=int, default=250_000,
                        help="trips per generated partition (one day)")
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--bundle", default=None, help="bundle directory (default: the embedded city)")
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args.run, args.run_workers, args)))
        return
    tmp = tempfile.TemporaryDirectory(prefix="citytwin-bench-")
    args.tmp = tmp.name
    city = City.load(args.bundle) if args.bundle else City.load()
    t = time.perf_counter()
    make_addresses(city, args.addresses, Path(args.tmp) / "addresses.parquet")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{city.name}: {len(city.address.gazetteer.doors):,} doors; {args.addresses:,} messy "
          f"addresses written in {time.perf_counter() - t:.1f} s (not timed); {args.trips:,} "
          f"trips generated on the workers in partitions of {args.trip_partition:,}; "
          f"{cores} cores on this machine")
    read = _child("read", 0, args)
    ceiling = args.addresses / read["seconds"]
    configs = [int(w) for w in args.workers.split(",")]
    rows = {k: {w: _child(k, w, args) for w in configs} for k in ("geocode", "trips")}
    print()
    print("| job | workers | rows | seconds | rows/s | rows/s per worker | start-up s | "
          "client peak MB | worker peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, by_workers in rows.items():
        for w, r in by_workers.items():
            rate = r["rows"] / r["seconds"]
            label = "in-process" if w == 0 else str(w)
            peaks = ", ".join(f"{p:,.0f}" for p in r["worker_peak_mb"]) or "-"
            print(f"| {kind} | {label} | {r['rows']:,} | {r['seconds']:.1f} | {rate:,.0f} | "
                  f"{rate / max(w, 1):,.0f} | {r['startup_s']:.1f} | {r['client_peak_mb']:,.0f} | "
                  f"{peaks} |")
    print()
    print(f"client ceiling of the geocoding stream (read + serialize the partitions, one core): "
          f"{ceiling:,.0f} rows/s ({read['bytes'] / args.addresses:.0f} B/row)")
    for kind, by_workers in rows.items():
        if 1 not in by_workers:
            continue
        r1 = by_workers[1]["rows"] / by_workers[1]["seconds"]
        eff = 1.0
        if 2 in by_workers:
            eff = min(1.0, by_workers[2]["rows"] / by_workers[2]["seconds"] / (2 * r1))
        cap = ceiling if kind == "geocode" else None
        print(f"{kind}: {r1:,.0f} rows/s on 1 worker, 2-worker efficiency {eff:.0%} -> predicted "
              f"10 workers {_predict(r1, eff, 10, cap)}, 100 workers {_predict(r1, eff, 100, cap)}")
    same = {kind: len({(r.get("quota_sum"), r.get("pickups_sum"), r.get("failed"))
                       for r in by_workers.values()}) == 1 for kind, by_workers in rows.items()}
    print(f"same results in every configuration: {same}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
