"""Edits driving the models, measured: closure -> next route, and the API under edits.

Part 1, in process, on the central city and on a >= 100k-node synthetic city: a road is
closed through the layer service (the durable edit), the routing model is derived again
(:mod:`twin.live`: re-weighting the engines on the same hierarchy) and the next route is
answered. Side by side with deriving the model from scratch (a new network and hierarchy:
what a snapshot service does at restart), and route latency before / after the closures.

Part 2, over HTTP, on the central city with ``twin serve --workers 2``: ``POST /routes``
and ``POST /routes/emergency`` (the run durably written, then ended) from client threads,
first with no edits, then while a road is closed / reopened through ``PATCH
/layers/roads/...`` once a second; how long each edit takes to reach every worker; the
event loop's lag as each worker reports it.

    PYTHONPATH=. .venv/bin/python benchmarks/live_edits.py
    PYTHONPATH=. .venv/bin/python benchmarks/live_edits.py --synthetic build/bench/synthetic_330_7.osm
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks._server import production_server
from twin import City

REPO = Path(__file__).resolve().parent.parent
KEYS = {"bench-editor": "editor", "bench-dispatcher": "dispatcher"}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _pairs(c: City, n: int, seed: int) -> list[tuple[dict, dict]]:
    net = c.routing.network
    rng = np.random.default_rng(seed)
    nodes = np.flatnonzero(net.routable)
    picks = rng.choice(nodes, size=(n, 2))
    return [({"node": int(net.node_ids[a])}, {"node": int(net.node_ids[b])}) for a, b in picks]


def _route_ms(c: City, pairs: list[tuple[dict, dict]]) -> list[float]:
    out = []
    for a, b in pairs:
        started = time.perf_counter()
        try:
            c.routing.route(a, b)
        except Exception:  # noqa: BLE001 - unreachable pairs count too
            pass
        out.append((time.perf_counter() - started) * 1000)
    return out


def closure_to_route(c: City, *, closures: int, seed: int) -> dict[str, float]:
    """Per closure: durable edit + derivation + the next route, in ms; and route latency."""
    from twin.emergency import derive

    c.routing.warm()
    pairs = _pairs(c, 400, seed)
    before = _route_ms(c, pairs)
    roads = c.layers["roads"].data
    main = roads[roads["highway"].astype(str).isin(["primary", "secondary", "trunk"])]
    rng = np.random.default_rng(seed)
    picks = rng.choice(main.index.to_numpy(), size=closures, replace=False)
    edit_ms, derive_ms, first_ms = [], [], []
    for fid in picks:
        a, b = pairs[int(rng.integers(len(pairs)))]
        started = time.perf_counter()
        c.layer_service.update("roads", str(fid), {"properties": {"closed": True}}, version=1)
        edited = time.perf_counter()
        c.live.refresh()
        derived = time.perf_counter()
        try:
            c.routing.route(a, b)
        except Exception:  # noqa: BLE001
            pass
        done = time.perf_counter()
        edit_ms.append((edited - started) * 1000)
        derive_ms.append((derived - edited) * 1000)
        first_ms.append((done - started) * 1000)
    after = _route_ms(c, pairs)
    frames = {n: c.layers[n].data for n in c.live.layers_of("routing")}
    started = time.perf_counter()
    fresh = derive(c, frames, base=None, versions={})
    fresh.warm()
    scratch_ms = (time.perf_counter() - started) * 1000
    return {"nodes": c.routing.network.n_nodes, "edges": c.routing.network.n_edges,
            "edit_p50": _pct(edit_ms, 50), "derive_p50": _pct(derive_ms, 50),
            "derive_p99": _pct(derive_ms, 99), "closure_to_route_p50": _pct(first_ms, 50),
            "closure_to_route_p99": _pct(first_ms, 99), "from_scratch": scratch_ms,
            "route_p50_before": _pct(before, 50), "route_p99_before": _pct(before, 99),
            "route_p50_after": _pct(after, 50), "route_p99_after": _pct(after, 99)}


def synthetic_routing_city(osm: Path, workdir: Path, *, stations: int = 40,
                           seed: int = 7) -> City:
    """A city of the routing layers only, from a synthetic OSM file (``source=synthetic``).

    The whole build (addresses, schools, bikes, station siting) is not needed to measure
    how an edit reaches routing, and takes long at 100k nodes: this makes the ``roads``,
    ``nodes`` and ``signals`` layers as the build does (same functions) and puts fire
    stations on random junctions, then opens it as a City on ``workdir`` (edits logged
    there, durably, as on any embedded bundle).
    """
    import geopandas as gpd
    import pandas as pd

    from layers.registry import LayerRegistry
    from routing.signals import build_signal_plans
    from twin.osm import read_osm_drive_graph, read_turn_restrictions
    from twin.roads import graph_to_layers, prepare_drive_graph, signal_nodes

    cache = osm.with_name(osm.name + ".graph.pickle")  # as routing_engine.py caches it
    if cache.exists() and cache.stat().st_mtime > osm.stat().st_mtime:
        graph = pickle.loads(cache.read_bytes())
    else:  # the synthetic junctions are >= 70 m apart: consolidating merges nothing
        graph = prepare_drive_graph(read_osm_drive_graph(osm), consolidate=False,
                                    restrictions=read_turn_restrictions(osm))
        cache.write_bytes(pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL))
    if not all("street_count" in d for _, d in graph.nodes(data=True)):
        import networkx as nx
        import osmnx as ox

        nx.set_node_attributes(graph, ox.stats.count_streets_per_node(graph), "street_count")
    nodes, roads = graph_to_layers(graph)
    reg = LayerRegistry()
    reg.add("roads", roads, title="roads", source="synthetic")
    reg.add("nodes", nodes, title="nodes", source="synthetic")
    plans = build_signal_plans(graph, signal_nodes(graph), seed=seed)
    reg.add("signals", gpd.GeoDataFrame(
        plans.reset_index(names="node"), crs=4326,
        geometry=gpd.points_from_xy(nodes.loc[plans.index, "x"], nodes.loc[plans.index, "y"]),
    ).rename_axis("fid"), title="signals", source="synthetic")
    picks = np.random.default_rng(seed).choice(len(nodes), size=stations, replace=False)
    at = nodes.iloc[picks]
    reg.add("fire_stations", gpd.GeoDataFrame(
        {"id": [f"F{i + 1}" for i in range(stations)], "name": [f"站{i + 1}" for i in range(stations)],
         "kind": "fire", "node": at.index.to_numpy(), "vehicles": 2, "source": "synthetic"},
        geometry=gpd.points_from_xy(at["x"], at["y"]), crs=4326,
        index=pd.RangeIndex(stations, name="fid")), title="stations", source="synthetic")
    workdir.mkdir(parents=True, exist_ok=True)
    return City(osm.stem, reg, bundle_dir=workdir)


def _private_copy(bundle: Path, into: Path) -> Path:
    target = into / bundle.name
    shutil.copytree(bundle, target, ignore=shutil.ignore_patterns("*.edits"))
    return target


def _load(url: str, kind: str, pairs: list, seconds: float) -> list[float]:
    """One load client (its own process, so clients never wait on each other's GIL):
    ``route`` posts routes back to back; ``run`` creates an emergency run and ends it."""
    headers = {"X-API-Key": "bench-dispatcher"} if kind == "run" else {}
    out = []
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            a, b = pairs[(i * 7 if kind == "run" else i) % len(pairs)]
            body = {"origin": a, "destination": b}
            started = time.perf_counter()
            answer = client.post("/routes/emergency" if kind == "run" else "/routes", json=body)
            out.append((time.perf_counter() - started) * 1000)
            if kind == "run" and answer.status_code == 200:
                client.delete(f"/routes/emergency/{answer.json()['id']}")
            i += 1
    return out


def http_under_edits(bundle: Path, *, seconds: float, seed: int) -> dict[str, dict]:
    """Route and emergency-run latency without and with an edit a second; edit reach."""
    from concurrent.futures import ProcessPoolExecutor

    city = City.load(bundle)
    pairs = _pairs(city, 500, seed)
    roads = city.layers["roads"].data
    fid = str(roads[roads["highway"].astype(str) == "primary"].index[0])
    env = {**os.environ, "TWIN_BUNDLE": str(bundle), "TWIN_API_KEYS": json.dumps(KEYS),
           "TWIN_RATE_LIMIT": "0"}
    results: dict[str, dict] = {}
    with production_server(workers=2, env=env) as (url, _), ProcessPoolExecutor(3) as pool:
        for phase in ("no edits", "1 edit/s"):
            reach: list[float] = []
            clients = [pool.submit(_load, url, kind, pairs, seconds)
                       for kind in ("route", "route", "run")]
            if phase == "1 edit/s":
                _edit_every_second(url, fid, seconds, reach)
            routes = clients[0].result() + clients[1].result()
            runs = clients[2].result()
            lags = [httpx.get(f"{url}/health", timeout=5).json() for _ in range(8)]
            loop = {h["worker"]: h["event_loop"]["p99_ms"] for h in lags}
            results[phase] = {"routes": len(routes), "route_p50": _pct(routes, 50),
                              "route_p99": _pct(routes, 99), "runs": len(runs),
                              "run_p50": _pct(runs, 50), "run_p99": _pct(runs, 99),
                              "reach_p50": _pct(reach, 50), "reach_max": max(reach, default=np.nan),
                              "loop_p99": max(v for v in loop.values() if v is not None)}
    return results


def _edit_every_second(url: str, fid: str, seconds: float, reach: list[float]) -> None:
    """Close / reopen one road a second; per edit, the time until every worker's routing
    model carries the new version (each worker's ``/health``, on fresh connections)."""
    headers = {"X-API-Key": "bench-editor"}
    end = time.perf_counter() + seconds - 1
    closed = False
    workers = {httpx.get(f"{url}/health", timeout=5).json()["worker"] for _ in range(12)}
    while time.perf_counter() < end:
        feature = httpx.get(f"{url}/layers/roads/features/{fid}", timeout=10).json()
        version = feature["properties"]["_version"]
        closed = not closed
        tick = time.perf_counter()
        answer = httpx.patch(f"{url}/layers/roads/features/{fid}?version={version}",
                             json={"properties": {"closed": closed}}, headers=headers, timeout=10)
        if answer.status_code != 200:
            continue
        target = answer.json()["layer_version"]
        current: set[int] = set()
        while current != workers and time.perf_counter() - tick < 5:
            health = httpx.get(f"{url}/health", timeout=5).json()
            versions = health["live"]["models"].get("routing", {}).get("versions", {})
            if versions.get("roads", 0) >= target:
                current.add(health["worker"])
        reach.append((time.perf_counter() - tick) * 1000)
        time.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))


