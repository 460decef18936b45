"""Validate the green wave (一路绿灯) in SUMO on the central city, under controller limits.

Both sides run the same signals: the twin's timing plans become SUMO programs
(:mod:`tls`). For each incident, fire engines from three stations converge on it (the
stations with a 2–8 km route, ranked by the twin's ETA with priority, :mod:`routing.eta`);
each incident runs three times on the same background traffic and seed:

* ``base``  — fixed-time plans, no priority;
* ``open``  — the priority requests planned at dispatch, executed as planned (no AVL);
* ``avl``   — an AVL fix every 5 s (15 m noise, 1–2 s latency) per engine, matched to its
  route (:mod:`routing.avl`), windows re-planned, requests updated and released when
  passed (:mod:`routing.controller`); SUMO's controller executes only those requests
  (:mod:`priority`), with minimum green, pedestrian clearance, yellow, all-red and the
  maximum pre-emption.

Each run's result is cached as JSON (+ ``.npz`` for lane series) under ``--cache``, keyed
by the run's configuration, so an interrupted sweep resumes. Two SUMO engines run in
parallel (``--workers``).

    .venv/bin/python benchmarks/sumo/green_wave_sumo.py                    # the sweep
    .venv/bin/python benchmarks/sumo/green_wave_sumo.py --quick            # one level, two incidents
    .venv/bin/python benchmarks/sumo/green_wave_sumo.py --city core --quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

import scenario  # noqa: E402
import sumolib  # noqa: E402
import tls  # noqa: E402
from simulate import Dispatched, RunConfig, run_incident, write_fire_type  # noqa: E402

from routing.avl import RouteGeometry  # noqa: E402

__all__ = ["Sweep", "QUICK", "FULL", "plan_incidents", "run_sweep", "summary"]

TZ = ZoneInfo("Asia/Shanghai")
#: Simulation second 0 (the morning peak's plans then run on the twin's clock).
EPOCH = dt.datetime(2026, 11, 23, 7, 50, tzinfo=TZ)
MIN_ROUTE_M, MAX_ROUTE_M = 2000.0, 8000.0
ENGINES_PER_INCIDENT = 3
MODES = ("base", "open", "avl")
#: The bound: perfect priority without controller limits (``--ideal`` adds it).
IDEAL = "ideal"


@dataclass(frozen=True)
class Sweep:
    """Demand levels, seeds and incidents of one validation run."""

    city: str
    periods: tuple[float, ...]
    seeds: tuple[int, ...]
    incidents: int
    warmup_s: float
    horizon_s: float
    fix_every_s: float = 5.0
    noise_m: float = 15.0
    max_preempt_s: float = 60.0
    min_green_s: float = 10.0
    #: the pedestrian clearance inside the green of a phase cut (False: it may run into
    #: the yellow and all-red, the plan's minimum green)
    ped_clearance_in_green: bool = True
    #: engines per incident (from as many stations)
    engines: int = ENGINES_PER_INCIDENT
    #: windows starting later than this are announced, planned when nearer (None: the
    #: twin's default, :data:`twin.signal_requests.PLANNING_HORIZON_S`)
    plan_ahead_s: float | None = None
    #: SUMO lights the twin has no plan for are switched off (both sides run the same
    #: signals); False: they keep SUMO's own program
    sumo_only_off: bool = True
    modes: tuple[str, ...] = MODES


QUICK = Sweep(city="central", periods=(1.0,), seeds=(1,), incidents=2, warmup_s=300.0,
              horizon_s=900.0)
FULL = Sweep(city="central", periods=(4.0, 2.0, 1.0), seeds=(1, 2), incidents=4,
             warmup_s=600.0, horizon_s=1100.0)


# -- planning (in the parent process) ------------------------------------------------------
def _phase_mismatches(network, path, net: sumolib.net.Net, edges: list[str],
                      lights: dict[str, tls.TwinLight]) -> list[int]:
    """Twin signals of ``path`` whose SUMO light serves the SUMO route's link in another
    phase than the one the twin requests for the path's approach (the SUMO route enters
    the junction by another road than the twin's route)."""
    wanted = {}
    for i in range(1, len(path.nodes) - 1):
        signal = network.signal_at(path, i)
        if signal is not None:
            wanted[int(network.node_ids[path.nodes[i]])] = signal[1]
    bad = []
    for a, b in itertools.pairwise(edges):
        for conn in net.getEdge(a).getConnections(net.getEdge(b)):
            light = lights.get(conn.getTLSID())
            if light is None or light.node not in wanted:
                continue
            index = conn.getTLLinkIndex()
            if 0 <= index < len(light.link_phase) and light.link_phase[index] != wanted[light.node]:
                bad.append(light.node)
    return bad


