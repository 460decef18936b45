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
from twin import synthetic
from twin.bundle import (
    BUNDLE_FORMAT,
    BuildContext,
    Manifest,
    code_fingerprint,
    file_sha256,
    read_manifest,
    replace_directory,
)
from twin.errors import BuildError, BundleError, SourceNotFound
from twin.osm import read_osm_drive_graph, read_turn_restrictions
from twin.roads import graph_to_layers, prepare_drive_graph, restrictions_layer, signal_nodes
from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY, DEFAULT_SOURCES

__all__ = ["build_city", "EMBEDDED_SOURCES", "DOMAIN_STEPS"]

logger = logging.getLogger(__name__)

#: Source files of the embedded default city, relative to ``data/sources``.
EMBEDDED_SOURCES = {
    "osm": "shanghai_core.osm",
    "signals": "shanghai_signals.geojson",
    "shops": "shanghai_shops.geojson",
    "stations": "shanghai_railway_stations.geojson",
    "districts": "shanghai_districts.csv",
    "streets": "shanghai_streets.csv",
    "communities": "shanghai_communities.csv",
    "bike_grid": "shanghai_bike_grid_1km.csv",
}
#: Domain build steps, ``module:function``, run in this order after the core steps.
DOMAIN_STEPS = (
    "twin.addresses:build_step",
    "twin.rasters:build_step",
    "twin.emergency:build_step",
    "twin.bikes:build_step",
    "twin.schools:build_step",
)
SYNTHETIC_ATTRIBUTION = "synthetic (citytwin), derived from " + OSM_ATTRIBUTION
NBS_ATTRIBUTION = "National Bureau of Statistics of China, division codes 2023"
#: How far around the road network the wider context layers (bike grid) reach, degrees.
CONTEXT_MARGIN_DEG = 0.06
FIRE_STATIONS = 3
AMBULANCE_STATIONS = 2


