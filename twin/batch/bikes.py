"""Batch bike aggregation on a Dask cluster: trips (Mobike schema) → H3 → per-cell
counts → quotas, partition by partition.

Each partition is converted and indexed on the workers exactly as the in-process model
does (:func:`twin.bikes.trips.ingest_trips`), and reduced to sparse counts of pick-ups
and drop-offs per (day, hour, H3 cell) plus its dates and distinct bikes
(:class:`TripCounts`). The counts of the partitions are summed on the workers in a tree
(integers: the order does not matter), and only the total comes back to the client, where
the model of :class:`twin.bikes.BikeService` is fitted on them as it would be on the whole
trip table: the same quotas and the same numbers as
``service_from_layers(city.layers, trips=read_trips(path)).quotas(res=...)``.

The trips never reach the workers as a whole table, nor the client: it reads one
partition at a time and holds a bounded number in flight. The workers need nothing of the
city (the cells and the model are on the client).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from twin.batch._io import DEFAULT_PARTITION_ROWS, count_partitions, read_partitions
from twin.batch.cluster import map_ordered
from twin.bikes import service_from_layers
from twin.bikes.calendar import trip_calendar
from twin.bikes.demand import check_res, disaggregate
from twin.bikes.errors import InvalidTrips
from twin.bikes.model import Flows
from twin.bikes.service import BikeService, _Model
from twin.bikes.trips import MOBIKE_COLUMNS, coerce_trips, ingest_trips

if TYPE_CHECKING:
    from distributed import Client

    from twin.city import City

__all__ = ["TripCounts", "BikesReport", "count_trips", "merge_counts", "reduce_counts",
           "flows_from_counts", "service_from_counts", "aggregate_counts", "aggregate_file"]

logger = logging.getLogger(__name__)

_KEYS = ["day", "hour", "cell"]


def _empty_counts() -> pd.Series:
    index = pd.MultiIndex.from_arrays([np.zeros(0, "int64"), np.zeros(0, "int64"),
                                       np.zeros(0, "uint64")], names=_KEYS)
    return pd.Series(np.zeros(0, "int64"), index=index, name="trips")


@dataclass
class TripCounts:
    """Sparse trip counts of some partitions: all the model needs of the trips.

    Attributes
    ----------
    pickups, dropoffs : pandas.Series
        Counts (int64) indexed by ``day`` (start day, ns since the epoch), ``hour`` (of the
        start, resp. end) and ``cell`` (H3, uint64), as
        :func:`twin.bikes.model.hourly_flows` counts them.
    dates : numpy.ndarray
        Distinct start dates (``datetime64[ns]``) of every trip read.
    bikes : numpy.ndarray or None
        Distinct ``bikeid`` (the default fleet); None when not collected.
    rows, ingested : int
        Trips read, and with valid coordinates at both ends.
    """

    pickups: pd.Series = field(default_factory=_empty_counts)
    dropoffs: pd.Series = field(default_factory=_empty_counts)
    dates: np.ndarray = field(default_factory=lambda: np.zeros(0, "datetime64[ns]"))
    bikes: np.ndarray | None = None
    rows: int = 0
    ingested: int = 0


def _count(day: np.ndarray, hour: np.ndarray, cell: np.ndarray) -> pd.Series:
    keys = pd.DataFrame({"day": day, "hour": hour.astype("int64"), "cell": cell})
    return keys.groupby(_KEYS, sort=True).size().astype("int64").rename("trips")


def count_trips(frame: pd.DataFrame, *, res: int = 9, crs: str = "gcj02",
                bikes: bool = True) -> TripCounts:
    """Reduce one partition of trips to :class:`TripCounts`.

    Parameters
    ----------
    frame : pandas.DataFrame
        Trips in the Mobike schema (times may be text).
    res : int
        H3 resolution.
    crs : str
        Coordinates of the trips (``gcj02`` for Mobike).
    bikes : bool
        Collect the distinct ``bikeid``.

    Returns
    -------
    TripCounts

    Raises
    ------
    InvalidTrips
        Missing columns or unparseable times.
    """
    frame = coerce_trips(frame, source="a trip partition")
    ingested = ingest_trips(frame, res=res, crs=crs)
    day = ingested["day"].to_numpy("datetime64[ns]").view("int64")
    dates = pd.to_datetime(frame["start_time"]).dt.normalize().dropna().unique()
    ids = None
    if bikes and "bikeid" in frame.columns:
        ids = pd.unique(frame["bikeid"].dropna().to_numpy())
    return TripCounts(
        pickups=_count(day, ingested["start_hour"].to_numpy(), ingested["start_cell"].to_numpy()),
        dropoffs=_count(day, ingested["end_hour"].to_numpy(), ingested["end_cell"].to_numpy()),
        dates=np.asarray(dates, dtype="datetime64[ns]"), bikes=ids, rows=len(frame),
        ingested=len(ingested))


def _add(a: pd.Series, b: pd.Series) -> pd.Series:
    if not len(a):
        return b
    if not len(b):
        return a
    return pd.concat([a, b]).groupby(level=_KEYS, sort=True).sum().astype("int64")


def merge_counts(*parts: TripCounts) -> TripCounts:
    """Sum the counts of partitions (associative and commutative: any tree order)."""
    out = TripCounts()
    for part in parts:
        bikes = out.bikes
        if part.bikes is not None:
            bikes = part.bikes if bikes is None else pd.unique(np.concatenate([bikes, part.bikes]))
        out = TripCounts(_add(out.pickups, part.pickups), _add(out.dropoffs, part.dropoffs),
                         np.union1d(out.dates, part.dates), bikes, out.rows + part.rows,
                         out.ingested + part.ingested)
    return out


def _count_partition(frame: pd.DataFrame, *, res: int, crs: str, bikes: bool) -> TripCounts:
    return count_trips(frame, res=res, crs=crs, bikes=bikes)


def reduce_counts(client: Client | None, func: Any, items: Iterable[Any], *,
                  fan_in: int = 8, total: int | None = None, progress: bool = True,
                  desc: str = "trips") -> TripCounts:
    """Apply ``func`` (an item → :class:`TripCounts`) to every item and sum the counts.

    On a cluster the partial counts stay on the workers and are merged there ``fan_in`` at
    a time as they finish (a tree); only the total comes back. At most a few partitions
    per worker are in flight (the input streams).

    Parameters
    ----------
    client : distributed.Client or None
        None: in this process.
    func : callable
        Picklable; an item (a trip partition, or a partition number for a generator)
        to its counts.
    items : iterable
        Read lazily.
    fan_in : int
        Partials merged by one task.
    total : int, optional
        Items, for the progress bar.
    progress : bool
        Show a progress bar.
    desc : str
        Its label.
    """
    if client is None:
        acc = TripCounts()
        for part in map_ordered(None, func, items, total=total, progress=progress, desc=desc):
            acc = merge_counts(acc, part)
        return acc
    return _tree(client, func, items, fan_in, total, progress, desc)


def _tree(client: Client, func: Any, items: Iterable[Any], fan_in: int, total: int | None,
          progress: bool, desc: str) -> TripCounts:
    from distributed import as_completed
    from tqdm.auto import tqdm

    threads = sum(client.nthreads().values())
    max_in_flight = max(2, 2 * threads)
    source = iter(items)
    running = as_completed()
    leaves: set[str] = set()
    done: list[Any] = []  # finished futures not yet merged
    futures: list[Any] = []
    exhausted = False
    bar = tqdm(total=total, disable=not progress, desc=desc, unit="part")

    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(leaves) < max_in_flight:
            try:
                item = next(source)
            except StopIteration:
                exhausted = True
                return
            arg = client.scatter(item, hash=False) if isinstance(item, pd.DataFrame) else item
            future = client.submit(func, arg, pure=False)
            leaves.add(future.key)
            futures.append(future)
            running.add(future)

    try:
        fill()
        for future in running:
            if future.status == "error":
                future.result()  # raises the task's error here
            if future.key in leaves:
                leaves.discard(future.key)
                bar.update()
            done.append(future)
            if len(done) >= fan_in or (exhausted and not leaves and len(done) > 1
                                       and running.count() == 0):
                merged = client.submit(merge_counts, *done, pure=False)
                futures.append(merged)
                running.add(merged)
                done = []
            fill()
        if not done:
            return TripCounts()
        return done[0].result() if len(done) == 1 else merge_counts(*client.gather(done))
    finally:
        bar.close()
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


def flows_from_counts(counts: TripCounts, cell_ids: np.ndarray) -> Flows:
    """The (day, hour, cell) flows of :func:`twin.bikes.model.hourly_flows` from counts.

    Trips whose end lies outside ``cell_ids`` count at the other end only; the days are
    those of every trip with valid coordinates.
    """
    pos = pd.Index(cell_ids)
    day_values = counts.pickups.index.get_level_values("day").to_numpy()
    days = pd.DatetimeIndex(np.unique(day_values).astype("datetime64[ns]"))

    def dense(series: pd.Series) -> np.ndarray:
        out = np.zeros((len(days), 24, len(pos)), dtype=np.float64)
        d = days.get_indexer(series.index.get_level_values("day").to_numpy()
                             .astype("datetime64[ns]"))
        h = series.index.get_level_values("hour").to_numpy()
        c = pos.get_indexer(series.index.get_level_values("cell"))
        ok = c >= 0
        out[d[ok], h[ok], c[ok]] = series.to_numpy()[ok]
        return out

    return Flows(days, dense(counts.pickups), dense(counts.dropoffs))


def _fit(service: BikeService, counts: TripCounts, res: int) -> _Model:
    """The service's model fitted on counts instead of the trip table."""
    cells = disaggregate(service.grid, service.pois, service.roads, res=res)
    flows = flows_from_counts(counts, cells["cell"].to_numpy())
    if not flows.pickups.sum():
        raise InvalidTrips(f"none of the {counts.rows:,} trips starts inside the city's cells "
                           "(wrong city or coordinates not GCJ-02 lon/lat?)")
    calendar = trip_calendar(pd.DatetimeIndex(counts.dates))
    return service.fit_flows(cells, flows, calendar, trips=counts.rows)


