"""The coverage what-if sweep on a Dask cluster: the coverage within a time budget with
each station removed in turn, one task per station.

Each task calls ``city.routing.coverage(vehicle=<its kind>, minutes=…,
remove_stations=[station])`` on the city shipped to its worker (the bundle, opened once
per worker process), so a row equals the in-process call.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from twin.batch.cluster import CityRef, ParquetSink, map_ordered, open_city, ship_city
from twin.batch.errors import InvalidBatchInput

if TYPE_CHECKING:
    from distributed import Client

    from twin.city import City

__all__ = ["COVERAGE_SCHEMA", "CoverageReport", "station_coverage", "coverage_sweep"]

logger = logging.getLogger(__name__)

_SHARES = [f"{m}_{g}" for g in ("gw", "nogw") for m in ("road_length_share", "household_share")]
#: One row per station removed (and ``station`` null: the baseline with every station).
COVERAGE_SCHEMA = pa.schema([
    ("station", pa.string()), ("name", pa.string()), ("vehicle", pa.string()),
    ("minutes", pa.float64()), ("stations_left", pa.int64()),
    *((s, pa.float64()) for s in _SHARES),
    *((f"{s}_loss", pa.float64()) for s in _SHARES)])


@dataclass
class CoverageReport:
    """What a sweep did.

    Attributes
    ----------
    out : Path
        The Parquet file.
    stations, workers : int
        Stations removed (one task each), Dask workers (0: in-process).
    seconds : float
        Wall time.
    """

    out: Path
    stations: int
    workers: int
    seconds: float


def station_coverage(routing: Any, task: tuple[str | None, str, float]) -> dict[str, Any]:
    """Coverage of one what-if: ``(station or None, vehicle, minutes)``.

    Returns
    -------
    dict
        ``station``, ``vehicle``, ``minutes``, ``stations_left`` and the shares with and
        without the green wave (``…_gw``, ``…_nogw``).
    """
    station, vehicle, minutes = task
    result = routing.coverage(vehicle=vehicle, minutes=minutes,
                              remove_stations=[station] if station is not None else [])
    row = {"station": station, "vehicle": vehicle, "minutes": float(minutes),
           "stations_left": int(result["stations"])}
    for label, suffix in (("with_green_wave", "gw"), ("without_green_wave", "nogw")):
        for metric in ("road_length_share", "household_share"):
            row[f"{metric}_{suffix}"] = result[label][metric]
    return row


def _remote(ref: CityRef, tasks: list[tuple[str | None, str, float]]) -> list[dict[str, Any]]:
    routing = open_city(ref).routing
    return [station_coverage(routing, t) for t in tasks]


def _local(routing: Any, tasks: list[tuple[str | None, str, float]]) -> list[dict[str, Any]]:
    return [station_coverage(routing, t) for t in tasks]


def coverage_sweep(city: City, *, out: str | Path, client: Client | None = None,
                   minutes: float = 5.0, vehicles: Sequence[str] = ("fire", "ambulance"),
                   stations_per_task: int = 1, progress: bool = True) -> CoverageReport:
    """Coverage with each station removed in turn, one task per station.

    Parameters
    ----------
    city : City
        The city (its bundle is shipped to the workers).
    out : str or Path
        Output Parquet file (:data:`COVERAGE_SCHEMA`): first a baseline row per vehicle
        (``station`` null, every station), then a row per station, in the order of the
        stations table; ``…_loss`` is the baseline share minus the share without the station.
    client : distributed.Client, optional
        The cluster; None runs in this process.
    minutes : float
        Time budget.
    vehicles : sequence of str
        Station kinds swept (``fire``, ``ambulance``).
    stations_per_task : int
        What-ifs per task (1: one task per station).
    progress : bool
        Show a progress bar.

    Returns
    -------
    CoverageReport

    Raises
    ------
    InvalidBatchInput
        No station of the given kinds, or a bad option.
    BundleNotShippable
        A twin without a bundle (on PostGIS) on a cluster.
    """
    start = time.perf_counter()
    out = Path(out)
    if stations_per_task < 1:
        raise InvalidBatchInput(f"stations per task must be positive, got {stations_per_task}")
    routing = city.routing
    stations = routing.stations[routing.stations["kind"].isin(list(vehicles))]
    if not len(stations):
        raise InvalidBatchInput(f"the city has no {' or '.join(vehicles)} station")
    names = dict(zip(stations["id"], stations["name"], strict=True))
    kinds = [k for k in vehicles if k in set(stations["kind"])]
    whatifs: list[tuple[str | None, str, float]] = [(None, k, float(minutes)) for k in kinds]
    whatifs += [(s, k, float(minutes)) for s, k in zip(stations["id"], stations["kind"],
                                                       strict=True)]
    batches = [whatifs[i:i + stations_per_task] for i in range(0, len(whatifs), stations_per_task)]
    if client is None:
        func = functools.partial(_local, routing)
        workers = 0
    else:
        func = functools.partial(_remote, ship_city(client, city, "city"))
        workers = len(client.nthreads())
    baseline: dict[str, dict[str, Any]] = {}
    with ParquetSink(out, COVERAGE_SCHEMA) as sink:
        for rows in map_ordered(client, func, batches, scatter=False, total=len(batches),
                                progress=progress, desc="coverage"):
            for row in rows:
                if row["station"] is None:
                    baseline[row["vehicle"]] = row
                base = baseline[row["vehicle"]]
                row["name"] = names.get(row["station"])
                for s in _SHARES:
                    row[f"{s}_loss"] = round(base[s] - row[s], 4)
            sink.write(pa.Table.from_pandas(pd.DataFrame(rows), schema=COVERAGE_SCHEMA,
                                            preserve_index=False))
    seconds = time.perf_counter() - start
    logger.info("coverage sweep of %d stations in %.1f s", len(stations), seconds)
    return CoverageReport(out, len(stations), workers, seconds)
