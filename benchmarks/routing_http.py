"""``POST /routes/emergency`` under 50 concurrent clients on loopback.

The server is started the way the README's "Run in production" section says (``twin
serve --workers 2 --keep-alive 5 --limit-concurrency 512 --backlog 2048``, request time
budget) on the embedded city. Each of ``--clients`` asyncio clients (aiohttp, one
keep-alive connection each) sends emergency routes from a random fire station to a
random routable road node. Like a dispatcher with one vehicle out at a time, a client
finishes its previous run (``DELETE /routes/emergency/{id}``) after it gets the next, so
the server holds at most one active run per client (those requests are timed separately).

* **open loop** (default ``--rate 4``): every client sends at a fixed rate and latency is
  measured from each request's scheduled send time (no coordinated omission);
* **closed loop** (``--rate 0``): every client sends its next request as soon as the last
  one is answered, which measures the saturation throughput (latency then is mostly
  queueing: clients / throughput).

Prints requests/s, p50, p90, p99, max and errors per mode.

    PYTHONPATH=. .venv/bin/python benchmarks/routing_http.py --seconds 20 --clients 50 --rate 4 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _server import production_server  # noqa: E402

#: Emergency runs are created by dispatchers.
DISPATCHER = {"X-API-Key": "bench-dispatcher"}
PRODUCTION_ARGS = ("--keep-alive", "5", "--limit-concurrency", "512", "--backlog", "2048")


async def targets(session: aiohttp.ClientSession, base: str, station: str,
                  rng: random.Random, count: int = 100) -> list[list[float]]:
    """Road nodes an emergency route from ``station`` reaches."""
    async with session.get(base + "/layers/nodes/features", params={"limit": 1000}) as r:
        features = (await r.json())["features"]
    points = [f["geometry"]["coordinates"] for f in rng.sample(features, min(count, len(features)))]
    ok = []
    for lon, lat in points:
        async with session.post(base + "/routes/emergency", json={
                "origin": {"station": station}, "destination": {"lon": lon, "lat": lat}}) as r:
            if r.status == 200:
                ok.append([lon, lat])
    return ok


async def client(base: str, seconds: float, rate: float, stations: list[str],
                 points: list[list[float]], seed: int, latencies: list[float],
                 finishes: list[float], errors: list[str]) -> None:
    """One client: its own connection, open loop at ``rate`` req/s or closed loop if 0."""
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector, headers=DISPATCHER,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        start = time.perf_counter() + rng.random() / max(rate, 1.0)
        k = 0
        previous = None
        while True:
            scheduled = start + k / rate if rate > 0 else time.perf_counter()
            if scheduled - start > seconds:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lon, lat = rng.choice(points)
            body = {"origin": {"station": rng.choice(stations)},
                    "destination": {"lon": lon, "lat": lat}, "vehicle": "fire"}
            try:
                async with session.post(base + "/routes/emergency", json=body) as r:
                    run = await r.json()
                    if r.status != 200:
                        errors.append(f"{r.status}")
                    else:
                        latencies.append((time.perf_counter() - scheduled) * 1000)
                if previous is not None:
                    s = time.perf_counter()
                    async with session.delete(f"{base}/routes/emergency/{previous}") as r:
                        await r.read()
                        if r.status != 204:
                            errors.append(f"DELETE {r.status}")
                    finishes.append((time.perf_counter() - s) * 1000)
                previous = run.get("id")
            except (TimeoutError, aiohttp.ClientError) as exc:
                errors.append(type(exc).__name__)
            k += 1


async def run(base: str, seconds: float, clients: int, rates: list[float], seed: int) -> None:
    async with aiohttp.ClientSession(headers=DISPATCHER) as session:
        async with session.get(base + "/layers/fire_stations/features") as r:
            stations = [f["properties"]["id"] for f in (await r.json())["features"]]
        points = await targets(session, base, stations[0], random.Random(seed))
    print(f"\n{clients} clients, {seconds:.0f} s per mode, {len(points)} destinations, "
          f"{len(stations)} stations; server: twin serve --workers 2 {' '.join(PRODUCTION_ARGS)}; "
          f"{os.cpu_count()} cores shared by server and client, load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| mode | request | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for rate in rates:
        latencies: list[float] = []
        finishes: list[float] = []
        errors: list[str] = []
        started = time.perf_counter()
        await asyncio.gather(*(client(base, seconds, rate, stations, points, seed + i,
                                      latencies, finishes, errors) for i in range(clients)))
        wall = time.perf_counter() - started
        mode = f"open loop, {rate:g} req/s per client" if rate > 0 else "closed loop"
        for name, ms, errs in (("POST /routes/emergency", latencies, len(errors)),
                               ("DELETE /routes/emergency/{id}", finishes, "")):
            lat = np.array(ms) if ms else np.array([np.nan])
            print(f"| {mode} | {name} | {len(ms) / wall:.0f} | {np.percentile(lat, 50):.1f} | "
                  f"{np.percentile(lat, 90):.1f} | {np.percentile(lat, 99):.1f} | "
                  f"{lat.max():.1f} | {errs} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, nargs="+", default=[4.0, 0.0],
                        help="requests/s per client (0: closed loop), one run each")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    from twin.build import build_city

    build_city(progress=False)
    env = {**os.environ, "TWIN_REQUEST_TIMEOUT": "10",
           "TWIN_API_KEYS": json.dumps({DISPATCHER["X-API-Key"]: "dispatcher"})}
    with production_server(workers=args.workers, env=env, args=PRODUCTION_ARGS) as (base, _):
        asyncio.run(run(base, args.seconds, args.clients, args.rate, args.seed))


if __name__ == "__main__":
    main()
