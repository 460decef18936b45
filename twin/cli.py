"""The ``twin`` command line: build, info, load, serve, geocode."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from layers.errors import LayerError
from twin.errors import TwinError
from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY, Settings

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="citytwin: build, inspect and serve a city twin.")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(2)


def _bundle(name: str, bundle: Path | None, build_dir: Path) -> Path:
    return bundle if bundle is not None else build_dir / name


@app.command()
def build(
    osm: Annotated[Path | None, typer.Option(help="OSM .osm/.osm.pbf of another city")] = None,
    name: Annotated[str, typer.Option(help="City name (bundle directory)")] = DEFAULT_CITY,
    build_dir: Annotated[Path, typer.Option(help="Where bundles go")] = DEFAULT_BUILD_DIR,
    database: Annotated[str | None, typer.Option(help="Also write the layers to PostGIS")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic layers")] = 42,
    force: Annotated[bool, typer.Option(help="Rebuild even if up to date")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
    schools: Annotated[Path | None, typer.Option(
        help="Real schools (CSV/GeoJSON: name, level, address or lon/lat, capacity)")] = None,
    trips: Annotated[Path | None, typer.Option(help="Real bike trips (Mobike-schema CSV)")] = None,
    population: Annotated[Path | None, typer.Option(help="Population GeoTIFF")] = None,
    signal_plans: Annotated[Path | None, typer.Option(
        help="Real signal timing plans (JSON, the project's plan format)")] = None,
    address_corpus: Annotated[Path | None, typer.Option(
        help="Labelled addresses (token TAG lines, BIO/BIOES) to train the address parser")] = None,
) -> None:
    """Build a city bundle (central Shanghai by default; ``--name shanghai-core`` is its
    2.4 km centre)."""
    from twin.build import build_city

    inputs = {"schools": schools, "trips": trips, "population": population,
              "signal_plans": signal_plans, "address_corpus": address_corpus}
    bundle = build_city(name=name, osm=osm, build_dir=build_dir, seed=seed, force=force,
                        progress=not quiet,
                        inputs={k: v for k, v in inputs.items() if v is not None})
    typer.echo(f"bundle: {bundle}")
    if not quiet:
        _print_report(bundle)
    if database:
        _write_database(bundle, database)


def _print_report(bundle: Path) -> None:
    """What the build made from real data and what it generated."""
    from twin.build import read_report

    report = read_report(bundle)
    real, generated = [], []
    for name, layer in report.get("layers", {}).items():
        by_source = layer.get("by_source", {})
        synthetic = int(by_source.get("synthetic", 0))
        other = layer["features"] - synthetic
        if other:
            kinds = ", ".join(sorted(k for k in by_source if k != "synthetic")) or layer["source"]
            real.append(f"{name} {other:,} ({kinds})")
        if synthetic:
            generated.append(f"{name} {synthetic:,}")
    typer.echo("real:      " + ("; ".join(real) or "-"))
    typer.echo("generated: " + ("; ".join(generated) or "-") + "  (source = synthetic)")
    for key, value in report.items():
        if key != "layers" and isinstance(value, dict):
            typer.echo(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))


def _write_database(bundle: Path, url: str) -> None:
    from twin.city import City
    from twin.database import write_city_layers

    city = City.load(bundle)
    write_city_layers(url, city.name, city.layers)
    typer.echo(f"wrote {len(city.layers)} layers to PostGIS")


@app.command()
def load(
    database: Annotated[str, typer.Option(help="PostGIS URL")],
    name: Annotated[str, typer.Option(help="City name")] = DEFAULT_CITY,
    bundle: Annotated[Path | None, typer.Option(help="Bundle directory")] = None,
    build_dir: Annotated[Path, typer.Option(help="Where bundles go")] = DEFAULT_BUILD_DIR,
) -> None:
    """Write a built bundle's layers to PostGIS."""
    _write_database(_bundle(name, bundle, build_dir), database)