def _cache_key(name: str, sources: dict[str, str], seed: int) -> str:
    payload = json.dumps(
        {"name": name, "sources": sources, "seed": seed, "code": code_fingerprint(),
         "format": BUNDLE_FORMAT}, sort_keys=True,
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


def _proxy_grid(roads: gpd.GeoDataFrame, cell_deg: float = 0.009) -> gpd.GeoDataFrame:
    """Grid of ~1 km cells with a residential-area proxy (residential road length × 60 m).

    Used for cities without a land-use grid; the result is labelled synthetic.
    """
    minx, miny, maxx, maxy = roads.total_bounds
    cells = [
        shapely.box(x, y, x + cell_deg, y + cell_deg)
        for x in _frange(minx, maxx, cell_deg) for y in _frange(miny, maxy, cell_deg)
    ]
    grid = gpd.GeoDataFrame(geometry=cells, crs=4326)
    utm = roads.estimate_utm_crs()
    resid = roads[roads["highway"].isin(["residential", "living_street", "tertiary"])]
    clipped = gpd.overlay(resid[["geometry"]].to_crs(utm), grid.to_crs(utm).reset_index(),
                          how="intersection", keep_geom_type=True)
    length = clipped.assign(len_m=clipped.length).groupby("index")["len_m"].sum()
    grid["residential_area"] = length.reindex(grid.index).fillna(0.0) * 60.0
    grid["source"] = "synthetic"
    return grid


def _frange(start: float, stop: float, step: float) -> list[float]:
    n = int((stop - start) // step) + 1
    return [start + i * step for i in range(n)]


def _core_steps(ctx: BuildContext, sources: dict[str, Path]) -> None:
    reg = ctx.layers
    nodes, roads = graph_to_layers(ctx.graph)
    reg.add("roads", roads, title="道路 Roads", minzoom=10, maxzoom=18,
            description="Drivable road network (directed edges) with speeds and travel times")
    reg.add("nodes", nodes, title="路口 Intersections", minzoom=13, maxzoom=18,
            description="Road graph nodes (junctions), signalized flag")
    if ctx.graph.graph.get("turn_restrictions"):
        reg.add("turn_restrictions", restrictions_layer(ctx.graph), title="转向限制 Turn restrictions",
                minzoom=14, maxzoom=18,
                description="OSM turn restrictions (type=restriction via a node) as node triples")
    plans = build_signal_plans(ctx.graph, signal_nodes(ctx.graph), seed=ctx.seed)
    sig = gpd.GeoDataFrame(
        plans.reset_index(names="node"),
        geometry=gpd.points_from_xy(nodes.loc[plans.index, "x"], nodes.loc[plans.index, "y"]),
        crs=4326,
    )
    sig.index = pd.RangeIndex(len(sig), name="fid")
    reg.add("signals", sig, title="信号灯路口 Signalized intersections", minzoom=12,
            maxzoom=18, description="Signalized intersections with default fixed-time plans")
    if "shops" in sources:
        reg.add("pois", _shops(sources["shops"]), title="商铺 Shops (POI)", minzoom=13,
                description="OSM shop=* points, with addr:* tags")
    if "stations" in sources:
        reg.add("stations", _stations(sources["stations"]), title="轨道交通站 Stations",
                minzoom=10, description="Railway and metro stations")
    for layer, parent in (("districts", None), ("streets", "areaCode"),
                          ("communities", "streetCode")):
        if layer in sources:
            reg.add(layer, _admin(sources[layer], parent), title=layer, source="nbs",
                    attribution=NBS_ATTRIBUTION,
                    description=f"Official {layer} with 2023 division codes (no geometry)")
    bounds = tuple(roads.total_bounds)
    if "bike_grid" in sources:
        grid = _grid(sources["bike_grid"], bounds)
        reg.add("bike_grid", grid, title="单车网格 Mobike 1 km grid", source="mobike+osm",
                attribution="Mobike Shanghai sample (CC0) + " + OSM_ATTRIBUTION,
                description="Real Mobike trip starts/ends per 1 km cell with OSM covariates")
    else:
        grid = _proxy_grid(roads)
    core_area = shapely.box(*bounds)
    home_grid = grid[grid.intersects(core_area)].copy()
    clipped = home_grid.geometry.intersection(core_area)
    utm = roads.estimate_utm_crs()
    home_grid["area_share"] = clipped.to_crs(utm).area / home_grid.geometry.to_crs(utm).area
    home_grid["geometry"] = clipped
    homes = synthetic.make_homes(roads, home_grid, seed=ctx.seed)
    _add_synthetic(reg, "homes", homes, "住宅街坊 Residential blocks (synthetic)")
    schools = synthetic.make_schools(homes, roads, seed=ctx.seed)
    _add_synthetic(reg, "schools", schools, "学校 Schools (synthetic)")
    fire = synthetic.make_stations(ctx.graph, kind="fire", count=FIRE_STATIONS, prefix="F",
                                   name_format="模拟消防救援站{i}", seed=ctx.seed)
    _add_synthetic(reg, "fire_stations", fire, "消防站 Fire stations (synthetic)")
    amb = synthetic.make_stations(ctx.graph, kind="ambulance", count=AMBULANCE_STATIONS,
                                  prefix="A", name_format="模拟急救分站{i}",
                                  seed=ctx.seed + 1, exclude=list(fire["node"]))
    _add_synthetic(reg, "ambulance_stations", amb, "急救站 Ambulance bases (synthetic)")


def _add_synthetic(reg: LayerRegistry, name: str, gdf: gpd.GeoDataFrame, title: str) -> None:
    reg.add(name, gdf, title=title, source="synthetic", attribution=SYNTHETIC_ATTRIBUTION,
            minzoom=11, description="Generated reproducibly; see data/README.md")


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


def _resolve_sources(osm: Path | None, sources_dir: Path) -> dict[str, Path]:
    if osm is not None:
        if not Path(osm).is_file():
            raise SourceNotFound(f"OSM file not found: {osm}")
        return {"osm": Path(osm)}
    found = {key: sources_dir / fname for key, fname in EMBEDDED_SOURCES.items()}
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing:
        raise SourceNotFound(f"missing source files: {', '.join(missing)}")
    return found


def build_city(
    *,
    name: str = DEFAULT_CITY,
    osm: str | Path | None = None,
    build_dir: str | Path = DEFAULT_BUILD_DIR,
    sources_dir: str | Path = DEFAULT_SOURCES,
    seed: int = 42,
    force: bool = False,
    progress: bool = True,
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
    sources = _resolve_sources(Path(osm) if osm else None, Path(sources_dir))
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
                ctx = BuildContext(name=name, layers=LayerRegistry(), graph=graph,
                                   bundle_dir=tmp, sources_dir=Path(sources_dir), seed=seed,
                                   progress=progress, extras={"embedded": osm is None})
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
