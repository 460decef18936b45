"""MVT generation: the embedded path vs PostGIS ``ST_AsMVT`` on the same tiles and data.

Also measures cached tiles over HTTP on loopback (uvicorn, 2 workers) with a bounded
asyncio load generator. Needs a PostGIS URL in ``TWIN_TEST_DATABASE_URL`` (or starts a
throwaway cluster with scripts/pgtest.sh).

    .venv/bin/python benchmarks/tiles_mvt.py [--mvt-only] [--zooms 10-17] [--rounds 3]

Also prints the largest tile per zoom (per layer and for every layer at once).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from _server import running_server

from layers.postgis import connect
from layers.postgis_tiles import postgis_tile
from layers.tiles import TMS, ProjectedLayer, encode_tile
from twin import City
from twin.database import write_city_layers

REPO = Path(__file__).resolve().parent.parent


def tile_list(city: City, zooms: range) -> list:
    """Every tile of ``zooms`` over the road network's extent."""
    minx, miny, maxx, maxy = city.layers["roads"].info.bounds
    tiles = []
    for z in zooms:
        tiles.extend(TMS.tiles(minx, miny, maxx, maxy, [z]))
    return tiles


def size_table(city: City, tiles: list) -> None:
    """Largest tile per zoom, per layer and for every tiled layer at once (KB)."""
    names = [n for n, layer in city.layers.items() if layer.info.bounds is not None]
    projected = {n: ProjectedLayer.from_gdf(n, city.layers[n].data, 1,
                                            minzoom=city.layers[n].info.minzoom) for n in names}
    zooms = sorted({t.z for t in tiles})
    print("\n| largest tile (KB) | " + " | ".join(f"z{z}" for z in zooms) + " |")
    print("|---|" + "---|" * len(zooms))
    for label, group in [*((n, [n]) for n in ("roads", "pois", "homes", "bike_cells")
                           if n in projected), ("all layers at once", names)]:
        sizes = {z: 0 for z in zooms}
        for t in tiles:
            data = encode_tile([projected[n] for n in group], t.z, t.x, t.y)
            sizes[t.z] = max(sizes[t.z], len(data))
        print(f"| {label} | " + " | ".join(f"{sizes[z] / 1024:.0f}" for z in zooms) + " |")


def paired(ours, theirs, tiles, rounds: int = 5) -> tuple[list[float], list[float]]:  # noqa: ANN001
    """Time both paths on every tile, alternating tile by tile, ``rounds`` times (ms)."""
    a, b = [], []
    for _ in range(rounds):
        for t in tiles:
            s = time.perf_counter()
            ours(t)
            m = time.perf_counter()
            theirs(t)
            a.append((m - s) * 1000)
            b.append((time.perf_counter() - m) * 1000)
    return a, b


def row(name: str, ms: list[float]) -> str:
    p50 = statistics.median(ms)
    p99 = sorted(ms)[int(0.99 * (len(ms) - 1))]
    return f"| {name} | {len(ms) / (sum(ms) / 1000):.0f} | {p50:.2f} | {p99:.2f} |"


async def http_load(base: str, urls: list[str], seconds: float,
                    concurrency: int) -> tuple[int, int, list[float]]:
    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        async def worker(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < deadline:
                s = time.perf_counter()
                r = await client.get(urls[i % len(urls)])
                lat.append((time.perf_counter() - s) * 1000)
                if r.status_code not in (200, 204):
                    errors += 1
                i += concurrency
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return len(lat), errors, lat


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%.2f %%.2f %%d\\n", summary.requests,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""


def wrk_load(base: str, urls: list[str], seconds: int = 10, connections: int = 32) -> str:
    """Cached tiles with wrk (2 threads) on loopback: a markdown table."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % ", ".join(f'"{u}"' for u in urls))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", fh.name, base],
                         capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    n, duration_us, p50, p99, errors = line.split()[1:]
    rate = int(n) / (int(duration_us) / 1e6)
    return ("\n| cached tiles over HTTP: 2 workers, wrk 2 threads x " f"{connections} connections, "
            f"{seconds} s | value |\n|---|---|\n| requests/s | {rate:,.0f} |\n"
            f"| p50 / p99 ms | {float(p50):.1f} / {float(p99):.1f} |\n| errors | {errors} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mvt-only", action="store_true", help="skip the HTTP load part")
    parser.add_argument("--zooms", default="10-17", help="zoom range, e.g. 10-17")
    parser.add_argument("--rounds", type=int, default=3, help="times each path encodes a tile")
    args = parser.parse_args()
    lo, hi = (int(z) for z in args.zooms.split("-"))
    city = City.load()
    url = os.environ.get("TWIN_TEST_DATABASE_URL")
    pgdir = None
    if not url:
        pgdir = tempfile.mkdtemp(prefix="citytwin-pg.")
        url = subprocess.run([str(REPO / "scripts/pgtest.sh"), "start", pgdir], check=True,
                             capture_output=True, text=True).stdout.strip()
    try:
        write_city_layers(url, city.name, city.layers, schema="bench")
        engine = connect(url)
        tiles = tile_list(city, range(lo, hi + 1))
        print(f"{len(tiles)} tiles, z{lo}-z{hi} over the whole extent of the embedded city; each "
              f"path times every tile {args.rounds} times, the two paths alternating tile by "
              "tile\n")
        print("| path | tiles/s | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        for names in (["roads"], ["pois"], ["roads", "pois"]):
            infos = [city.layers[n].info for n in names]
            projected = [ProjectedLayer.from_gdf(n, city.layers[n].data, 1,
                                                 minzoom=city.layers[n].info.minzoom)
                         for n in names]
            ours, theirs = paired(lambda t, p=projected: encode_tile(p, t.z, t.x, t.y),
                                  lambda t, i=infos: postgis_tile(engine, "bench", i, t.z, t.x, t.y),
                                  tiles, rounds=args.rounds)
            label = ",".join(names)
            print(row(f"embedded {label}", ours))
            print(row(f"PostGIS ST_AsMVT {label}", theirs))
            print(f"| ratio embedded/PostGIS (p50) {label} | | "
                  f"{statistics.median(theirs) / statistics.median(ours):.2f}x faster | |")
        engine.dispose()
        size_table(city, tiles)
        if args.mvt_only:
            return
        with running_server(workers=2) as (base, _):
            urls = [f"/tiles/roads,pois/{t.z}/{t.x}/{t.y}.mvt" for t in tiles]
            asyncio.run(http_load(base, urls, 3, 8))  # warm both workers' caches
            if shutil.which("wrk"):
                print(wrk_load(base, urls))
            else:
                n, errors, lat = asyncio.run(http_load(base, urls, 10, 32))
                print("\n| cached tiles over HTTP (2 workers, 32 clients, 10 s, httpx) | value |")
                print("|---|---|")
                print(f"| requests/s | {n / 10:.0f} |")
                print(f"| p50 / p99 ms | {statistics.median(lat):.1f} / "
                      f"{sorted(lat)[int(0.99 * (len(lat) - 1))]:.1f} |")
                print(f"| errors | {errors} |")
    finally:
        if pgdir:
            subprocess.run([str(REPO / "scripts/pgtest.sh"), "stop", pgdir], check=False)


if __name__ == "__main__":
    main()