@app.command()
def info(
    name: Annotated[str, typer.Option(help="City name")] = DEFAULT_CITY,
    bundle: Annotated[Path | None, typer.Option(help="Bundle directory")] = None,
    build_dir: Annotated[Path, typer.Option(help="Where bundles go")] = DEFAULT_BUILD_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Layers, feature counts, bounds, sources and licences of a bundle."""
    from twin.city import City

    summary = City.load(_bundle(name, bundle, build_dir)).info()
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=1))
        return
    typer.echo(f"{summary['name']}  ({summary['bundle']}, built {summary['built_at']})")
    for layer in summary["layers"]:
        b = ", ".join(f"{v:.4f}" for v in layer["bounds"] or [])
        typer.echo(f"  {layer['name']:<20} {layer['features']:>7}  {layer['geometry']:<10} "
                   f"[{b}]  {layer['source']}  {layer['attribution']}")
    typer.echo("sources:")
    for key, value in summary["sources"].items():
        typer.echo(f"  {key}: {value}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (production: one per core)")] = 1,
    keep_alive: Annotated[int, typer.Option(help="Seconds an idle keep-alive connection stays")] = 5,
    limit_concurrency: Annotated[int | None, typer.Option(
        help="Connections + tasks per worker before new ones get 503")] = None,
    backlog: Annotated[int, typer.Option(help="Pending connections the socket queues")] = 2048,
    graceful_timeout: Annotated[int, typer.Option(
        help="Seconds to finish requests on shutdown")] = 30,
    access_log: Annotated[bool, typer.Option(help="Log each request line (never headers)")] = True,
) -> None:
    """Serve the twin over HTTP (settings from TWIN_* environment variables).

    The city is checked once before the workers start: a missing or corrupt bundle, or an
    unreachable database, is one error message and exit status 2.
    """
    import uvicorn

    settings = Settings()
    _check_city(settings)
    with _shared_rate_state(settings, workers):
        uvicorn.run("api:create_app", factory=True, host=host, port=port, workers=workers,
                    timeout_keep_alive=keep_alive, limit_concurrency=limit_concurrency,
                    backlog=backlog, timeout_graceful_shutdown=graceful_timeout,
                    access_log=access_log, log_level="info")


@contextmanager
def _shared_rate_state(settings: Settings, workers: int) -> Iterator[None]:
    """With several workers and a rate limit, one bucket file for all of them (in
    ``/dev/shm`` when there is one), named in ``TWIN_RATE_STATE`` for the workers."""
    if workers < 2 or settings.rate_limit <= 0 or settings.rate_state is not None:
        yield
        return
    shm = Path("/dev/shm")
    fd, name = tempfile.mkstemp(prefix="citytwin-rate-", dir=shm if shm.is_dir() else None)
    os.close(fd)
    os.environ["TWIN_RATE_STATE"] = name
    try:
        yield
    finally:
        os.environ.pop("TWIN_RATE_STATE", None)
        Path(name).unlink(missing_ok=True)


def _check_city(settings: Settings) -> None:
    """Fail before serving when the city cannot be opened (built first when it is the default)."""
    from twin.bundle import check_bundle

    if settings.database_url:
        from twin.database import check_database

        check_database(settings.database_url)
        return
    bundle = settings.bundle_dir
    if settings.bundle is None and settings.city == DEFAULT_CITY and \
            settings.build_dir == DEFAULT_BUILD_DIR:
        from twin.build import build_city

        bundle = build_city(progress=False)  # once here, not in every worker
    check_bundle(bundle)


@app.command()
def geocode(
    file: Annotated[Path, typer.Argument(help="CSV file with an address column")],
    column: Annotated[str, typer.Option(help="Address column")] = "address",
    out: Annotated[Path | None, typer.Option(help="Output CSV (default: FILE.geocoded.csv)")] = None,
    crs: Annotated[str, typer.Option(help="Output coordinates: wgs84|gcj02|bd09")] = "wgs84",
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Geocode a CSV of addresses with the embedded city's standard-address service."""
    from twin.addresses import geocode_csv
    from twin.city import City

    target = out or file.with_suffix(".geocoded.csv")
    geocode_csv(City.load(), file, column=column, out=target, crs=crs, progress=not quiet)
    typer.echo(f"wrote {target}")


@app.command()
def export(
    fmt: Annotated[str, typer.Option(
        "--format", help="pmtiles | mbtiles (vector tile archive), gpkg | geoparquet (features)")],
    out: Annotated[Path, typer.Option(
        help="Output file (geoparquet with several layers: a directory of <layer>.parquet)")],
    layers: Annotated[str | None, typer.Option(
        help="Comma-separated layers (default: every layer with geometry)")] = None,
    zooms: Annotated[str, typer.Option(help="Zoom range of a tile archive, MIN-MAX")] = "10-17",
    name: Annotated[str, typer.Option(help="City name")] = DEFAULT_CITY,
    bundle: Annotated[Path | None, typer.Option(help="Bundle directory")] = None,
    build_dir: Annotated[Path, typer.Option(help="Where bundles go")] = DEFAULT_BUILD_DIR,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Export layers as a PMTiles / MBTiles vector tile archive (the server's tiles) or as
    GeoPackage / GeoParquet, for QGIS, GDAL and a map with no server."""
    from twin.city import City
    from twin.export import export_city

    if bundle is None and name == DEFAULT_CITY and build_dir == DEFAULT_BUILD_DIR:
        city = City.load()  # the embedded default city, built first when needed
    else:
        city = City.load(_bundle(name, bundle, build_dir))
    result = export_city(city, out, format=fmt, layers=layers, zooms=zooms, overwrite=force,
                         progress=not quiet)
    what = f"{result.tiles:,} tiles, z{result.zooms[0]}-{result.zooms[1]}" if result.zooms \
        else f"{result.features:,} features"
    typer.echo(f"wrote {result.path} ({result.format}: {len(result.layers)} layers, {what}, "
               f"{result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s)")


from twin.batch.cli import batch_app  # noqa: E402  (imports no Dask until a job runs)

app.add_typer(batch_app, name="batch")


def main() -> None:
    """Entry point of the ``twin`` console script: clear errors, no tracebacks."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=True)
    except (TwinError, LayerError) as exc:
        _fail(str(exc))
    except FileNotFoundError as exc:
        _fail(str(exc))
    except ValidationError as exc:  # bad TWIN_* settings
        _fail("invalid settings: " + "; ".join(
            f"TWIN_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()))
