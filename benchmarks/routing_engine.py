"""Point-to-point routing: the CSR engine vs networkx on the same graphs and pairs.

Graphs: the embedded city, and a synthetic 100k-node street grid (labelled synthetic:
one-way streets every fifth row, random class and speed, fixed seed). Also times the
green-wave plan, dispatch and citywide coverage on the embedded city.

    .venv/bin/python benchmarks/routing_engine.py
"""

from __future__ import annotations

import statistics
import time

import networkx as nx
import numpy as np

from routing.engine import PathEngine
from routing.network import RoadNetwork
from routing.profiles import Profile
from twin import City


def synthetic_grid(side: int, seed: int = 0) -> nx.MultiDiGraph:
    """A side x side street grid (~111 m blocks), synthetic."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="epsg:4326", source="synthetic")
    step = 0.001
    for i in range(side):
        for j in range(side):
            g.add_node(i * side + j, x=121.0 + j * step, y=31.0 + i * step, signal=False)
    classes = np.array(["primary", "secondary", "tertiary", "residential"])
    for i in range(side):
        for j in range(side):
            a = i * side + j
            for b, horizontal in (((i * side + j + 1) if j + 1 < side else None, True),
                                  (((i + 1) * side + j) if i + 1 < side else None, False)):
                if b is None:
                    continue
                cls = classes[rng.integers(0, 4)]
                data = {"length": 100.0 + rng.random() * 20, "highway": str(cls), "lanes": 1,
                        "speed_kph": float(rng.choice([30, 40, 50])), "name": None}
                g.add_edge(a, b, **data)
                if not (horizontal and i % 5 == 0):
                    g.add_edge(b, a, **data)
    return g


def bench(graph: nx.MultiDiGraph, label: str, pairs: int) -> None:
    net = RoadNetwork(graph)
    engine = PathEngine(net, Profile.car())
    # the same weights for networkx
    ref = nx.DiGraph()
    for e, w in enumerate(engine.weights):
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        if not ref.has_edge(u, v) or ref[u][v]["w"] > w:
            ref.add_edge(u, v, w=float(w))
    rng = np.random.default_rng(1)
    nodes = np.flatnonzero(net.routable)
    queries = rng.choice(nodes, size=(pairs, 2))
    ours, theirs = [], []
    for a, b in queries:
        s = time.perf_counter()
        p = engine.route(int(a), int(b))
        ours.append((time.perf_counter() - s) * 1000)
        s = time.perf_counter()
        q = nx.shortest_path(ref, int(a), int(b), weight="w")
        theirs.append((time.perf_counter() - s) * 1000)
        assert p.nodes[0] == q[0] and p.nodes[-1] == q[-1]
    ratio = statistics.median(theirs) / statistics.median(ours)
    print(f"| {label} ({net.n_nodes:,} nodes) | {statistics.median(ours):.2f} | "
          f"{statistics.median(theirs):.2f} | {ratio:.1f}x |")


def main() -> None:
    city = City.load()
    print("| graph | CSR engine p50 ms | networkx shortest_path p50 ms | speed-up |")
    print("|---|---|---|---|")
    bench(city.graph, "embedded Shanghai", 300)
    bench(synthetic_grid(317), "synthetic grid", 30)
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
    print("\n| embedded city | p50 ms | p99 ms |")
    print("|---|---|---|")
    for name, ms in (("emergency route + green-wave plan", runs), ("dispatch (3 stations)", disp),
                     ("citywide 5-min coverage, with and without green wave", cov)):
        print(f"| {name} | {statistics.median(ms):.2f} | {sorted(ms)[int(0.99 * (len(ms) - 1))]:.2f} |")


if __name__ == "__main__":
    main()
