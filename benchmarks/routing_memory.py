"""The routing engine for a 1M-node network: contraction time, file size, load time, RSS.

The network is the synthetic OSM city of ``benchmarks/synthetic_osm.py`` at
``--side 1000`` (a million junctions, labelled synthetic). osmnx needs far more memory
and time than a server has for a graph this size, so the file is read here with osmium
straight into edge arrays (road-class default speeds of :data:`twin.roads.DEFAULT_SPEEDS_KPH`,
``oneway``, the turn restrictions). The engine is then what a worker holds: the
turn-expanded graph contracted into a :class:`routing.ch.ContractionHierarchy`, saved as
``.npz`` and loaded by a fresh process, which reports its load time, RSS and query times.

    PYTHONPATH=. .venv/bin/python benchmarks/routing_memory.py [--side 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_osm import synthetic_osm  # noqa: E402

from routing.ch import ContractionHierarchy  # noqa: E402
from routing.turns import TurnGraph, forbidden_turns  # noqa: E402
from twin.osm import read_turn_restrictions  # noqa: E402
from twin.roads import DEFAULT_SPEEDS_KPH  # noqa: E402

WORK = Path(__file__).resolve().parent.parent / "build" / "bench"


def rss_mb() -> float:
    """Resident set size of this process now (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB, ``VmHWM``: reset by exec, unlike
    ``ru_maxrss``, which a child inherits from its parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_edges(osm: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
    """Node coordinates, edges (u, v, seconds) and node-triple restrictions of an OSM file."""
    import osmium

    ids, lon, lat = [], [], []
    tails, heads, speeds = [], [], []
    way_nodes: dict[int, list[int]] = {}
    for obj in osmium.FileProcessor(str(osm), osmium.osm.NODE | osmium.osm.WAY):
        if obj.is_node():
            ids.append(obj.id)
            lon.append(obj.location.lon)
            lat.append(obj.location.lat)
            continue
        cls = obj.tags.get("highway")
        if cls not in DEFAULT_SPEEDS_KPH:
            continue
        refs = [n.ref for n in obj.nodes]
        way_nodes[obj.id] = refs
        oneway = obj.tags.get("oneway") in ("yes", "true", "1")
        kph = float(obj.tags.get("maxspeed") or DEFAULT_SPEEDS_KPH[cls])
        for a, b in zip(refs[:-1], refs[1:], strict=True):
            tails.append(a)
            heads.append(b)
            speeds.append(kph)
            if not oneway:
                tails.append(b)
                heads.append(a)
                speeds.append(kph)
    ids_arr = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids_arr)
    xy = np.column_stack([np.asarray(lon), np.asarray(lat)])[order]
    ids_arr = ids_arr[order]
    u = np.searchsorted(ids_arr, np.asarray(tails, dtype=np.int64))
    v = np.searchsorted(ids_arr, np.asarray(heads, dtype=np.int64))
    scale = np.array([111_320.0 * math.cos(math.radians(float(xy[:, 1].mean()))), 110_540.0])
    metres = np.hypot(*((xy[v] - xy[u]) * scale).T)
    seconds = metres / np.asarray(speeds) * 3.6
    triples = []
    for row in read_turn_restrictions(osm).itertuples():
        frm, to = way_nodes.get(row.from_way), way_nodes.get(row.to_way)
        if not frm or not to or row.via_node not in frm or row.via_node not in to:
            continue
        i, j = frm.index(row.via_node), to.index(row.via_node)
        before = frm[i - 1] if i > 0 else frm[i + 1]
        after = to[j + 1] if j + 1 < len(to) else to[j - 1]
        idx = np.searchsorted(ids_arr, [before, row.via_node, after])
        triples.append((int(idx[0]), int(idx[1]), int(idx[2]), row.restriction))
    return xy, u, v, seconds, triples


def build(side: int, out: Path) -> dict:
    """Read, expand and contract the synthetic city; save the engine arrays to ``out``."""
    osm = synthetic_osm(side)
    started = time.perf_counter()
    xy, u, v, seconds, triples = read_edges(osm)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    turns = TurnGraph.build(len(xy), u, v, forbidden_turns(u, v, triples))
    ch = ContractionHierarchy.build(turns.n_nodes, turns.tail, turns.head, seconds[turns.edge])
    contract_s = time.perf_counter() - started
    ch.save(out)
    np.savez(out.with_name(out.stem + "_graph.npz"), xy=xy, edge_u=u, edge_v=v,
             seconds=seconds, turn_edge=turns.edge, turn_node=turns.node)
    return {"nodes": len(xy), "edges": len(u), "restrictions": len(triples),
            "expanded_nodes": turns.n_nodes, "shortcuts": ch.n_shortcuts, "read_s": read_s,
            "contract_s": contract_s, "build_peak_rss_mb": peak_rss_mb()}


def serve(out: Path, queries: int) -> dict:
    """In a fresh process: load the saved engine, answer ``queries`` random routes."""
    before = rss_mb()
    started = time.perf_counter()
    ch = ContractionHierarchy.load(out)
    with np.load(out.with_name(out.stem + "_graph.npz")) as data:
        graph = {k: data[k] for k in data.files}
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(3)
    n = len(graph["xy"])
    ch.query(0, 1)  # compiled code from numba's cache
    ms, found = [], 0
    for a, b in rng.integers(0, n, size=(queries, 2)):
        s = time.perf_counter()
        dist, steps = ch.query(int(a), int(b))
        ms.append((time.perf_counter() - s) * 1000)
        found += bool(np.isfinite(dist))
    return {"load_s": load_s, "rss_after_load_mb": rss_mb(), "rss_before_mb": before,
            "peak_rss_mb": peak_rss_mb(), "p50_ms": float(np.median(ms)),
            "p99_ms": float(np.quantile(ms, 0.99)), "found": found, "queries": queries,
            "file_mb": (out.stat().st_size + out.with_name(out.stem + "_graph.npz").stat().st_size)
            / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rebuild", action="store_true",
                        help="contract again even if the engine of this size was saved before")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve, args.queries)))
        return
    out = WORK / f"engine_{args.side}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    stats = out.with_suffix(".json")
    if args.rebuild or not (out.exists() and stats.exists()):
        stats.write_text(json.dumps(build(args.side, out)))
    built = json.loads(stats.read_text())
    served = json.loads(subprocess.run(
        [sys.executable, __file__, "--serve", str(out), "--queries", str(args.queries)],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    print(f"\nsynthetic OSM city {args.side}x{args.side}: {built['nodes']:,} nodes, "
          f"{built['edges']:,} edges, {built['restrictions']:,} turn restrictions "
          f"({built['expanded_nodes']:,} nodes after splitting restricted junctions), "
          f"{built['shortcuts']:,} shortcuts\n")
    print("| step | value |")
    print("|---|---|")
    rows = [("read OSM (osmium) into arrays", f"{built['read_s']:.1f} s"),
            ("expand turns + contract (build)", f"{built['contract_s']:.1f} s"),
            ("peak RSS of the build", f"{built['build_peak_rss_mb']:.0f} MB"),
            ("engine files (.npz)", f"{served['file_mb']:.0f} MB"),
            ("load in a fresh process", f"{served['load_s']:.2f} s"),
            ("RSS after load (interpreter + numpy + numba included)",
             f"{served['rss_after_load_mb']:.0f} MB"),
            ("peak RSS while serving", f"{served['peak_rss_mb']:.0f} MB"),
            (f"route query p50 / p99 ({served['queries']} random pairs, "
             f"{served['found']} connected)", f"{served['p50_ms']:.3f} / {served['p99_ms']:.3f} ms")]
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
