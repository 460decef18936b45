"""Gazetteer at scale and single-request latency over HTTP.

1. A synthetic gazetteer of 1,000,000 door addresses (labelled synthetic: the city's real
   road names x door numbers, positions jittered around each road): build time, size on
   disk, load time and resident memory after loading, in a fresh process.
2. ``GET /geocode`` one request at a time on loopback (uvicorn, one worker): p50 / p99.

    .venv/bin/python benchmarks/address_scale.py [--doors N]

The synthetic gazetteer keeps the city's locality (canonical texts start with 上海市) and
its places.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from _server import running_server

from address.gazetteer import Gazetteer
from twin import City

REPO = Path(__file__).resolve().parent.parent
N = 1_000_000


def synthetic_doors(city: City, n: int) -> pd.DataFrame:
    gaz = city.address.gazetteer
    rng = np.random.default_rng(0)
    roads = list(gaz.roads)
    per_road = n // len(roads) + 1
    road_col = np.repeat(roads, per_road)[:n]
    numbers = np.tile(np.arange(1, per_road + 1), len(roads))[:n]
    base = np.array([[121.47, 31.23]]) + rng.normal(0, 0.05, size=(n, 2))
    return pd.DataFrame({
        "road": road_col, "number": numbers, "lon": base[:, 0], "lat": base[:, 1],
        "district_code": None, "names": "", "sub_number": None,
        "code": [f"310000000000{1}{i:06d}"[:19] for i in range(n)], "status": "active",
        "version": 1, "source": "synthetic"})


LOAD = """
import json, resource, sys, time
t = time.perf_counter()
from _server import running_server
from address.gazetteer import Gazetteer
g = Gazetteer.load(__import__('pathlib').Path(sys.argv[1]))
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load_s": elapsed, "rss_mb": rss, "doors": len(g.doors), "places": len(g.places),
                  "prefix": g.locality.prefix if g.locality else None}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doors", type=int, default=N, help="synthetic doors (default 1e6)")
    n = parser.parse_args().doors
    city = City.load()
    tmp = Path(tempfile.mkdtemp(prefix="citytwin-gaz-"))
    doors = synthetic_doors(city, n)
    gaz = city.address.gazetteer
    start = time.perf_counter()
    big = Gazetteer(gaz.districts, gaz.streets, gaz.communities,
                    __import__("geopandas").read_parquet(city.bundle_dir / "address" / "roads.parquet"),
                    doors, locality=gaz.locality, places=gaz.places)
    assert big.locality is not None, "the city's gazetteer has no locality"
    big.save(tmp)
    build_s = time.perf_counter() - start
    size = sum(p.stat().st_size for p in tmp.glob("*.parquet")) / 1e6
    out = subprocess.run([sys.executable, "-c", LOAD, str(tmp)], capture_output=True, text=True,
                         check=True, cwd=REPO / "benchmarks")
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"| synthetic gazetteer of {n:,} doors | value |\n|---|---|")
    print(f"| build + index + save (s) | {build_s:.1f} |")
    print(f"| size on disk (MB) | {size:.0f} |")
    print(f"| load + index, fresh process (s) | {loaded['load_s']:.1f} |")
    print(f"| peak resident memory of that process (MB) | {loaded['rss_mb']:.0f} |")
    print(f"| places / canonical text prefix after loading | {loaded['places']:,} / "
          f"{loaded['prefix']} |\n")

    with running_server() as (base, _):
        queries = pd.read_csv(REPO / "benchmarks" / "data" / "address_eval.csv", dtype=str)["query"]
        with httpx.Client(base_url=base) as client:
            for q in queries[:50]:
                client.get("/geocode", params={"q": q})
            lat = []
            for q in queries:
                t = time.perf_counter()
                client.get("/geocode", params={"q": q})
                lat.append((time.perf_counter() - t) * 1000)
        print("| GET /geocode, one at a time on loopback | p50 ms | p99 ms |\n|---|---|---|")
        print(f"| {len(lat)} messy queries | {statistics.median(lat):.2f} | "
              f"{sorted(lat)[int(0.99 * (len(lat) - 1))]:.2f} |")


if __name__ == "__main__":
    main()
