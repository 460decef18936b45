"""Tile archive export of the central city: tiles/s, tile count, archive size, peak RSS.

Ours: :mod:`twin.export` (``twin export``), the server's own tiles (same clipping,
simplification and generalization), gzip level 6, one composite tile per z/x/y.

- **all layers**: every layer with geometry (13 layers of central Shanghai), z10-z17,
  to PMTiles and to MBTiles.
- **web map layers**: the layers the web map shows by default (roads, signals,
  fire_stations, schools), z10-z17, PMTiles.
- **roads** against the peer, **GDAL**'s own MVT writer (its PMTiles and MBTiles drivers,
  through pyogrio, the GDAL that ships in the pyogrio wheel), on the same roads
  GeoDataFrame and zoom range in the same run. GDAL is given one layer because pyogrio
  writes one layer per dataset. GDAL's tiles are not ours (it does not generalize by road
  class, nor simplify the same way), so tiles and bytes differ: the ratio is of speed and
  size for the same job, not of identical output.
- GeoPackage and GeoParquet of every layer, for scale.
- ``--dask-workers 1,2``: instead of the cases above, every layer z10-z17 to PMTiles
  in-process (:func:`twin.export.export_tiles`) against ``twin batch export``
  (:func:`twin.batch.export.export_tiles_batch`) on a local Dask cluster of 1 and 2
  worker processes. The cluster is started before the clock (its start is reported
  apart); the time includes shipping the bundle, each worker opening the city and
  projecting the layers, encoding, and the client writing the archive. CPU and RSS are
  the client process's only. The archives are checked to be identical.

Each case runs in its own process: RSS is sampled every 10 ms while the export runs
(after the city is loaded) and the process's own peak (``ru_maxrss``, loading included)
is printed too. Time is wall time of the export from the loaded
city; CPU is user + system time of the process over the same span (GDAL may use threads).

    .venv/bin/python benchmarks/export_pmtiles.py [--zooms 10-17] [--bundle build/shanghai]
    .venv/bin/python benchmarks/export_pmtiles.py --dask-workers 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _proc import rss_mb

REPO = Path(__file__).resolve().parent.parent
WEB_MAP_LAYERS = "roads,signals,fire_stations,schools"  # api/static/app.js ON_BY_DEFAULT
CASES = [
    # (label, tool, format, layers)
    ("all layers", "ours", "pmtiles", None),
    ("all layers", "ours", "mbtiles", None),
    ("web map layers", "ours", "pmtiles", WEB_MAP_LAYERS),
    ("roads", "ours", "pmtiles", "roads"),
    ("roads", "gdal", "pmtiles", "roads"),
    ("roads", "ours", "mbtiles", "roads"),
    ("roads", "gdal", "mbtiles", "roads"),
    ("all layers", "ours", "gpkg", None),
    ("all layers", "ours", "geoparquet", None),
]


class _PeakRss(threading.Thread):
    """Samples this process's RSS every 10 ms: the peak while the export runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> None:
        self._done.set()
        self.join()
        self.peak = max(self.peak, rss_mb())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count_tiles(path: Path, fmt: str) -> int:
    if fmt == "pmtiles":
        from pmtiles.reader import MmapSource, Reader

        with open(path, "rb") as f:
            return Reader(MmapSource(f)).header()["addressed_tiles_count"]
    with sqlite3.connect(path) as con:
        return con.execute("SELECT count(*) FROM tiles").fetchone()[0]