def plan_incidents(city, net: sumolib.net.Net, n: int, *, seed: int, depart_at: dt.datetime,
                   engines: int = ENGINES_PER_INCIDENT,
                   lights: dict[str, tls.TwinLight] | None = None) -> list[list[Dispatched]]:
    """``n`` incidents, each with the engines of the first ``engines`` stations with a
    2–8 km route in the twin's dispatch ranking (:meth:`routing.service.RoutingService.dispatch`:
    by the honest ETA with priority). A station whose SUMO route is not the twin's route
    (a detour, or another road into a signalized junction than the one the twin's
    request serves, with ``lights``) is passed over."""
    svc = city.routing
    network = svc.network
    engine, _ = svc.engine_at("fire", depart_at=depart_at)  # what the runs route on
    stations = city.layers["fire_stations"].data
    rng = np.random.default_rng(seed)
    nodes = np.flatnonzero(network.routable)
    incidents: list[list[Dispatched]] = []
    tries = 0
    while len(incidents) < n and tries < 50 * n:
        tries += 1
        target = int(network.node_ids[int(rng.choice(nodes))])
        try:
            ranked = svc.dispatch({"node": target}, vehicle="fire", limit=len(stations),
                                  depart_at=depart_at)
        except LookupError:  # unreachable incident
            continue
        chosen: list[Dispatched] = []
        for row in ranked:
            if not MIN_ROUTE_M <= row["distance_m"] <= MAX_ROUTE_M:
                continue
            origin = int(network.node_ids[svc.station_node(row["station"])])
            path = engine.route(network.index(origin), network.index(target))
            geom = RouteGeometry.from_path(network, path)
            coords = [list(geom.point_at(m)) for m in geom.cum_m]
            try:
                edges, dpos, apos, length = scenario.sumo_route(net, coords)
            except RuntimeError:
                continue
            if lights is not None and _phase_mismatches(network, path, net, edges, lights):
                continue
            chosen.append(Dispatched(
                f"fire-{row['station']}-{len(incidents)}", row["station"], len(chosen) + 1, path,
                edges, dpos, apos, length, row["eta_s"], row["eta_without_priority_s"],
                row["cruise_s"], origin, target, f"incident-{len(incidents)}"))
            if len(chosen) == engines:
                break
        if len(chosen) == engines:
            incidents.append(chosen)
    return incidents


# -- runs (in worker processes, forked after the city is loaded) -----------------------------
_W: dict = {}


