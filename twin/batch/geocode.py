"""Batch geocoding on a Dask cluster: a CSV or Parquet file of addresses, partition by
partition, into a Parquet file with one row per input row, in input order.

The output has the input columns and the results of
:meth:`~address.service.AddressService.geocode_many` prefixed ``geo_`` (as
``twin geocode`` writes them); every partition is geocoded exactly as the in-process
service geocodes it, so the file equals the in-process result.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from twin.batch._io import (
    DEFAULT_PARTITION_ROWS,
    count_partitions,
    input_columns,
    read_partitions,
)
from twin.batch.cluster import CityRef, ParquetSink, map_ordered, open_address, ship_city
from twin.batch.errors import InvalidBatchInput

if TYPE_CHECKING:
    from distributed import Client

    from address.service import AddressService
    from twin.city import City

__all__ = ["GEO_TYPES", "GeocodeReport", "geocode_partition", "result_schema", "to_arrow",
           "geocode_file"]

logger = logging.getLogger(__name__)

#: Arrow types of the result columns (without ``input``), named ``geo_<column>``.
GEO_TYPES: dict[str, pa.DataType] = {
    "code": pa.string(), "address": pa.string(), "road": pa.string(), "lon": pa.float64(),
    "lat": pa.float64(), "level": pa.string(), "score": pa.float64(), "flags": pa.string(),
    "error": pa.string()}


@dataclass
class GeocodeReport:
    """What a batch geocoding did.

    Attributes
    ----------
    out : Path
        The Parquet file written.
    rows, partitions, failed : int
        Input rows, partitions, rows without a result (``geo_error`` set).
    seconds : float
        Wall time (shipping, reading, geocoding, writing).
    workers : int
        Dask workers used (0: in-process).
    """

    out: Path
    rows: int
    partitions: int
    failed: int
    seconds: float
    workers: int


def geocode_partition(service: AddressService, frame: pd.DataFrame, *, column: str,
                      crs: str = "wgs84") -> pd.DataFrame:
    """One partition: its columns and the ``geo_`` results, row by row.

    Parameters
    ----------
    service : AddressService
        The city's address service.
    frame : pandas.DataFrame
        The partition (any index).
    column : str
        Address column.
    crs : str
        Output coordinates (``wgs84``, ``gcj02``, ``bd09``).

    Returns
    -------
    pandas.DataFrame
        ``frame``'s columns + ``geo_code`` … ``geo_error``, a fresh ``RangeIndex``.
    """
    result = service.geocode_many(frame, column=column, crs=crs)
    return pd.concat([frame.reset_index(drop=True),
                      result.drop(columns="input").add_prefix("geo_")], axis=1)


def _remote(ref: CityRef, frame: pd.DataFrame, *, column: str, crs: str) -> pd.DataFrame:
    return geocode_partition(open_address(ref), frame, column=column, crs=crs)


def result_schema(columns: pa.Schema) -> pa.Schema:
    """The output schema: the input columns and the ``geo_`` columns."""
    clash = [f"geo_{c}" for c in GEO_TYPES if f"geo_{c}" in columns.names]
    if clash:
        raise InvalidBatchInput(f"the input already has result columns: {', '.join(clash)}")
    return pa.schema([*columns, *((f"geo_{c}", t) for c, t in GEO_TYPES.items())])


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """A result partition as an Arrow table of ``schema`` (missing values as nulls)."""
    arrays = []
    for field in schema:
        values = frame[field.name]
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            values = values.astype(object).where(values.notna(), None)
            values = values.map(lambda v: v if v is None or isinstance(v, str) else str(v))
        elif pa.types.is_floating(field.type):
            values = pd.to_numeric(values, errors="coerce")
        arrays.append(pa.array(values, type=field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def geocode_file(city: City, path: str | Path, *, column: str, out: str | Path,
                 client: Client | None = None, crs: str = "wgs84",
                 partition_rows: int = DEFAULT_PARTITION_ROWS,
                 progress: bool = True) -> GeocodeReport:
    """Geocode the ``column`` of a CSV or Parquet file into a Parquet file.

    The client reads the input one partition at a time (CSV chunks, Parquet record
    batches), sends each to a worker, and writes the results in input order as they come
    back (one row group per partition); at most a few partitions per worker are in flight.
    The workers get the city's gazetteer (and the address edits) once, shipped by
    :func:`twin.batch.cluster.ship_city`.

    Parameters
    ----------
    city : City
        The city whose addresses are matched.
    path : str or Path
        ``.csv`` (read as text) or ``.parquet``.
    column : str
        Address column.
    out : str or Path
        Output Parquet file (written atomically).
    client : distributed.Client, optional
        The cluster; None geocodes in this process.
    crs : str
        Output coordinates.
    partition_rows : int
        Rows per partition.
    progress : bool
        Show a progress bar (partitions).

    Returns
    -------
    GeocodeReport

    Raises
    ------
    InvalidBatchInput
        Unreadable input, unknown column or partition size.
    address.errors.AddressUnavailable
        A city without standard addresses.

    Examples
    --------
    >>> from twin import City
    >>> from twin.batch import batch_client, geocode_file
    >>> with batch_client(workers=2) as client:               # doctest: +SKIP
    ...     geocode_file(City.load(), "addresses.csv", column="addr", out="out.parquet",
    ...                  client=client)
    """
    start = time.perf_counter()
    path, out = Path(path), Path(out)
    columns = input_columns(path)
    if column not in columns.names:
        raise InvalidBatchInput(f"column {column!r} not in {path.name} "
                                f"({', '.join(columns.names)})")
    schema = result_schema(columns)
    if client is None:
        func = functools.partial(geocode_partition, city.address, column=column, crs=crs)
        workers = 0
    else:
        ref = ship_city(client, city, "address")
        func = functools.partial(_remote, ref, column=column, crs=crs)
        workers = len(client.nthreads())
    partitions = failed = 0
    with ParquetSink(out, schema) as sink:
        for part in map_ordered(client, func, read_partitions(path, partition_rows),
                                total=count_partitions(path, partition_rows), progress=progress,
                                desc="geocode"):
            sink.write(to_arrow(part, schema))
            partitions += 1
            failed += int(part["geo_error"].notna().sum())
    seconds = time.perf_counter() - start
    logger.info("geocoded %d rows in %d partitions in %.1f s", sink.rows, partitions, seconds)
    return GeocodeReport(out, sink.rows, partitions, failed, seconds, workers)
