"""Road closures reaching the next route: citytwin's CCH vs re-contraction and OSRM.

On the same inputs in one run:

* the embedded default city (central Shanghai, ``City.load()``'s bundle, and its OSM
  file ``data/sources/shanghai_center.osm`` for OSRM);
* a synthetic OSM city of ``--side``² junctions (``benchmarks/synthetic_osm.py``), read
  by citytwin as ``routing_engine.py`` does (``twin.osm`` + ``twin.roads``).

For citytwin: the one-off CCH ordering + contraction, a full customization, then for
``--closures`` routes: close the middle edge (``network.closed``), :meth:`PathEngine.refresh`
(re-customization) and answer the route again — "closed → route" is that whole time. Route
p50 / p99 on random pairs before and after the closures. For comparison, the contraction
that ``refresh`` ran before the CCH (``routing.ch.ContractionHierarchy.build``).

For OSRM (``osrm-bindings`` in its own venv, see ``routing_engine.py``): the one-off
``osrm-extract`` + ``osrm-contract`` (CH) or + ``osrm-partition`` + ``osrm-customize``
(MLD), then what a closure costs: ``osrm-contract`` / ``osrm-customize`` again with
``--segment-speed-file`` (speed 0 on the closed OSM segments), loading the engine and
answering the route. OSRM CH on the synthetic city is skipped unless asked for
(``osrm-contract`` did not finish on it within an hour on this machine).

    PYTHONPATH=. .venv/bin/python benchmarks/closure_routing.py [--side 330] [--pairs 2000]
        [--closures 5] [--synthetic-osrm MLD [CH]] [--old-ch-synthetic] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing_engine import (  # noqa: E402
    INSTALL_OSRM,
    PEER,
    WORK,
    embedded_network,
    load_osm_network,
    pct,
)
from synthetic_osm import synthetic_osm  # noqa: E402

from routing.ch import ContractionHierarchy  # noqa: E402
from routing.engine import PathEngine  # noqa: E402
from routing.errors import Unreachable  # noqa: E402
from routing.network import RoadNetwork  # noqa: E402
from routing.profiles import Profile  # noqa: E402
from twin import City  # noqa: E402
from twin.build import EMBEDDED_CITIES  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def route_ms(engine: PathEngine, pairs: np.ndarray) -> list[float]:
    """Milliseconds per route (unreachable pairs included: they are answered too)."""
    out = []
    for a, b in pairs:
        s = time.perf_counter()
        try:
            engine.route(int(a), int(b))
        except Unreachable:
            pass
        out.append((time.perf_counter() - s) * 1000)
    return out


def osm_node_ids(osm: Path) -> dict[tuple[float, float], int]:
    """OSM node id by (lon, lat) rounded to 7 decimals, to name closed OSM segments."""
    import osmium

    ids: dict[tuple[float, float], int] = {}
    for obj in osmium.FileProcessor(str(osm), osmium.osm.NODE):
        ids[(round(obj.location.lon, 7), round(obj.location.lat, 7))] = obj.id
    return ids


def pick_closures(engine: PathEngine, pairs: np.ndarray, count: int,
                  node_ids: dict[tuple[float, float], int]) -> list[tuple]:
    """``(source, target, edge, (osm from, osm to))``: the middle edge of routes whose
    first OSM segment can be named (its two points are OSM nodes of the file)."""
    net = engine.network
    out: list[tuple] = []
    for a, b in pairs:
        path = engine.route(int(a), int(b))
        for e in path.edges[len(path.edges) // 2:]:
            geom = net.geometries[e]
            pts = (list(geom.coords)[:2] if geom is not None
                   else [tuple(net.xy[net.edge_u[e]]), tuple(net.xy[net.edge_v[e]])])
            ends = [node_ids.get((round(x, 7), round(y, 7))) for x, y in pts]
            if len(path.edges) >= 6 and None not in ends:
                out.append((int(a), int(b), e, tuple(ends)))
                break
        if len(out) == count:
            break
    return out


def osrm_closure(python: Path, osm: Path, segments: list[tuple[int, int]],
                 pair: list[float], algorithm: str) -> dict | None:
    """Run the OSRM peer's closure timing; None if the peer is not installed."""
    if not python.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        seg = Path(tmp) / "closed.csv"
        seg.write_text("".join(f"{u},{v},0\n{v},{u},0\n" for u, v in segments))
        pair_file = Path(tmp) / "pair.json"
        pair_file.write_text(json.dumps(pair))
        out = subprocess.run([str(python), str(PEER), "--closure", str(osm), str(seg),
                              str(pair_file), str(WORK / "osrm-closure" / osm.stem), algorithm],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(label: str, network: RoadNetwork, osm: Path, *, pairs: int, closures: int,
          old_ch: bool, osrm_python: Path, osrm_algorithms: list[str]) -> None:
    """Print the rows of one graph."""
    engine = PathEngine(network, Profile.car())
    started = time.perf_counter()
    topology = engine.topology
    order_s = time.perf_counter() - started
    _ = engine.hierarchy  # full customization
    full_s = engine.customize_seconds
    rng = np.random.default_rng(1)
    queries = rng.choice(np.flatnonzero(network.routable), size=(pairs, 2))
    route_ms(engine, queries[:50])  # warm up the compiled code
    before = route_ms(engine, queries)
    picked = pick_closures(engine, queries[::-1], closures, osm_node_ids(osm))
    closed_to_route, customize = [], []
    saved = network.closed.copy()
    try:
        for a, b, edge, _ in picked:
            s = time.perf_counter()
            network.closed[edge] = True
            engine.refresh()
            try:
                path = engine.route(a, b)
                assert edge not in path.edges, "the route still uses the closed edge"
            except Unreachable:
                pass
            closed_to_route.append(time.perf_counter() - s)
            customize.append(engine.customize_seconds)
        after = route_ms(engine, queries)
        s = time.perf_counter()
        what_if = engine.with_weights(np.where(network.closed, np.inf, engine.weights * 1.25))
        what_if.route(*queries[0])
        what_if_s = time.perf_counter() - s
    finally:
        network.closed[:] = saved
        engine.refresh()
    ch_s = None
    if old_ch:
        turns = network.turn_graph
        s = time.perf_counter()
        ContractionHierarchy.build(turns.n_nodes, turns.tail, turns.head, engine.turn_weights)
        ch_s = time.perf_counter() - s
    size = (f"{network.n_nodes:,} nodes, {len(network.edge_u):,} edges, "
            f"{len(network.restrictions)} restrictions; CCH {topology.n_arcs:,} arcs, "
            f"tree height {topology.height:,}")
    print(f"| **{label}** ({size}) | | | |")
    print(f"| one-off: order + contract (citytwin) | {order_s:.2f} s | | |")
    print(f"| full customization, all weights | {full_s * 1000:.0f} ms | | |")
    cs, ct = np.array(customize) * 1000, np.array(closed_to_route) * 1000
    print(f"| re-customization after a closure ({len(picked)} closures, median / max) | "
          f"{np.median(cs):.0f} / {cs.max():.0f} ms | | |")
    print(f"| closed → next route answers (refresh + route, median / max) | "
          f"{np.median(ct):.0f} / {ct.max():.0f} ms | | |")
    print(f"| what-if engine (`with_weights`, all weights changed) + one route | "
          f"{what_if_s * 1000:.0f} ms | | |")
    print(f"| route p50 / p99 before closures ({pairs} pairs) | "
          f"{pct(before, 0.5):.3f} / {pct(before, 0.99):.3f} ms | | |")
    print(f"| route p50 / p99 with the {len(picked)} closures | "
          f"{pct(after, 0.5):.3f} / {pct(after, 0.99):.3f} ms | | |")
    if ch_s is not None:
        print(f"| before the CCH: re-contract the CH on every refresh | {ch_s:.2f} s | "
              f"| closed → route now {ch_s * 1000 / np.median(ct):.0f}x faster |")
    segments = [ends for *_, ends in picked]
    a, b, *_ = picked[0]
    pair = [*network.xy[a].tolist(), *network.xy[b].tolist()]
    for algorithm in osrm_algorithms:
        peer = osrm_closure(osrm_python, osm, segments, pair, algorithm)
        if peer is None:
            print(f"| {INSTALL_OSRM} | | | |")
            break
        one_off = ("extract + contract" if algorithm == "CH"
                   else "extract + partition + customize")
        step = "osrm-contract" if algorithm == "CH" else "osrm-customize"
        note = "" if peer["ok"] else f" (failed: {peer['stderr'].strip()[-120:]})"
        print(f"| OSRM {algorithm}: one-off {one_off} | "
              f"{peer['extract_s'] + peer['contract_s']:.1f} s | | |")
        print(f"| OSRM {algorithm}: closure = {step} --segment-speed-file{note} | "
              f"{peer['update_s'] * 1000:.0f} ms | | OSRM/ours "
              f"{peer['update_s'] * 1000 / np.median(cs):.0f}x |")
        print(f"| OSRM {algorithm}: closed → next route ({step} + load + route) | "
              f"{peer['closed_to_route_s'] * 1000:.0f} ms | | OSRM/ours "
              f"{peer['closed_to_route_s'] * 1000 / np.median(ct):.0f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=330, help="synthetic city: junctions per side")
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--closures", type=int, default=5)
    parser.add_argument("--osrm-python", type=Path,
                        default=Path(os.environ.get("OSRM_PYTHON", REPO / ".osrm-venv/bin/python")))
    parser.add_argument("--osrm", nargs="*", default=["CH", "MLD"], choices=["CH", "MLD"],
                        help="OSRM pipelines on the embedded city")
    parser.add_argument("--synthetic-osrm", nargs="*", default=[], choices=["CH", "MLD"],
                        help="OSRM pipelines on the synthetic city (MLD: ~5 min one-off; "
                             "CH: over an hour)")
    parser.add_argument("--old-ch-synthetic", action="store_true",
                        help="also time the old CH contraction on the synthetic city (~30 s)")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    city = City.load()
    network = embedded_network(city)
    print("| step | citytwin (CCH) or peer | | ratio |")
    print("|---|---|---|---|")
    bench(f"embedded {city.name}", network, REPO / "data" / "sources" / EMBEDDED_CITIES[city.name],
          pairs=args.pairs, closures=args.closures, old_ch=True, osrm_python=args.osrm_python,
          osrm_algorithms=args.osrm)
    if not args.skip_synthetic:
        osm = synthetic_osm(args.side)
        bench(f"synthetic OSM city {args.side}x{args.side}", load_osm_network(osm), osm,
              pairs=args.pairs, closures=args.closures, old_ch=args.old_ch_synthetic,
              osrm_python=args.osrm_python, osrm_algorithms=args.synthetic_osrm)
    print(f"# load average after the run {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