def _key(sweep: Sweep, period: float, seed: int, incident: int, engines: list[Dispatched],
         mode: str) -> str:
    # the modes run are not part of a run's identity (``mode`` is)
    same = replace(sweep, periods=(), seeds=(), incidents=0, modes=MODES)
    payload = json.dumps({"sweep": asdict(same),
                          "period": period, "seed": seed, "incident": incident, "mode": mode,
                          "routes": [e.edges for e in engines], "v": 9}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _run(task: tuple) -> tuple[str, dict]:
    key, period, seed, incident, mode = task
    saved = {k: os.environ.get(k) for k in ("PROJ_DATA", "PROJ_LIB")}
    try:  # in-process SUMO; sets PROJ_DATA / PROJ_LIB to SUMO's database: put back below
        import libsumo as traci
    except ImportError:  # SUMO over a socket (slower), same API
        import traci

    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v

    w = _W
    cfg = RunConfig(mode=mode, seed=seed, dispatch_s=w["sweep"].warmup_s,
                    horizon_s=w["sweep"].horizon_s, fix_every_s=w["sweep"].fix_every_s,
                    noise_m=w["sweep"].noise_m, max_preempt_s=w["sweep"].max_preempt_s,
                    min_green_s=w["sweep"].min_green_s,
                    ped_clearance_in_green=w["sweep"].ped_clearance_in_green)
    workdir = Path(w["workdir"])
    info = workdir / f"tripinfo-{key}.xml"
    if w["sweep"].plan_ahead_s is not None:
        cfg = replace(cfg, plan_ahead_s=w["sweep"].plan_ahead_s)
    if w["sweep"].sumo_only_off:
        cfg = replace(cfg, sumo_only=tuple(w["sumo_only"]))
    cmd = [str(scenario.SUMO_BIN / "sumo"), "-n", str(w["net_file"]), "-r",
           str(w["background"][(period, seed)]), "-a", f"{w['fire_type']},{w['programs']}",
           "--no-step-log", "--no-warnings", "--begin", "0"]
    with tempfile.TemporaryDirectory(prefix=f"runs-{key}-", dir=workdir) as logdir:
        result = run_incident(traci, cmd, w["city"], w["lights"], w["incidents"][incident], cfg,
                              epoch=EPOCH, tz=TZ, net=w["net"], info=info, logdir=Path(logdir))
    info.unlink(missing_ok=True)
    cache = Path(w["cache"])
    np.savez_compressed(cache / f"{key}.npz", halting=result.pop("halting"))
    result.update(period=period, incident=incident)
    (cache / f"{key}.json").write_text(json.dumps(result), encoding="utf-8")
    return key, result


def run_sweep(city, sweep: Sweep, workdir: Path, cache: Path, *, workers: int = 2,
              log=print) -> list[dict]:
    """Every run of ``sweep`` (cached ones are read back)."""
    cache.mkdir(parents=True, exist_ok=True)
    net_file = scenario.build_network(workdir, scenario.OSM[sweep.city])
    net = sumolib.net.readNet(str(net_file))
    layers = city.layers
    lights, sumo_only = tls.twin_lights(net, layers["signals"].data, layers["nodes"].data,
                                        layers["roads"].data)
    counts = tls.match_counts(lights, sumo_only)
    log(f"SUMO lights running twin plans: {counts['lights']} at {counts['junctions']} twin "
        f"junctions ({counts['shared']} with several lights); SUMO-only lights "
        f"({'switched off' if sweep.sumo_only_off else 'own program'}): {counts['unmatched']}")
    depart_at = EPOCH + dt.timedelta(seconds=sweep.warmup_s)
    incidents = plan_incidents(city, net, sweep.incidents, seed=11, depart_at=depart_at,
                               engines=sweep.engines, lights=lights)
    end = sweep.warmup_s + sweep.horizon_s
    tasks, results = [], []
    for p in sweep.periods:
        for s in sweep.seeds:
            for i, engines in enumerate(incidents):
                for mode in sweep.modes:
                    key = _key(sweep, p, s, i, engines, mode)
                    done = cache / f"{key}.json"
                    if done.is_file():
                        results.append(json.loads(done.read_text(encoding="utf-8")) | {"key": key})
                    else:
                        tasks.append((key, p, s, i, mode))
    log(f"{len(results)} runs cached, {len(tasks)} to run")
    background = {(p, s): scenario.background_routes(net_file, workdir, period=p, end=end, seed=s)
                  for p, s in sorted({(t[1], t[2]) for t in tasks})}
    _W.update(sweep=sweep, workdir=str(workdir), net_file=str(net_file), net=net,
              lights=lights, sumo_only=sumo_only, incidents=incidents, city=city,
              background=background, cache=str(cache),
              fire_type=str(write_fire_type(workdir)),
              programs=str(tls.write_programs(lights, workdir / "twin.tls.xml")))
    if workers <= 1:
        runs = map(_run, tasks)
    else:
        pool = mp.get_context("fork").Pool(workers)
        runs = pool.imap_unordered(_run, tasks)
    try:
        for key, res in runs:
            res["key"] = key
            results.append(res)
            log(_line(res))
    finally:
        if workers > 1:
            pool.close()
            pool.join()
    for r in results:
        r["halting_file"] = str(cache / f"{r['key']}.npz")
    return results


def _line(r: dict) -> str:
    times = " ".join(f"{e['station']}:{e['travel_s']:.0f}" for e in r["engines"])
    return (f"  {3600 / r['period']:.0f} veh/h seed {r['seed']} incident {r['incident']} "
            f"{r['mode']}: {times}; red stops {sum(e['red_stops'] for e in r['engines'])}; "
            f"pre-emptions {len(r['preemptions'])}")


def write_example(results: list[dict], path: Path, table: str) -> dict | None:
    """One incident at the highest demand (seed 1, incident 0), AVL run, as JSON for the
    notebook: the engines' routes and true tracks, the pre-emptions the lights executed
    (junction, times, action), the paired no-priority travel times, and the table."""
    runs = {(r["period"], r["seed"], r["incident"], r["mode"]): r for r in results}
    period = min(k[0] for k in runs)
    avl, base = runs.get((period, 1, 0, "avl")), runs.get((period, 1, 0, "base"))
    if avl is None or base is None or "trace" not in avl["engines"][0]:
        return None
    keep = ("junction", "lon", "lat", "phase", "action", "runs", "green_s", "recovery_s",
            "residual_wait_s")
    example = {"source": "synthetic", "simulator": "SUMO", "demand_vph": round(3600 / period),
               "seed": 1, "table": table,
               "engines": [{k: e[k] for k in ("vid", "station", "rank", "length_m", "travel_s",
                                              "run_eta_s", "red_stops", "route", "trace")}
                           | {"travel_without_priority_s": b["travel_s"]}
                           for e, b in zip(avl["engines"], base["engines"], strict=True)],
               "preemptions": [{k: p[k] for k in keep} for p in avl["preemptions"]]}
    path.write_text(json.dumps(example, ensure_ascii=False, indent=1), encoding="utf-8")
    return example


# -- the tables --------------------------------------------------------------------------
def _p90(x: list[float]) -> float:
    return float(np.percentile(x, 90)) if x else math.nan


def _ci95(x: list[float]) -> tuple[float, float]:
    if len(x) < 2:
        return (statistics.mean(x) if x else math.nan, math.nan)
    from scipy import stats

    half = stats.t.ppf(0.975, len(x) - 1) * statistics.stdev(x) / math.sqrt(len(x))
    return statistics.mean(x), half


def _cut_delay(pre: dict, run_h: np.ndarray, run_lanes: list[str], base: dict,
               base_h: np.ndarray) -> float | None:
    """Added delay per vehicle on the cut approaches of one pre-emption (s)."""
    lanes = [ln for ln in pre["lanes"] if ln in base["lanes"] and ln in run_lanes]
    if not lanes:
        return None
    a, b = max(0, int(pre["from_s"])), int(pre["to_s"])
    ri = [run_lanes.index(ln) for ln in lanes]
    bi = [base["lanes"].index(ln) for ln in lanes]
    added = float(run_h[ri, a:b].sum()) - float(base_h[bi, a:b].sum())
    vehicles = sum(1 for ln in lanes for t in base["entries"][ln] if a - 60 <= t < b)
    return added / max(vehicles, 1)


def summary(results: list[dict], horizon_s: float) -> str:
    """Per demand level: the travel times, stops at red, ETA errors, cost to others."""
    runs = {(r["period"], r["seed"], r["incident"], r["mode"]): r for r in results}
    head = ("| demand (veh/h) | incidents × seeds (engines) | fire engine travel time, mean / p90 (s): "
            "no priority → open loop → AVL 5 s | reduction open / AVL | bound: perfect priority "
            "without limits, mean (s) and reduction | stops at red: none / open / AVL "
            "[AVL at the plan's signals: unannounced + announced] | ETA error, median abs: with "
            "priority / without | added delay per "
            "pre-emption on cut approaches, mean / p95 (s) [pre-emptions] | return to coordination, "
            "mean (s) | others' mean time loss, AVL − none (s, 95 % CI) | first to arrive = ranked "
            "first |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for period in sorted({k[0] for k in runs}, reverse=True):
        modes = [m for m in MODES if any(k[0] == period and k[3] == m for k in runs)]
        trav = {m: [] for m in modes}
        red = {m: 0 for m in modes}
        eta_w, eta_wo, cut, rec, others, first_ok, n_inc = [], [], [], [], [], [], 0
        ideal_trav: list[float] = []
        planned_red = announced = 0
        for p, s, i, m in list(runs):
            if p != period or m != "base":
                continue
            trio = [runs.get((p, s, i, mode)) for mode in MODES]
            if any(t is None for t in trio):
                continue
            n_inc += 1
            base, opn, avl = trio
            for mode, run in zip(MODES, trio, strict=True):
                for e in run["engines"]:
                    trav[mode].append(e["travel_s"] if math.isfinite(e["travel_s"]) else horizon_s)
                    red[mode] += e["red_stops"]
            ideal = runs.get((p, s, i, IDEAL))
            if ideal is not None:
                ideal_trav.extend(e["travel_s"] if math.isfinite(e["travel_s"]) else horizon_s
                                  for e in ideal["engines"])
            planned_red += sum(e["red_stops_planned"] for e in avl["engines"])
            announced += sum(e["red_stops_announced"] for e in avl["engines"])
            for e in avl["engines"]:  # the run's ETA as answered at dispatch
                if math.isfinite(e["travel_s"]):
                    eta_w.append(abs(e["run_eta_s"] - e["travel_s"]) / e["travel_s"])
            for e in base["engines"]:
                if math.isfinite(e["travel_s"]):
                    eta_wo.append(abs(e["eta_without_s"] - e["travel_s"]) / e["travel_s"])
            base_h = np.load(base["halting_file"])["halting"]
            avl_h = np.load(avl["halting_file"])["halting"]
            for pre in avl["preemptions"]:
                d = _cut_delay(pre, avl_h, avl["lanes"], base, base_h)
                if d is not None:
                    cut.append(d)
                rec.append(pre["recovery_s"])
            others.append(avl["others_time_loss_s"] - base["others_time_loss_s"])
            finished = [e for e in avl["engines"] if math.isfinite(e["travel_s"])]
            if finished:
                first = min(finished, key=lambda e: e["travel_s"])
                first_ok.append(first["rank"] == 1)
        if not n_inc:
            continue
        mean = {m: statistics.mean(v) for m, v in trav.items()}
        o_mean, o_half = _ci95(others)
        cut_s = (f"{statistics.mean(cut):.1f} / {np.percentile(cut, 95):.1f} [{len(cut)}]"
                 if cut else "- [0]")
        rec_s = f"{statistics.mean(rec):.0f}" if rec else "-"
        lines.append(
            f"| {3600 / period:.0f} | {n_inc} ({len(trav['base'])}) | "
            + " → ".join(f"{mean[m]:.0f} / {_p90(trav[m]):.0f}" for m in MODES)
            + f" | {1 - mean['open'] / mean['base']:.0%} / {1 - mean['avl'] / mean['base']:.0%} | "
            + (f"{statistics.mean(ideal_trav):.0f} ({1 - statistics.mean(ideal_trav) / mean['base']:.0%})"
               if len(ideal_trav) == len(trav["base"]) else "-")
            + f" | {red['base']} / {red['open']} / {red['avl']} "
            f"[{planned_red - announced} + {announced}] | "
            f"{statistics.median(eta_w):.0%} / {statistics.median(eta_wo):.0%} | {cut_s} | {rec_s} | "
            f"{o_mean:+.1f} ± {o_half:.1f} | {sum(first_ok)}/{len(first_ok)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one demand level, two incidents")
    parser.add_argument("--city", choices=sorted(scenario.OSM), default="central")
    parser.add_argument("--periods", help="comma-separated seconds between background departures")
    parser.add_argument("--seeds", help="comma-separated seeds")
    parser.add_argument("--incidents", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fix-every", type=float, help="seconds between AVL fixes")
    parser.add_argument("--example", type=Path,
                        help="write one incident's AVL run (tracks, executed pre-emptions) "
                             "and the table as JSON here")
    parser.add_argument("--plan-ahead", type=float,
                        help="seconds ahead a window is planned (default: the twin's)")
    parser.add_argument("--ideal", action="store_true",
                        help="also run the bound: perfect priority without controller limits")
    parser.add_argument("--ped-clearance-in-change", action="store_true",
                        help="let the pedestrian clearance of a cut phase run into its yellow "
                             "and all-red (the plan's minimum green)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "citytwin-sumo-cache")
    args = parser.parse_args()
    sweep = replace(QUICK if args.quick else FULL, city=args.city)
    if args.periods:
        sweep = replace(sweep, periods=tuple(float(p) for p in args.periods.split(",")))
    if args.seeds:
        sweep = replace(sweep, seeds=tuple(int(s) for s in args.seeds.split(",")))
    if args.incidents:
        sweep = replace(sweep, incidents=args.incidents)
    if args.fix_every:
        sweep = replace(sweep, fix_every_s=args.fix_every)
    if args.plan_ahead:
        sweep = replace(sweep, plan_ahead_s=args.plan_ahead)
    if args.ideal:
        sweep = replace(sweep, modes=(*MODES, IDEAL))
    if args.ped_clearance_in_change:
        sweep = replace(sweep, ped_clearance_in_green=False)
    from twin import City
    from twin.build import build_city
    from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY

    name = scenario.BUNDLE[sweep.city]
    if name:
        city = City.load(build_city(name=name, progress=False))
    else:  # the embedded default city, as built (built first when missing)
        city = City.load(build=not (DEFAULT_BUILD_DIR / DEFAULT_CITY).is_dir())
    with tempfile.TemporaryDirectory(prefix="citytwin-sumo-") as tmp:
        results = run_sweep(city, sweep, Path(tmp), args.cache, workers=args.workers,
                            log=lambda s: print(s, flush=True))
        table = summary(results, sweep.horizon_s)
        print()
        print(table)
        if args.example and write_example(results, args.example, table) is None:
            print(f"no example written to {args.example}: no AVL run with tracks at seed 1")


if __name__ == "__main__":
    main()