def _print_closures(rows: dict[str, dict]) -> None:
    print("\n### Closure to routing (in process; edit durably logged, model re-derived)\n")
    print("| city | nodes | edges | durable edit p50 ms | derive p50 / p99 ms | closure→route "
          "p50 / p99 ms | from scratch ms | ratio | route p50 / p99 µs before | after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['nodes']:,} | {r['edges']:,} | {r['edit_p50']:.1f} | "
              f"{r['derive_p50']:.0f} / {r['derive_p99']:.0f} | {r['closure_to_route_p50']:.0f} / "
              f"{r['closure_to_route_p99']:.0f} | {r['from_scratch']:,.0f} | "
              f"{r['from_scratch'] / r['closure_to_route_p50']:.0f}× | "
              f"{r['route_p50_before'] * 1000:.0f} / {r['route_p99_before'] * 1000:.0f} | "
              f"{r['route_p50_after'] * 1000:.0f} / {r['route_p99_after'] * 1000:.0f} |")


def _print_http(rows: dict[str, dict]) -> None:
    print("\n### The API under edits (central city, twin serve --workers 2)\n")
    print("| phase | routes | POST /routes p50 / p99 ms | runs | POST /routes/emergency "
          "p50 / p99 ms | edit reaches every worker p50 / max ms | event loop lag p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for phase, r in rows.items():
        print(f"| {phase} | {r['routes']} | {r['route_p50']:.1f} / {r['route_p99']:.1f} | "
              f"{r['runs']} | {r['run_p50']:.1f} / {r['run_p99']:.1f} | "
              f"{r['reach_p50']:.0f} / {r['reach_max']:.0f} | {r['loop_p99']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--closures", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="per HTTP phase")
    parser.add_argument("--synthetic", type=Path, default=None,
                        help="a synthetic OSM file (benchmarks/synthetic_osm.py) to build too")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    central = City.load().bundle_dir
    with tempfile.TemporaryDirectory(prefix="twin-live-") as tmp:
        rows = {"central Shanghai": closure_to_route(
            City.load(_private_copy(central, Path(tmp))), closures=args.closures, seed=args.seed)}
        if args.synthetic is not None:
            synthetic = synthetic_routing_city(args.synthetic, Path(tmp) / args.synthetic.stem)
            rows[f"synthetic ({args.synthetic.stem})"] = closure_to_route(
                synthetic, closures=args.closures, seed=args.seed)
        _print_closures(rows)
        if not args.skip_http:
            _print_http(http_under_edits(_private_copy(central, Path(tmp) / "http"),
                                         seconds=args.seconds, seed=args.seed))


if __name__ == "__main__":
    main()
