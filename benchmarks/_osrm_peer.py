"""The OSRM peer of ``routing_engine.py``: run with the OSRM venv's Python (3.12).

    .osrm-venv/bin/python benchmarks/_osrm_peer.py CITY.osm PAIRS.json WORKDIR [CH|MLD]

Extracts (car profile) and contracts the OSM file with the wheel's own ``osrm-extract``
and ``osrm-contract`` (CH, the default) or ``osrm-partition`` + ``osrm-customize``
(MLD), then times in-process ``Route`` queries through the Python
bindings on the given coordinate pairs (``[[lon, lat, lon, lat], ...]``). Prints one
JSON object: build seconds, per-query milliseconds and route durations. Only the
standard library and ``osrm`` are imported, so the venv needs nothing else.
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


def main() -> None:
    osm, pairs_file = Path(sys.argv[1]), Path(sys.argv[2])
    algorithm = sys.argv[4] if len(sys.argv) > 4 else "CH"
    workdir = Path(sys.argv[3]) / algorithm
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


if __name__ == "__main__":
    main()
