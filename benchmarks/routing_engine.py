"""Point-to-point routing: ours (customizable contraction hierarchies) vs networkx and OSRM.

Inputs, the same for every engine in one run:

* the embedded city (central Shanghai, ``data/sources/shanghai_center.osm``);
* a synthetic OSM city of ``--side``² junctions (``benchmarks/synthetic_osm.py``:
  perturbed grid, road classes, one-way streets, signals, turn restrictions; labelled
  synthetic), read by citytwin through the same path as ``twin build --osm``
  (:func:`twin.osm.read_osm_drive_graph`, :func:`twin.osm.read_turn_restrictions`,
  :func:`twin.roads.prepare_drive_graph`) and by OSRM's own ``osrm-extract`` (car profile)
  and ``osrm-contract``.

Peers: ``networkx.shortest_path`` (what osmnx's ``shortest_path`` runs) on a DiGraph with
our edge weights, and OSRM's in-process Python bindings (``osrm-bindings``, CH), run in a
subprocess with the peer's own Python 3.12 venv (see the README). Query pairs are random
nodes of the largest strongly connected component; OSRM gets their coordinates, so it is
compared with our snap + route from lon/lat. Also prints the green-wave, dispatch and
coverage timings on the embedded city.

    PYTHONPATH=. .venv/bin/python benchmarks/routing_engine.py [--side 330] [--pairs 2000]
        [--osrm-python .osrm-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_osm import synthetic_osm  # noqa: E402

from routing.engine import PathEngine  # noqa: E402
from routing.network import RoadNetwork  # noqa: E402
from routing.profiles import Profile  # noqa: E402
from twin import City  # noqa: E402
from twin.build import EMBEDDED_CITIES  # noqa: E402
from twin.osm import read_osm_drive_graph, read_turn_restrictions  # noqa: E402
from twin.roads import prepare_drive_graph  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench"
PEER = Path(__file__).resolve().parent / "_osrm_peer.py"
INSTALL_OSRM = ("OSRM peer not installed: python3.12 -m venv .osrm-venv && "
                ".osrm-venv/bin/pip install osrm-bindings (or pass --osrm-python)")


def pct(ms: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of a list of timings."""
    return float(np.quantile(np.asarray(ms), q)) if ms else float("nan")


def embedded_network(city: City) -> RoadNetwork:
    """The network the routing service opens on a built city (graph, signals, turns)."""
    turns = city.layers["turn_restrictions"].data if "turn_restrictions" in city.layers else None
    return RoadNetwork.from_layers(city.graph, city.layers["signals"].data, turns)


