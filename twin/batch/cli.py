"""``twin batch …``: the batch jobs on a Dask cluster (a typer sub-app).

Every command takes ``--scheduler tcp://HOST:8786`` (an existing cluster), else starts a
local cluster of ``--dask-workers`` worker processes (default: one per core; ``0`` runs
in this process without Dask), and ``--partition-rows`` (``--partition-tiles`` for
``export``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY

if TYPE_CHECKING:
    from distributed import Client

    from twin.city import City

__all__ = ["batch_app"]

batch_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                        help="Batch jobs on a Dask cluster (local by default).")

Scheduler = Annotated[str | None, typer.Option(
    help="Dask scheduler of an existing cluster, e.g. tcp://10.0.0.5:8786 (default: a local "
         "cluster)")]
Workers = Annotated[int | None, typer.Option(
    "--dask-workers", help="Local worker processes (default: one per core; 0: in this process, "
                           "no Dask)")]
Name = Annotated[str, typer.Option(help="City name")]
BundleDir = Annotated[Path | None, typer.Option(help="Bundle directory")]
BuildDir = Annotated[Path, typer.Option(help="Where bundles go")]
Quiet = Annotated[bool, typer.Option(help="No progress bar")]


def _city(name: str, bundle: Path | None, build_dir: Path) -> City:
    from twin.city import City

    if bundle is None and name == DEFAULT_CITY and build_dir == DEFAULT_BUILD_DIR:
        return City.load()  # the embedded city, built when missing
    return City.load(bundle if bundle is not None else build_dir / name, build=False)


@contextmanager
def _job(scheduler: str | None, workers: int | None, quiet: bool) -> Iterator[Client | None]:
    """The client, and user errors as one clear line (exit status 2)."""
    from address.errors import AddressError
    from layers.errors import LayerError
    from routing.errors import RoutingError
    from twin.batch.cluster import batch_client
    from twin.bikes.errors import BikeError
    from twin.errors import TwinError

    try:
        with batch_client(scheduler=scheduler, workers=workers) as client:
            if client is not None and not quiet:
                typer.echo(f"dask: {len(client.nthreads())} workers, dashboard "
                           f"{client.dashboard_link}", err=True)
            yield client
    except (TwinError, LayerError, BikeError, AddressError, RoutingError,
            FileNotFoundError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


@batch_app.command()
def geocode(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file with an address column")],
    out: Annotated[Path, typer.Option(help="Output Parquet file")],
    column: Annotated[str, typer.Option(help="Address column")] = "address",
    crs: Annotated[str, typer.Option(help="Output coordinates: wgs84|gcj02|bd09")] = "wgs84",
    scheduler: Scheduler = None,
    dask_workers: Workers = None,
    partition_rows: Annotated[int, typer.Option(help="Rows per partition")] = 50_000,
    name: Name = DEFAULT_CITY,
    bundle: BundleDir = None,
    build_dir: BuildDir = DEFAULT_BUILD_DIR,
    quiet: Quiet = False,
) -> None:
    """Geocode every row of FILE: one output row per input row, in input order (input
    columns + geo_ results)."""
    from twin.batch.geocode import geocode_file

    with _job(scheduler, dask_workers, quiet) as client:
        report = geocode_file(_city(name, bundle, build_dir), file, column=column, out=out,
                              client=client, crs=crs, partition_rows=partition_rows,
                              progress=not quiet)
    typer.echo(f"wrote {report.out}: {report.rows:,} rows ({report.failed:,} without a match), "
               f"{report.partitions} partitions, {report.workers} workers, {report.seconds:.1f} s")


@batch_app.command()
def bikes(
    file: Annotated[Path, typer.Argument(help="Trips in the Mobike schema (CSV or Parquet)")],
    out: Annotated[Path, typer.Option(help="Output GeoParquet of H3 cells")],
    res: Annotated[int, typer.Option(help="H3 resolution")] = 9,
    fleet: Annotated[int | None, typer.Option(
        help="Citywide fleet (default: the distinct bikeid of the trips)")] = None,
    scheduler: Scheduler = None,
    dask_workers: Workers = None,
    partition_rows: Annotated[int, typer.Option(help="Trips per partition")] = 200_000,
    name: Name = DEFAULT_CITY,
    bundle: BundleDir = None,
    build_dir: BuildDir = DEFAULT_BUILD_DIR,
    quiet: Quiet = False,
) -> None:
    """Trips → H3 → per-cell aggregates and quotas (the numbers of the in-process model)."""
    from twin.batch.bikes import aggregate_file

    with _job(scheduler, dask_workers, quiet) as client:
        report = aggregate_file(_city(name, bundle, build_dir), file, out=out, client=client,
                                res=res, fleet=fleet, partition_rows=partition_rows,
                                progress=not quiet)
    typer.echo(f"wrote {report.out}: {report.cells:,} cells from {report.rows:,} trips, "
               f"{report.partitions} partitions, {report.workers} workers, {report.seconds:.1f} s")


@batch_app.command()
def coverage(
    out: Annotated[Path, typer.Option(help="Output Parquet file")],
    remove_each_station: Annotated[bool, typer.Option(
        "--remove-each-station", help="The sweep: each station removed in turn")] = False,
    minutes: Annotated[float, typer.Option(help="Time budget")] = 5.0,
    vehicle: Annotated[list[str] | None, typer.Option(
        help="Station kinds (fire, ambulance; default both)")] = None,
    scheduler: Scheduler = None,
    dask_workers: Workers = None,
    partition_rows: Annotated[int, typer.Option(help="Stations per task")] = 1,
    name: Name = DEFAULT_CITY,
    bundle: BundleDir = None,
    build_dir: BuildDir = DEFAULT_BUILD_DIR,
    quiet: Quiet = False,
) -> None:
    """Coverage within MINUTES with each station removed in turn (one task per station)."""
    from twin.batch.coverage import coverage_sweep

    if not remove_each_station:
        typer.secho("error: give --remove-each-station (the only sweep so far)",
                    fg=typer.colors.RED, err=True)
        sys.exit(2)
    with _job(scheduler, dask_workers, quiet) as client:
        report = coverage_sweep(_city(name, bundle, build_dir), out=out, client=client,
                                minutes=minutes, vehicles=tuple(vehicle or ("fire", "ambulance")),
                                stations_per_task=partition_rows, progress=not quiet)
    typer.echo(f"wrote {report.out}: {report.stations} stations removed in turn, "
               f"{report.workers} workers, {report.seconds:.1f} s")


@batch_app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="pmtiles | mbtiles")],
    out: Annotated[Path, typer.Option(help="Output archive")],
    layers: Annotated[str | None, typer.Option(
        help="Comma-separated layers (default: every layer with geometry)")] = None,
    zooms: Annotated[str, typer.Option(help="Zoom range, MIN-MAX")] = "10-17",
    scheduler: Scheduler = None,
    dask_workers: Workers = None,
    partition_tiles: Annotated[int, typer.Option(help="Candidate tiles per partition")] = 2000,
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists")] = False,
    name: Name = DEFAULT_CITY,
    bundle: BundleDir = None,
    build_dir: BuildDir = DEFAULT_BUILD_DIR,
    quiet: Quiet = False,
) -> None:
    """A PMTiles / MBTiles archive of a large zoom range, the tiles encoded on the workers
    (the same archive as `twin export`)."""
    from twin.batch.export import export_tiles_batch

    with _job(scheduler, dask_workers, quiet) as client:
        report = export_tiles_batch(_city(name, bundle, build_dir), out, client=client,
                                    format=fmt, layers=layers, zooms=zooms, overwrite=force,
                                    partition_tiles=partition_tiles, progress=not quiet)
    result = report.result
    typer.echo(f"wrote {result.path} ({result.format}: {len(result.layers)} layers, "
               f"{result.tiles:,} tiles, z{result.zooms[0]}-{result.zooms[1]}, "
               f"{result.bytes / 1e6:.1f} MB), {report.partitions} partitions, "
               f"{report.workers} workers, {result.seconds:.1f} s")
