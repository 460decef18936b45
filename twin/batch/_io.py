"""Reading batch inputs in partitions (CSV chunks, Parquet record batches)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twin.batch.errors import InvalidBatchInput

__all__ = ["DEFAULT_PARTITION_ROWS", "input_kind", "input_columns", "count_partitions",
           "read_partitions", "check_rows"]

#: Rows per partition when not given: large enough that the per-task overhead of Dask
#: (a few ms) is small, small enough that a partition is a few MB on the wire.
DEFAULT_PARTITION_ROWS = 50_000


def check_rows(rows: int) -> int:
    """Validate ``--partition-rows``."""
    if not isinstance(rows, int) or rows < 1:
        raise InvalidBatchInput(f"--partition-rows must be a positive integer, got {rows!r}")
    return rows


def input_kind(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` by the suffix; checks that the file exists."""
    path = Path(path)
    if not path.is_file():
        raise InvalidBatchInput(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq", ".geoparquet"):
        return "parquet"
    if suffix in (".csv", ".txt", ".tsv") or path.name.lower().endswith(".csv.gz"):
        return "csv"
    raise InvalidBatchInput(f"{path.name}: expected a .csv or .parquet file")


def _csv_options(path: Path) -> dict:
    return {"sep": "\t"} if path.suffix.lower() == ".tsv" else {}


def input_columns(path: Path, *, dtype: type | None = str) -> pa.Schema:
    """The input's columns as Arrow types (CSV read as ``dtype``: strings by default)."""
    kind = input_kind(path)
    try:
        if kind == "parquet":
            schema = pq.read_schema(path)
            return pa.schema([f for f in schema if f.name != "__index_level_0__"])
        head = pd.read_csv(path, nrows=0, **_csv_options(path))
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        raise InvalidBatchInput(f"cannot read {path.name}: {exc}") from None
    return pa.schema([(str(c), pa.string()) for c in head.columns])


def count_partitions(path: Path, rows: int) -> int | None:
    """Partitions of a Parquet file (from its metadata); None for a CSV (not read twice)."""
    if input_kind(path) != "parquet":
        return None
    return max(1, math.ceil(pq.ParquetFile(path).metadata.num_rows / rows))


def read_partitions(path: Path, rows: int, *, dtype: type | dict | None = str
                    ) -> Iterator[pd.DataFrame]:
    """Yield the input ``rows`` rows at a time, never whole.

    Parameters
    ----------
    path : Path
        CSV (read with ``dtype``, in ``chunksize`` chunks) or Parquet (record batches of
        ``rows`` rows across its row groups).
    rows : int
        Rows per partition.
    dtype : type or dict, optional
        CSV column types (strings by default, as ``twin geocode`` reads).

    Raises
    ------
    InvalidBatchInput
        Unreadable file.
    """
    rows = check_rows(rows)
    kind = input_kind(path)
    try:
        if kind == "parquet":
            source = pq.ParquetFile(path)
            for batch in source.iter_batches(batch_size=rows):
                frame = batch.to_pandas()
                yield frame.drop(columns="__index_level_0__", errors="ignore")
        else:
            with pd.read_csv(path, dtype=dtype, chunksize=rows, **_csv_options(path)) as reader:
                yield from reader
    except (OSError, pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidBatchInput(f"cannot read {Path(path).name}: {exc}") from None