def run_case(bundle: Path, tool: str, fmt: str, layers: str | None, zooms: str, out: Path) -> dict:
    """One export in this process; returns the measurements."""
    from twin import City

    city = City.load(bundle)
    city.layer_service.data("roads")
    if tool.startswith("dask"):
        return _run_dask(city, int(tool[4:]), fmt, layers, zooms, out)
    from twin.export import export_city, parse_zooms

    loaded = rss_mb()
    sampler = _PeakRss()
    sampler.start()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    if tool == "ours":
        result = export_city(city, out, format=fmt, layers=layers, zooms=zooms, progress=False)
        tiles, features = result.tiles, result.features
    else:  # GDAL's MVT writer, one layer
        import pyogrio

        lo, hi = parse_zooms(zooms)
        gdf = city.layer_service.data(layers)
        pyogrio.write_dataframe(gdf, out, layer=layers, driver=fmt.upper() if fmt == "mbtiles"
                                else "PMTiles", dataset_options={"MINZOOM": lo, "MAXZOOM": hi})
        tiles, features = _count_tiles(out, fmt), len(gdf)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    sampler.stop()
    size = sum(p.stat().st_size for p in out.rglob("*")) if out.is_dir() else out.stat().st_size
    return {"tiles": tiles, "features": features, "seconds": seconds, "cpu": cpu, "bytes": size,
            "loaded_mb": loaded, "export_peak_mb": sampler.peak,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_dask(city: object, workers: int, fmt: str, layers: str | None, zooms: str,
              out: Path) -> dict:
    """``twin batch export`` on a local cluster of ``workers`` processes."""
    from twin.batch.cluster import batch_client
    from twin.batch.export import export_tiles_batch

    loaded = rss_mb()
    started = time.perf_counter()
    with batch_client(workers=workers, dashboard=False) as client:
        client.wait_for_workers(workers)
        cluster_s = time.perf_counter() - started
        sampler = _PeakRss()
        sampler.start()
        cpu = _cpu_seconds()
        start = time.perf_counter()
        report = export_tiles_batch(city, out, client=client, format=fmt, layers=layers,
                                    zooms=zooms, progress=False)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
        sampler.stop()
    result = report.result
    return {"tiles": result.tiles, "features": result.features, "seconds": seconds, "cpu": cpu,
            "bytes": out.stat().st_size, "loaded_mb": loaded, "export_peak_mb": sampler.peak,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cluster_s": cluster_s, "partitions": report.partitions}


def _dask_table(bundle: Path, zooms: str, counts: list[int]) -> None:
    """In-process against 1..n Dask workers: every layer, PMTiles."""
    import hashlib

    rows = []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        for tool in ["ours", *(f"dask{n}" for n in counts)]:
            out = Path(tmp) / f"{tool}.pmtiles"
            proc = subprocess.run(
                [sys.executable, __file__, "--case", f"{tool}:pmtiles:", "--bundle", str(bundle),
                 "--zooms", zooms, "--out", str(out)],
                capture_output=True, text=True, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)})
            if proc.returncode != 0:
                print(f"{tool}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            m = json.loads(proc.stdout.strip().splitlines()[-1])
            m["sha"] = hashlib.sha256(out.read_bytes()).hexdigest()[:12]
            rows.append((tool, m))
            print(f"  done: {tool}", file=sys.stderr)
    base = rows[0][1]["seconds"] if rows and rows[0][0] == "ours" else None
    print(f"\nexport of {bundle.name}, every layer, z{zooms}, PMTiles ({os.cpu_count()} CPUs)\n")
    print("| run | workers | partitions | tiles | time (s) | tiles/s | speed-up | "
          "cluster start (s) | client CPU (s) | client RSS peak (MB) | archive sha256 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for tool, m in rows:
        label = "`twin export` (in-process)" if tool == "ours" else "`twin batch export`"
        workers = "-" if tool == "ours" else tool[4:]
        speed = f"{base / m['seconds']:.2f}×" if base else "-"
        print(f"| {label} | {workers} | {m.get('partitions', '-')} | {m['tiles']:,} | "
              f"{m['seconds']:.1f} | {m['tiles'] / m['seconds']:,.0f} | {speed} | "
              f"{m.get('cluster_s', 0):.1f} | {m['cpu']:.1f} | {m['export_peak_mb']:.0f} | "
              f"{m['sha']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zooms", default="10-17")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="city bundle (default: the embedded central city, built if needed)")
    parser.add_argument("--dask-workers", default=None,
                        help="e.g. 1,2: compare in-process with twin batch export on local "
                             "Dask clusters of these sizes (every layer, PMTiles) instead")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        tool, fmt, layers = args.case.split(":")
        print(json.dumps(run_case(args.bundle, tool, fmt, layers or None, args.zooms, args.out)))
        return

    from twin import City

    bundle = args.bundle or City.load().bundle_dir  # builds the default city once if needed
    if args.dask_workers:
        _dask_table(bundle, args.zooms, [int(n) for n in args.dask_workers.split(",")])
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        for i, (label, tool, fmt, layers) in enumerate(CASES):
            ext = {"geoparquet": ""}.get(fmt, "." + fmt)
            out = Path(tmp) / f"case{i}{ext}"
            proc = subprocess.run(
                [sys.executable, __file__, "--case", f"{tool}:{fmt}:{layers or ''}",
                 "--bundle", str(bundle), "--zooms", args.zooms, "--out", str(out)],
                capture_output=True, text=True, cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)})
            if proc.returncode != 0:
                print(f"{label} {tool} {fmt}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append((label, tool, fmt, json.loads(proc.stdout.strip().splitlines()[-1])))
            print(f"  done: {label} / {tool} / {fmt}", file=sys.stderr)

    print(f"\nexport of {bundle.name}, z{args.zooms} ({os.cpu_count()} CPUs, one process each)\n")
    print("| layers | tool | format | tiles | tiles/s | features/s | size (MB) | "
          "RSS loaded → export peak (MB) | process peak RSS (MB) | time (s) | CPU (s) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, tool, fmt, m in rows:
        tool_name = "citytwin" if tool == "ours" else "GDAL " + _gdal_version()
        tiles = f"{m['tiles']:,}" if m["tiles"] else "-"
        rate = f"{m['tiles'] / m['seconds']:,.0f}" if m["tiles"] else "-"
        print(f"| {label} | {tool_name} | {fmt} | {tiles} | {rate} | "
              f"{m['features'] / m['seconds']:,.0f} | {m['bytes'] / 1e6:.1f} | "
              f"{m['loaded_mb']:.0f} → {m['export_peak_mb']:.0f} | {m['peak_mb']:.0f} | "
              f"{m['seconds']:.1f} | {m['cpu']:.1f} |")
    ours = {(label, fmt): m for label, tool, fmt, m in rows if tool == "ours"}
    peer = {(label, fmt): m for label, tool, fmt, m in rows if tool == "gdal"}
    if peer:
        print("\n| roads, z" + args.zooms + " | tiles/s ours ÷ GDAL | size ours ÷ GDAL | "
              "tiles ours ÷ GDAL |")
        print("|---|---:|---:|---:|")
        for key, g in peer.items():
            o = ours.get(key)
            if o is None:
                continue
            speed = (o["tiles"] / o["seconds"]) / (g["tiles"] / g["seconds"])
            print(f"| {key[1]} | {speed:.2f} | {o['bytes'] / g['bytes']:.2f} | "
                  f"{o['tiles'] / g['tiles']:.2f} |")


def _gdal_version() -> str:
    import pyogrio

    return pyogrio.__gdal_version_string__


if __name__ == "__main__":
    main()
