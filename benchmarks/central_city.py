"""Speed and size of the default twin, central Shanghai, against its goals and a peer.

Prints one table: a fresh ``twin build`` (wall time, peak RSS), ``City.load()`` in a cold
process, the resident memory of each ``twin serve --workers 2`` worker after warm-up,
and the service calls dispatch systems make — emergency route + green-wave plan,
dispatch over every station, citywide 5-minute coverage — with networkx's
``shortest_path`` on the same route pairs as the peer (ratio).

    .venv/bin/python benchmarks/central_city.py [--skip-build] [--pairs 500]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import networkx as nx
import numpy as np
from _proc import children, rss_mb
from _server import production_server

from routing.errors import PointTooFar
from twin import City

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
WARM_PATHS = ("/layers", "/geocode?q=%E5%8D%97%E4%BA%AC%E4%B8%9C%E8%B7%AF635", "/coverage?minutes=5",
              "/schools?level=primary", "/tiles/roads,pois/14/13720/6694.mvt",
              "/rasters/fire_travel_time/point?lon=121.47&lat=31.23")


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def build_footprint(build_dir: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a fresh ``twin build`` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([PY, "-m", "twin", "build", "--build-dir", str(build_dir), "--quiet",
                    "--force"], check=True, cwd=REPO, capture_output=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def cold_loads(bundle: Path, runs: int = 3) -> float:
    """Median seconds of ``City.load(bundle)`` + graph in a fresh interpreter."""
    code = ("import time; t=time.perf_counter(); from twin import City; "
            f"c=City.load({str(bundle)!r}); c.graph; print(time.perf_counter()-t)")
    times = []
    for _ in range(runs):
        out = subprocess.run([PY, "-c", code], check=True, cwd=REPO, capture_output=True,
                             text=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def worker_rss(bundle: Path) -> list[float]:
    """RSS (MB) of each ``twin serve --workers 2`` worker after warm-up requests."""
    env = {**os.environ, "TWIN_BUNDLE": str(bundle)}
    with production_server(workers=2, env=env) as (base, pid):
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(4):  # enough rounds that both workers serve each path
                for path in WARM_PATHS:
                    client.get(path)
        # the two largest children are the workers (the others: the resource tracker)
        return sorted(rss_mb(child) for child in children(pid))[-2:]


def service_calls(city: City, pairs: int, seed: int = 7) -> list[tuple[str, list[float], str]]:
    """Timings (ms) of the dispatch-facing calls, and networkx on the same routes."""
    service = city.routing
    rng = np.random.default_rng(seed)
    homes = city.layers["homes"].data
    stations = list(city.layers["fire_stations"].data["id"])
    picks = rng.choice(len(homes), size=pairs * 2)
    targets = []
    for g in homes.geometry.iloc[picks]:
        target = {"lon": float(g.x), "lat": float(g.y)}
        try:
            service.locate(target)
        except PointTooFar:  # a block beside a road cut off at the extract's edge
            continue
        targets.append(target)
    targets = targets[:pairs]
    routes, paths = [], []
    for k, target in enumerate(targets):
        s = time.perf_counter()
        run = city.runs.create({"station": stations[k % len(stations)]}, target,
                               actor="benchmark")
        routes.append((time.perf_counter() - s) * 1000)
        city.runs.finish(run["id"], actor="benchmark")
        paths.append((service.station_node(stations[k % len(stations)]),
                      service.locate(target)))
    graph = nx.DiGraph()
    for u, v, d in city.graph.edges(data=True):
        if not graph.has_edge(u, v) or graph[u][v]["w"] > d["travel_time"]:
            graph.add_edge(u, v, w=d["travel_time"])
    peer = []
    for src, dst in paths[: min(pairs, 200)]:
        s = time.perf_counter()
        try:
            nx.shortest_path(graph, int(src), int(dst), weight="w")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            pass
        peer.append((time.perf_counter() - s) * 1000)
    disp, top5 = [], []
    for target in targets[:200]:
        s = time.perf_counter()
        service.dispatch(target)
        top5.append((time.perf_counter() - s) * 1000)
        s = time.perf_counter()
        service.dispatch(target, limit=len(stations))
        disp.append((time.perf_counter() - s) * 1000)
    cov = []
    for _ in range(20):
        s = time.perf_counter()
        service.coverage(minutes=5)
        cov.append((time.perf_counter() - s) * 1000)
    n = len(stations)
    return [("emergency route + green-wave plan (Python call)", routes, "p99 < 10 ms"),
            ("networkx shortest_path, same pairs (route only, no plan)", peer, "peer"),
            ("dispatch, 5 best stations by honest ETA (default)", top5, "< 20 ms"),
            (f"dispatch over all {n} fire stations, each by honest ETA", disp, "< 20 ms"),
            ("citywide 5-min coverage, with and without green wave", cov, "< 1 s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-build", action="store_true", help="reuse build/shanghai")
    parser.add_argument("--pairs", type=int, default=500)
    args = parser.parse_args()
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    rows: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="citytwin-bench-"))
    try:
        if args.skip_build:
            bundle = City.load().bundle_dir
        else:
            seconds, peak = build_footprint(tmp)
            bundle = tmp / "shanghai"
            rows += [("`twin build`, fresh (s)", f"{seconds:.0f}", "< 180"),
                     ("`twin build` peak RSS (MB)", f"{peak:,.0f}", "< 2,048")]
        city = City.load(bundle)
        rows.append(("network", f"{city.graph.number_of_nodes():,} junctions, "
                     f"{city.graph.number_of_edges():,} road edges, "
                     f"{len(city.layers['signals'].data):,} signalized junctions", ""))
        rows.append(("`City.load()` + graph, cold process (s, median of 3)",
                     f"{cold_loads(bundle):.2f}", "< 2"))
        rss = worker_rss(bundle)
        rows.append(("RSS per serving worker after warm-up (MB)",
                     " / ".join(f"{r:,.0f}" for r in rss), "< 1,200 each"))
        print("| metric | value | goal |")
        print("|---|---|---|")
        for name, value, goal in rows:
            print(f"| {name} | {value} | {goal} |")
        print("\n| call on central Shanghai | p50 ms | p99 ms | goal / ratio |")
        print("|---|---|---|---|")
        calls = service_calls(city, args.pairs)
        ours_p50 = pct(calls[0][1], 0.5)
        for name, ms, goal in calls:
            if goal == "peer":
                goal = f"ours (route + plan) {pct(ms, 0.5) / ours_p50:.1f}x faster (p50)"
            print(f"| {name} | {pct(ms, 0.5):.2f} | {pct(ms, 0.99):.2f} | {goal} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# load average after the run {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
