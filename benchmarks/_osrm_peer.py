"""The OSRM peer of ``routing_engine.py``: run with the OSRM venv's Python (3.12).

    .osrm-venv/bin/python benchmarks/_osrm_peer.py CITY.osm PAIRS.json WORKDIR [CH|MLD]
    .osrm-venv/bin/python benchmarks/_osrm_peer.py --closure CITY.osm SEGMENTS.csv PAIR.json \
        WORKDIR CH|MLD

Extracts (car profile) and contracts the OSM file with the wheel's own ``osrm-extract``
and ``osrm-contract`` (CH, the default) or ``osrm-partition`` + ``osrm-customize``
(MLD), then times in-process ``Route`` queries through the Python
bindings on the given coordinate pairs (``[[lon, lat, lon, lat], ...]``). Prints one
JSON object: build seconds, per-query milliseconds and route durations. Only the
standard library and ``osrm`` are imported, so the venv needs nothing else.

``--closure`` times what OSRM needs to take a road closure (``closure_routing.py``):
after the one-off extract (+ partition), re-run ``osrm-contract`` (CH) or
``osrm-customize`` (MLD) with ``--segment-speed-file`` (speed 0 closes the listed OSM
node pairs), load the engine and answer one route.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import osrm


def _tool(name: str) -> str:
    exe = Path(osrm.__file__).resolve().parent / "bin" / name
    return str(exe) if exe.is_file() else name


def _route(engine: osrm.OSRM, params: osrm.RouteParameters) -> float | None:
    try:
        return float(engine.Route(params)["routes"][0]["duration"])
    except RuntimeError:  # NoRoute: no path between the snapped points
        return None


def _prepare(osm: Path, workdir: Path, algorithm: str) -> tuple[Path, dict]:
    """Extract (and contract / partition + customize) ``osm`` once; the build timings."""
    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / osm.name
    base = local.with_suffix(".osrm")
    profile = Path(osrm.__file__).resolve().parent / "share" / "profiles" / "car.lua"
    stamp = workdir / (osm.name + ".built")
    timings = json.loads(stamp.read_text()) if stamp.exists() and \
        stamp.stat().st_mtime > osm.stat().st_mtime else None
    if timings is None:
        shutil.copyfile(osm, local)
        started = time.perf_counter()
        subprocess.run([_tool("osrm-extract"), "-p", str(profile), str(local)], check=True,
                       capture_output=True)
        extracted = time.perf_counter()
        steps = [["osrm-contract"]] if algorithm == "CH" else [["osrm-partition"],
                                                                ["osrm-customize"]]
        for step in steps:
            subprocess.run([_tool(step[0]), str(base)], check=True, capture_output=True)
        contracted = time.perf_counter()
        timings = {"extract_s": extracted - started, "contract_s": contracted - extracted,
                   "algorithm": algorithm}
        stamp.write_text(json.dumps(timings))
    return base, timings


def main() -> None:
    osm, pairs_file = Path(sys.argv[1]), Path(sys.argv[2])
    algorithm = sys.argv[4] if len(sys.argv) > 4 else "CH"
    base, timings = _prepare(osm, Path(sys.argv[3]) / algorithm, algorithm)
    started = time.perf_counter()
    engine = osrm.OSRM(storage_config=str(base), algorithm=algorithm, use_shared_memory=False)
    load_s = time.perf_counter() - started
    pairs = json.loads(pairs_file.read_text())
    params = [osrm.RouteParameters(coordinates=[(a, b), (c, d)], overview="false",
                                   generate_hints=False) for a, b, c, d in pairs]
    for p in params[: min(50, len(params))]:  # warm up
        _route(engine, p)
    ms, durations = [], []
    for p in params:
        s = time.perf_counter()
        durations.append(_route(engine, p))
        ms.append((time.perf_counter() - s) * 1000)
    print(json.dumps({**timings, "algorithm": algorithm, "load_s": load_s, "ms": ms,
                      "durations": durations}))


def closure_main(osm: Path, segments: Path, pair_file: Path, workdir: Path,
                 algorithm: str) -> None:
    """Time a closure: re-contract / re-customize with the segment file, load, route."""
    base, timings = _prepare(osm, workdir / algorithm, algorithm)
    step = "osrm-contract" if algorithm == "CH" else "osrm-customize"
    started = time.perf_counter()
    done = subprocess.run([_tool(step), "--segment-speed-file", str(segments), str(base)],
                          capture_output=True, text=True)
    update_s = time.perf_counter() - started
    engine = osrm.OSRM(storage_config=str(base), algorithm=algorithm, use_shared_memory=False)
    a, b, c, d = json.loads(pair_file.read_text())
    duration = _route(engine, osrm.RouteParameters(coordinates=[(a, b), (c, d)],
                                                   overview="false", generate_hints=False))
    total_s = time.perf_counter() - started
    print(json.dumps({**timings, "algorithm": algorithm, "update_s": update_s,
                      "closed_to_route_s": total_s, "duration": duration,
                      "ok": done.returncode == 0, "stderr": done.stderr[-400:]}))


if __name__ == "__main__":
    if sys.argv[1] == "--closure":
        closure_main(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]),
                     Path(sys.argv[5]), sys.argv[6])
    else:
        main()