def service_from_counts(layers: Any, counts: TripCounts, *, res: int = 9,
                        fleet: int | None = None) -> BikeService:
    """The bike service of a city fitted on trip counts, as if given the trips.

    Parameters
    ----------
    layers : LayerRegistry
        The city's layers (``city.layers``).
    counts : TripCounts
        The counts of every trip.
    res : int
        H3 resolution of the counts.
    fleet : int, optional
        Citywide fleet; default, as for a trip table: the distinct ``bikeid``.

    Returns
    -------
    BikeService
        ``basis = "real"``, its model at ``res`` fitted on the counts.
    """
    if counts.rows == 0:
        raise InvalidTrips("the trip file has no trips")
    stub = pd.DataFrame({c: pd.Series(dtype=object) for c in MOBIKE_COLUMNS})
    options: dict[str, Any] = {}
    if fleet is not None:
        options["fleet"] = int(fleet)
    elif counts.bikes is not None and len(counts.bikes):
        options["fleet"] = len(counts.bikes)
    service = service_from_layers(layers, trips=stub, **options)
    service._models[check_res(res)] = _fit(service, counts, res)
    return service


def aggregate_counts(layers: Any, counts: TripCounts, *, res: int = 9,
                     fleet: int | None = None) -> gpd.GeoDataFrame:
    """Per-cell quotas and aggregates from trip counts.

    Returns
    -------
    geopandas.GeoDataFrame
        :meth:`twin.bikes.BikeService.quotas` (daily means over the fitting days, quota,
        parking capacity, basis, source) plus ``pickups_total`` and ``dropoffs_total`` (all
        days) and ``days``.
    """
    service = service_from_counts(layers, counts, res=res, fleet=fleet)
    cells = service.quotas(res=res)
    m = service.model(res)
    at = pd.Index(m.cells["h3"]).get_indexer(cells["h3"])
    cells["pickups_total"] = m.flows.pickups.sum(axis=(0, 1))[at].astype("int64")
    cells["dropoffs_total"] = m.flows.dropoffs.sum(axis=(0, 1))[at].astype("int64")
    cells["days"] = len(m.days)
    return cells