def load_osm_network(osm: Path, *, consolidate: bool = False) -> RoadNetwork:
    """The network citytwin builds from an OSM file (cached beside it as a pickle).

    The synthetic city's junctions are at least 70 m apart, so consolidating them (12 m
    tolerance) would merge nothing; it is skipped by default because osmnx takes over
    ten minutes for it on 100k nodes.
    """
    cache = WORK / (osm.name + ".graph.pickle")
    if cache.exists() and cache.stat().st_mtime > osm.stat().st_mtime:
        graph = pickle.loads(cache.read_bytes())
    else:
        started = time.perf_counter()
        graph = prepare_drive_graph(read_osm_drive_graph(osm), consolidate=consolidate,
                                    restrictions=read_turn_restrictions(osm))
        print(f"# citytwin read + prepared {osm.name} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(graph, protocol=pickle.HIGHEST_PROTOCOL))
    return RoadNetwork(graph)


def osrm_peer(python: Path | None, osm: Path, coords: np.ndarray,
              algorithm: str = "CH") -> dict | None:
    """Run the OSRM peer on ``coords`` (rows lon, lat, lon, lat); None if not installed."""
    if python is None or not python.exists():
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(coords.tolist(), f)
    try:
        out = subprocess.run([str(python), str(PEER), str(osm), f.name,
                              str(WORK / "osrm" / osm.stem), algorithm],
                             capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(graph: str, nodes: str, engine: str, build: str, ms: list[float],
        ratio: str = "") -> None:
    """One table row."""
    print(f"| {graph} | {nodes} | {engine} | {build} | {pct(ms, 0.5):.3f} | {pct(ms, 0.99):.3f} "
          f"| {ratio} |", flush=True)


def bench(label: str, network: RoadNetwork, osm: Path, *, pairs: int, nx_pairs: int,
          osrm_python: Path | None, osrm_algorithms: list[str]) -> None:
    """Time ours, networkx and OSRM on the same random pairs and print the rows."""
    engine = PathEngine(network, Profile.car())
    started = time.perf_counter()
    ch = engine.hierarchy
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(1)
    nodes = np.flatnonzero(network.routable)
    queries = rng.choice(nodes, size=(pairs, 2))
    coords = np.hstack([network.xy[queries[:, 0]], network.xy[queries[:, 1]]])
    for a, b in queries[:50]:  # warm up (compiled code, caches)
        engine.route(int(a), int(b))
    ours, durations = [], []
    for a, b in queries:
        s = time.perf_counter()
        path = engine.route(int(a), int(b))
        ours.append((time.perf_counter() - s) * 1000)
        durations.append(path.duration_s)
    lonlat = []
    for lon1, lat1, lon2, lat2 in coords:
        s = time.perf_counter()
        engine.route(network.snap(lon1, lat1)[0], network.snap(lon2, lat2)[0])
        lonlat.append((time.perf_counter() - s) * 1000)
    # networkx on the same weights (cheapest edge per node pair)
    ref = nx.DiGraph()
    for e, w in enumerate(engine.weights):
        u, v = int(network.edge_u[e]), int(network.edge_v[e])
        if np.isfinite(w) and (not ref.has_edge(u, v) or ref[u][v]["w"] > w):
            ref.add_edge(u, v, w=float(w))
    theirs = []
    for k, (a, b) in enumerate(queries[:nx_pairs]):
        s = time.perf_counter()
        q = nx.shortest_path(ref, int(a), int(b), weight="w")
        theirs.append((time.perf_counter() - s) * 1000)
        nx_time = sum(ref[x][y]["w"] for x, y in zip(q[:-1], q[1:], strict=True))
        # restrictions can only make our routes longer; without them they are equal
        assert durations[k] >= nx_time - 1e-6 * max(nx_time, 1.0)
        if not network.restrictions:
            assert abs(durations[k] - nx_time) <= 1e-6 * max(nx_time, 1.0)
    size = f"{network.n_nodes:,} nodes, {len(network.edge_u):,} edges, " \
           f"{len(network.restrictions)} restrictions"
    p50 = pct(ours, 0.5)
    row(label, size, f"citytwin CCH, node ids ({pairs} pairs)",
        f"{build_s:.1f} s order + contract + customize", ours)
    row(label, "", "citytwin CCH, lon/lat (snap + route)", "", lonlat)
    row(label, "", f"networkx shortest_path ({nx_pairs} pairs)", "", theirs,
        f"ours {pct(theirs, 0.5) / p50:.0f}x faster (p50), "
        f"{pct(theirs, 0.99) / pct(ours, 0.99):.0f}x (p99)")
    for algorithm in osrm_algorithms:
        peer = osrm_peer(osrm_python, osm, coords, algorithm)
        if peer is None:
            print(f"| {label} | | {INSTALL_OSRM} | | | | |")
            break
        ok = [m for m, d in zip(peer["ms"], peer["durations"], strict=True) if d is not None]
        ratio = (f"ours/OSRM {pct(lonlat, 0.5) / pct(ok, 0.5):.2f} (p50), "
                 f"{pct(lonlat, 0.99) / pct(ok, 0.99):.2f} (p99); "
                 f"OSRM no route: {len(peer['ms']) - len(ok)}")
        prep = "contract" if algorithm == "CH" else "partition + customize"
        row(label, "", f"OSRM {algorithm} via osrm-bindings, lon/lat",
            f"{peer['extract_s']:.1f} s extract + {peer['contract_s']:.1f} s {prep}", ok, ratio)
    print(f"|  |  | (CCH: {ch.topology.n_arcs:,} arcs, {ch.n_shortcuts:,} of them fill-in) "
          "| | | | |", flush=True)


def service_timings(city: City) -> None:
    """Green-wave plan, dispatch and coverage on the embedded city."""
    service = city.routing
    runs = []
    for _ in range(200):
        s = time.perf_counter()
        run = service.emergency_route({"station": "F1"}, {"lon": 121.484, "lat": 31.238})
        runs.append((time.perf_counter() - s) * 1000)
        service.finish(run["id"])
    disp = []
    for _ in range(200):
        s = time.perf_counter()
        service.dispatch({"lon": 121.466, "lat": 31.236})
        disp.append((time.perf_counter() - s) * 1000)
    cov = []
    for _ in range(50):
        s = time.perf_counter()
        service.coverage(minutes=5)
        cov.append((time.perf_counter() - s) * 1000)
    print("\n| embedded city | p50 ms | p99 ms | goal |")
    print("|---|---|---|---|")
    for name, ms, goal in (("emergency route + green-wave plan", runs, "< 5 ms"),
                           (f"dispatch ({len(service.stations)} stations)", disp, "< 20 ms"),
                           ("citywide 5-min coverage, with and without green wave", cov, "< 1 s")):
        print(f"| {name} | {pct(ms, 0.5):.2f} | {pct(ms, 0.99):.2f} | {goal} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=330, help="synthetic city: junctions per side")
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--nx-pairs", type=int, default=40, help="networkx pairs on the large city")
    parser.add_argument("--osrm-python", type=Path,
                        default=Path(os.environ.get("OSRM_PYTHON", REPO / ".osrm-venv/bin/python")))
    parser.add_argument("--osrm-algorithm", nargs="+", default=["CH"], choices=["CH", "MLD"],
                        help="OSRM pipelines to time (CH: osrm-contract; MLD: partition + customize)")
    parser.add_argument("--synthetic-osrm-algorithm", nargs="+", choices=["CH", "MLD"],
                        help="OSRM pipelines on the synthetic city (default: --osrm-algorithm)")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    city = City.load()
    network = embedded_network(city)
    print("| graph | size | engine | build | p50 ms | p99 ms | ratio |")
    print("|---|---|---|---|---|---|---|")
    bench(f"embedded {city.name}", network,
          REPO / "data" / "sources" / EMBEDDED_CITIES[city.name],
          pairs=args.pairs, nx_pairs=args.pairs, osrm_python=args.osrm_python,
          osrm_algorithms=args.osrm_algorithm)
    if not args.skip_synthetic:
        osm = synthetic_osm(args.side)
        bench(f"synthetic OSM city {args.side}x{args.side}", load_osm_network(osm), osm,
              pairs=args.pairs, nx_pairs=args.nx_pairs, osrm_python=args.osrm_python,
              osrm_algorithms=args.synthetic_osrm_algorithm or args.osrm_algorithm)
    service_timings(city)
    print(f"# load average after the run {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
