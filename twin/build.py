"""``twin build``: turn source files into a city bundle.

The embedded default city (central Shanghai) is built from ``data/sources``; any other
city from an OSM ``.osm`` / ``.osm.pbf`` file (``build_city(osm=..., name=...)``).
Core steps make the road graph and the base layers; domain steps (addresses, rasters,
routing, bikes, schools) then add their layers and indexes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from tqdm.auto import tqdm

from layers import embedded
from layers.registry import OSM_ATTRIBUTION, LayerRegistry
from routing.signals import build_signal_plans
from twin.bikes.landuse import proxy_grid as _proxy_grid
from twin.bundle import (
    BUNDLE_FORMAT,
    BuildContext,
    Manifest,
    code_fingerprint,
    file_sha256,
    read_manifest,
    replace_directory,
)
from twin.divisions import DIVISIONS_DIR
from twin.errors import BuildError, BundleError, SourceNotFound
from twin.osm import read_osm_drive_graph, read_turn_restrictions
from twin.roads import graph_to_layers, prepare_drive_graph, restrictions_layer, signal_nodes
from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY, DEFAULT_SOURCES
from twin.signal_plans import apply_plans, read_plan_file
from twin.stations import AMBULANCE_RULE, FIRE_RULE, site_stations

__all__ = ["build_city", "read_report", "EMBEDDED_SOURCES", "EMBEDDED_CITIES", "INPUT_KINDS",
           "DOMAIN_STEPS", "REPORT_FILE"]

logger = logging.getLogger(__name__)

#: Source files of the embedded default city, relative to ``data/sources``.
EMBEDDED_SOURCES = {
    "osm": "shanghai_center.osm",
    "signals": "shanghai_signals.geojson",
    "shops": "shanghai_shops.geojson",
    "stations": "shanghai_railway_stations.geojson",
    "districts": "shanghai_districts.csv",
    "streets": "shanghai_streets.csv",
    "communities": "shanghai_communities.csv",
    "bike_grid": "shanghai_bike_grid_1km.csv",
    "schools": "shanghai_schools_bd09.geojson",
}
#: Embedded cities: name -> the OSM extract they are built from (the other sources are
#: shared). ``shanghai`` is the default twin; ``shanghai-core`` is its 2.4 km centre, a
#: small fixture for fast tests and demos.
EMBEDDED_CITIES = {"shanghai": "shanghai_center.osm", "shanghai-core": "shanghai_core.osm"}
#: The bundle file saying what is real and what is generated.
REPORT_FILE = "build_report.json"
#: Real inputs a city may bring (``twin build --schools FILE`` ...), replacing generated data.
INPUT_KINDS = ("schools", "trips", "population", "signal_plans", "address_corpus")
#: Domain build steps, ``module:function``, run in this order after the core steps.
DOMAIN_STEPS = (
    "twin.addresses:build_step",
    "twin.rasters:build_step",
    "twin.emergency:build_step",
    "twin.bikes:build_step",
    "twin.schools:build_step",  # geocodes the school addresses that come without a point
    "twin.addresses:places_step",  # the gazetteer again, the real schools among its places
)
SYNTHETIC_ATTRIBUTION = "synthetic (citytwin), derived from " + OSM_ATTRIBUTION
NBS_ATTRIBUTION = "National Bureau of Statistics of China, division codes 2023"
#: How far around the road network the wider context layers (bike grid) reach, degrees.
CONTEXT_MARGIN_DEG = 0.06


def _cache_key(name: str, sources: dict[str, str], seed: int) -> str:
    divisions = {p.name: file_sha256(p) for p in sorted(DIVISIONS_DIR.glob("*.csv.gz"))}
    payload = json.dumps(
        {"name": name, "sources": sources, "seed": seed, "code": code_fingerprint(),
         "format": BUNDLE_FORMAT, "divisions": divisions}, sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _read_points(path: Path) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(path)
    poly = ~gdf.geom_type.isin(["Point"])
    gdf.loc[poly, "geometry"] = gdf.loc[poly].geometry.representative_point()
    return gdf.set_crs(4326, allow_override=True)


def _shops(path: Path) -> gpd.GeoDataFrame:
    raw = _read_points(path)
    cols = {
        "id": "osm_id", "name": "name", "name:en": "name_en", "shop": "shop",
        "addr:street": "addr_street", "addr:housenumber": "addr_housenumber",
        "addr:district": "addr_district", "addr:postcode": "addr_postcode",
        "addr:city": "addr_city", "addr:province": "addr_province",
        "addr:street:en": "addr_street_en", "addr:full": "addr_full",
        "addr:housename": "addr_housename",
    }
    out = gpd.GeoDataFrame(
        {new: raw[old].astype("string") if old in raw else pd.Series(pd.NA, index=raw.index,
                                                                        dtype="string")
         for old, new in cols.items()},
        geometry=raw.geometry, crs=4326,
    )
    out["source"] = "osm"
    out.index = pd.RangeIndex(len(out), name="fid")
    return out


def _stations(path: Path) -> gpd.GeoDataFrame:
    raw = _read_points(path)
    keep = {"id": "osm_id", "name": "name", "name:en": "name_en", "railway": "railway",
            "station": "station", "public_transport": "public_transport",
            "network": "network", "operator": "operator"}
    out = gpd.GeoDataFrame(
        {new: raw[old].astype("string") for old, new in keep.items() if old in raw},
        geometry=raw.geometry, crs=4326,
    )
    out["source"] = "osm"
    out.index = pd.RangeIndex(len(out), name="fid")
    return out


def _admin(path: Path, parent: str | None) -> gpd.GeoDataFrame:
    df = pd.read_csv(path, dtype=str)
    out = pd.DataFrame({"code": df["code"], "name": df["name"]})
    out["parent_code"] = df[parent] if parent else df.get("cityCode", pd.Series(dtype=str))
    out["level"] = {None: "district", "areaCode": "street", "streetCode": "community"}[parent]
    out["source"] = "nbs"
    gdf = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries([None] * len(out)), crs=4326)
    gdf.index = pd.RangeIndex(len(gdf), name="fid")
    return gdf


def _grid(path: Path, bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    df = pd.read_csv(path)
    gdf = gpd.GeoDataFrame(df.drop(columns="geometry"),
                           geometry=gpd.GeoSeries.from_wkt(df["geometry"]), crs=4326)
    minx, miny, maxx, maxy = bounds
    area = shapely.box(minx - CONTEXT_MARGIN_DEG, miny - CONTEXT_MARGIN_DEG,
                       maxx + CONTEXT_MARGIN_DEG, maxy + CONTEXT_MARGIN_DEG)
    gdf = gdf[gdf.intersects(area)].copy()
    gdf["source"] = "mobike+osm"
    gdf.index = pd.RangeIndex(len(gdf), name="fid")
    return gdf


def _core_steps(ctx: BuildContext, sources: dict[str, Path]) -> None:
    reg = ctx.layers
    nodes, roads = graph_to_layers(ctx.graph)
    reg.add("roads", roads, title="道路 Roads", minzoom=10, maxzoom=18,
            description="Drivable road network (directed edges) with speeds and travel times")
    reg.add("nodes", nodes, title="路口 Intersections", minzoom=14, maxzoom=18,
            description="Road graph nodes (junctions), signalized flag")
    if ctx.graph.graph.get("turn_restrictions"):
        reg.add("turn_restrictions", restrictions_layer(ctx.graph), title="转向限制 Turn restrictions",
                minzoom=14, maxzoom=18,
                description="OSM turn restrictions (type=restriction via a node) as node triples")
    for fid, u, v, k in zip(roads.index, roads["u"], roads["v"], roads["key"], strict=True):
        ctx.graph.edges[u, v, k]["road_id"] = int(fid)
    plans = build_signal_plans(ctx.graph, signal_nodes(ctx.graph), seed=ctx.seed)
    sig = gpd.GeoDataFrame(
        plans.reset_index(names="node"),
        geometry=gpd.points_from_xy(nodes.loc[plans.index, "x"], nodes.loc[plans.index, "y"]),
        crs=4326,
    )
    sig.index = pd.RangeIndex(len(sig), name="fid")
    plan_file = ctx.extras.get("inputs", {}).get("signal_plans")
    if plan_file is not None:
        sig = apply_plans(sig, read_plan_file(plan_file), nodes=nodes, roads=roads,
                          source=f"real: {Path(plan_file).name}")
    real = int((sig["timing_source"] != "synthetic").sum())
    reg.add("signals", sig, title="信号灯路口 Signalized intersections", minzoom=14,
            maxzoom=18, source="osm" if not real else "osm+plans",
            description=f"Signalized intersections with fixed-time plans: {real} real, "
                        f"{len(sig) - real} generated (timing_source)")
    if "shops" in sources:
        reg.add("pois", _shops(sources["shops"]), title="商铺 Shops (POI)", minzoom=13,
                description="OSM shop=* points, with addr:* tags")
    if "stations" in sources:
        reg.add("stations", _stations(sources["stations"]), title="轨道交通站 Stations",
                minzoom=10, description="Railway and metro stations")
    from twin.divisions import DIVISIONS_ATTRIBUTION, division_tables

    division = ctx.extras.get("division")
    # a Chinese city without official tables: its districts and streets from the kept dataset
    tables = (division_tables(division) if division is not None and "districts" not in sources
              else {})
    for layer, parent in (("districts", None), ("streets", "areaCode"),
                          ("communities", "streetCode")):
        if layer in sources:
            reg.add(layer, _admin(sources[layer], parent), title=layer, source="nbs",
                    attribution=NBS_ATTRIBUTION,
                    description=f"Official {layer} with 2023 division codes (no geometry)")
        elif layer in tables:
            reg.add(layer, tables[layer], title=layer, source="jionlp",
                    attribution=DIVISIONS_ATTRIBUTION,
                    description=f"{layer} of {division.city} from data/divisions (no geometry"
                                + ("; towns have no code)" if layer == "streets" else ")"))
    bounds = tuple(roads.total_bounds)
    if "bike_grid" in sources:
        grid = _grid(sources["bike_grid"], bounds)
        reg.add("bike_grid", grid, title="单车网格 Mobike 1 km grid", source="mobike+osm",
                attribution="Mobike Shanghai sample (CC0) + " + OSM_ATTRIBUTION,
                description="Real Mobike trip starts/ends per 1 km cell with OSM covariates")
    else:
        grid = _proxy_grid(roads)
    # homes here (the raster and routing steps read them); schools in twin.schools:build_step
    from twin.schools import homes_step

    homes_step(ctx, grid)
    fire, fire_report = site_stations(ctx.graph, FIRE_RULE, prefix="F",
                                      name_format="模拟消防救援站{i}")
    _add_synthetic(reg, "fire_stations", fire, "消防站 Fire stations (synthetic)")
    amb, amb_report = site_stations(ctx.graph, AMBULANCE_RULE, prefix="A",
                                    name_format="模拟急救分站{i}", exclude=list(fire["node"]))
    _add_synthetic(reg, "ambulance_stations", amb, "急救站 Ambulance bases (synthetic)")
    ctx.extras.setdefault("report", {}).update(fire_stations=fire_report,
                                               ambulance_stations=amb_report)


def _add_synthetic(reg: LayerRegistry, name: str, gdf: gpd.GeoDataFrame, title: str) -> None:
    reg.add(name, gdf, title=title, source="synthetic", attribution=SYNTHETIC_ATTRIBUTION,
            minzoom=11, description="Generated reproducibly; see data/README.md")


def _write_report(bundle: Path, ctx: BuildContext) -> None:
    """``build_report.json``: per layer its features and whether it is real or generated,
    and what the steps reported (sites, dropped inputs, rules)."""
    layers = {}
    for name, layer in ctx.layers.items():
        data = layer.data
        counts = (data["source"].astype(str).value_counts().to_dict() if "source" in data
                  else {layer.info.source: len(data)})
        layers[name] = {"features": len(data), "source": layer.info.source, "by_source": counts}
    report = {"layers": layers, **ctx.extras.get("report", {})}
    (bundle / REPORT_FILE).write_text(json.dumps(report, ensure_ascii=False, indent=1,
                                                 default=str), encoding="utf-8")


def read_report(bundle: str | Path) -> dict:
    """The build report of a bundle (empty when the bundle predates reports)."""
    path = Path(bundle) / REPORT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _load_step(spec: str) -> Callable[[BuildContext], None] | None:
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            logger.warning("build step %s is not available; skipped", spec)
            return None
        raise
    return getattr(module, func, None)


def _resolve_sources(osm: Path | None, sources_dir: Path, name: str) -> dict[str, Path]:
    if osm is not None:
        if not Path(osm).is_file():
            raise SourceNotFound(f"OSM file not found: {osm}")
        return {"osm": Path(osm)}
    files = {**EMBEDDED_SOURCES, "osm": EMBEDDED_CITIES.get(name, EMBEDDED_SOURCES["osm"])}
    found = {key: sources_dir / fname for key, fname in files.items()}
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing:
        raise SourceNotFound(f"missing source files: {', '.join(missing)}")
    return found


def _resolve_inputs(inputs: dict[str, str | Path]) -> dict[str, Path]:
    unknown = set(inputs) - set(INPUT_KINDS)
    if unknown:
        raise SourceNotFound(f"unknown input kind(s) {sorted(unknown)}; known: {list(INPUT_KINDS)}")
    out = {}
    for kind, path in inputs.items():
        if path is None:
            continue
        if not Path(path).is_file():
            raise SourceNotFound(f"{kind} input not found: {path}")
        out[kind] = Path(path)
    return out


def build_city(
    *,
    name: str = DEFAULT_CITY,
    osm: str | Path | None = None,
    build_dir: str | Path = DEFAULT_BUILD_DIR,
    sources_dir: str | Path = DEFAULT_SOURCES,
    seed: int = 42,
    force: bool = False,
    progress: bool = True,
    inputs: dict[str, str | Path] | None = None,
) -> Path:
    """Build a city bundle (or reuse an up-to-date one).

    Parameters
    ----------
    name : str
        City name; the bundle goes to ``build_dir / name``.
    osm : str or Path, optional
        An ``.osm`` / ``.osm.pbf`` file for another city. Default: the embedded city
        from ``sources_dir``.
    build_dir : str or Path
        Parent directory of bundles.
    sources_dir : str or Path
        Source files of the embedded city.
    seed : int
        Seed of the synthetic layers.
    force : bool
        Rebuild even when sources and code are unchanged.
    progress : bool
        Show a progress bar over the steps.
    inputs : dict, optional
        A city's real inputs that replace generated layers, by kind (:data:`INPUT_KINDS`):
        ``schools`` (CSV / GeoJSON of schools), ``trips`` (Mobike-schema trips CSV),
        ``population`` (population GeoTIFF), ``signal_plans`` (JSON timing plans).

    Returns
    -------
    Path
        The bundle directory.

    Raises
    ------
    SourceNotFound
        A source file is missing or of an unsupported type.
    BuildError
        A step failed (the previous bundle, if any, is left untouched).

    Examples
    --------
    >>> bundle = build_city(progress=False)  # doctest: +SKIP
    """
    build_dir = Path(build_dir)
    sources = _resolve_sources(Path(osm) if osm else None, Path(sources_dir), name)
    real_inputs = _resolve_inputs(inputs or {})
    if osm is None:  # the embedded city's real schools (BD-09 GeoJSON)
        real_inputs.setdefault("schools", sources["schools"])
    sources.update({f"input:{kind}": path for kind, path in real_inputs.items()})
    hashes = {key: file_sha256(path) for key, path in sources.items()}
    key = _cache_key(name, hashes, seed)
    target = build_dir / name
    if not force and target.exists():
        try:
            if read_manifest(target).cache_key == key:
                logger.info("bundle %s is up to date", target)
                return target
        except BundleError:
            logger.warning("bundle %s is unreadable; rebuilding", target)
    started = time.perf_counter()
    build_dir.mkdir(parents=True, exist_ok=True)
    tmp = build_dir / f".{name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        steps = ["roads", "layers", *DOMAIN_STEPS, "write"]
        bar = tqdm(steps, desc=f"build {name}", disable=not progress, unit="step")
        ctx: BuildContext | None = None
        for step in bar:
            bar.set_postfix_str(step)
            if step == "roads":
                extra = (gpd.read_file(sources["signals"]) if "signals" in sources else None)
                graph = prepare_drive_graph(read_osm_drive_graph(sources["osm"]),
                                            extra_signals=extra,
                                            restrictions=read_turn_restrictions(sources["osm"]))
                from twin.divisions import locate, write_division

                division = locate([(d["x"], d["y"]) for _, d in graph.nodes(data=True)])
                write_division(division, tmp)
                ctx = BuildContext(name=name, layers=LayerRegistry(), graph=graph,
                                   bundle_dir=tmp, sources_dir=Path(sources_dir), seed=seed,
                                   progress=progress,
                                   extras={"embedded": osm is None, "inputs": real_inputs,
                                           "division": division, "osm_file": sources["osm"]})
            elif step == "layers":
                _core_steps(ctx, sources)
            elif step == "write":
                embedded.write_layers(tmp / "layers", ctx.layers)
            else:
                func = _load_step(step)
                if func is not None:
                    func(ctx)
        Manifest(
            name=name,
            built_at=pd.Timestamp.now(tz="UTC").isoformat(),
            format=BUNDLE_FORMAT,
            cache_key=key,
            sources={k: f"{p.name} sha256:{hashes[k]}" for k, p in sources.items()},
            layers={n: len(layer.data) for n, layer in ctx.layers.items()},
            settings={"seed": seed, "osm": str(osm) if osm else None},
            build_seconds=round(time.perf_counter() - started, 2),
        ).write(tmp)
        _write_report(tmp, ctx)
        replace_directory(tmp, target)
    except SourceNotFound:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, BuildError):
            raise
        raise BuildError(f"building {name!r} failed: {exc}") from exc
    logger.info("built %s in %.1f s", target, time.perf_counter() - started)
    return target