@dataclass
class BikesReport:
    """What a batch aggregation did.

    Attributes
    ----------
    out : Path
        The GeoParquet file of cells.
    rows, ingested, cells, partitions, workers : int
        Trips read, trips with valid coordinates, cells written, partitions, Dask workers
        (0: in-process).
    seconds : float
        Wall time.
    """

    out: Path
    rows: int
    ingested: int
    cells: int
    partitions: int
    workers: int
    seconds: float


def _counted(items: Iterator[pd.DataFrame], tally: list[int]) -> Iterator[pd.DataFrame]:
    for item in items:
        tally[0] += 1
        yield item


def aggregate_file(city: City, path: str | Path, *, out: str | Path, client: Client | None = None,
                   res: int = 9, fleet: int | None = None, crs: str = "gcj02",
                   partition_rows: int = DEFAULT_PARTITION_ROWS * 4,
                   progress: bool = True) -> BikesReport:
    """Trips of a CSV / Parquet file → H3 → per-cell aggregates and quotas (GeoParquet).

    Parameters
    ----------
    city : City
        The city whose cells and parking capacity the quotas use.
    path : str or Path
        Trips in the Mobike schema (``.csv`` or ``.parquet``), read in partitions.
    out : str or Path
        Output GeoParquet (one row per active cell; written atomically).
    client : distributed.Client, optional
        The cluster; None runs in this process.
    res : int
        H3 resolution.
    fleet : int, optional
        Citywide fleet; default: the distinct ``bikeid`` of the trips.
    crs : str
        Coordinates of the trips.
    partition_rows : int
        Trips per partition.
    progress : bool
        Show a progress bar.

    Returns
    -------
    BikesReport

    Raises
    ------
    twin.bikes.errors.InvalidTrips
        Not the Mobike schema, unparseable times, no trip in the city.
    InvalidBatchInput
        Unreadable file.
    """
    start = time.perf_counter()
    path, out = Path(path), Path(out)
    res = check_res(res)
    func = functools.partial(_count_partition, res=res, crs=crs, bikes=fleet is None)
    tally = [0]
    items = _counted(read_partitions(path, partition_rows, dtype={"track": str}), tally)
    counts = reduce_counts(client, func, items, total=count_partitions(path, partition_rows),
                           progress=progress)
    cells = aggregate_counts(city.layers, counts, res=res, fleet=fleet)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    cells.to_parquet(partial, index=False)
    partial.replace(out)
    seconds = time.perf_counter() - start
    workers = 0 if client is None else len(client.nthreads())
    logger.info("aggregated %d trips into %d cells in %.1f s", counts.rows, len(cells), seconds)
    return BikesReport(out, counts.rows, counts.ingested, len(cells), tally[0], workers, seconds)
