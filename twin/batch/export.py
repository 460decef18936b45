"""Tile archives on a Dask cluster (``twin batch export``): PMTiles / MBTiles of a large
zoom range, the tiles encoded by the workers, the archive written by the client.

The client checks the arguments, projects the layers (for the plan and the metadata) and
cuts the candidate tiles into partitions (:func:`twin.export.plan_tiles`: runs of one
zoom, consecutive in PMTiles tile-id order). Each worker opens the shipped city once
(:func:`~twin.batch.cluster.open_city`), projects the layers once (kept for its next
partitions) and runs :func:`twin.export.encode_partition` on a partition: the
``(tile_id, gzipped MVT)`` pairs of its non-empty tiles. The results come back in
partition order (:func:`~twin.batch.cluster.map_ordered`, bounded in flight), so the
tiles reach :func:`twin.export.write_archive` in tile-id order, as in the in-process
export: the archive is the same, tile for tile.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.batch.cluster import CityRef, map_ordered, open_city, ship_city
from twin.export import (
    DEFAULT_PARTITION_TILES,
    DEFAULT_ZOOMS,
    ExportResult,
    TilePartition,
    _projected,
    encode_partition,
    parse_layers,
    plan_tiles,
    prepare_tiles,
    write_archive,
)

if TYPE_CHECKING:
    from distributed import Client

    from layers.tiles import ProjectedLayer
    from twin.city import City

__all__ = ["ExportReport", "export_tiles_batch", "encode_remote"]

logger = logging.getLogger(__name__)

_PROJECTED: dict[tuple[str, tuple[str, ...]], list[ProjectedLayer]] = {}
_LOCK = threading.Lock()


@dataclass
class ExportReport:
    """What a batch export did.

    Attributes
    ----------
    result : ExportResult
        The archive written (as :func:`twin.export.export_tiles` returns it).
    partitions : int
        Tasks (partitions of candidate tiles).
    candidates : int
        Candidate tiles encoded (the non-empty ones are ``result.tiles``).
    workers : int
        Dask workers (0: in this process).
    """

    result: ExportResult
    partitions: int
    candidates: int
    workers: int


def _worker_layers(ref: CityRef, names: tuple[str, ...]) -> list[ProjectedLayer]:
    """The layers projected on this worker, once per worker process and layer set."""
    key = (ref.key, names)
    with _LOCK:
        if key not in _PROJECTED:
            service = open_city(ref).layer_service
            _PROJECTED[key] = _projected(service, [service.info(n) for n in names])
        return _PROJECTED[key]


def encode_remote(ref: CityRef, names: tuple[str, ...], part: TilePartition
                  ) -> list[tuple[int, bytes]]:
    """A task: the partition's ``(tile_id, gzipped MVT)`` pairs from the shipped city."""
    return encode_partition(_worker_layers(ref, names), part)


def export_tiles_batch(city: City, out: str | Path, *, client: Client | None = None,
                       format: str = "pmtiles", layers: Sequence[str] | str | None = None,
                       zooms: tuple[int, int] | str = DEFAULT_ZOOMS, overwrite: bool = False,
                       partition_tiles: int = DEFAULT_PARTITION_TILES,
                       progress: bool = True) -> ExportReport:
    """Write a PMTiles or MBTiles archive, the tiles encoded on the cluster.

    Parameters
    ----------
    city : City
        The city (its bundle and edits are shipped to the workers).
    out : str or Path
        The archive.
    client : distributed.Client, optional
        The cluster; None encodes in this process (the partitions one after the other).
    format : {"pmtiles", "mbtiles"}
        Archive format.
    layers : sequence of str or str, optional
        Layers (default: every layer with geometry).
    zooms : (int, int) or str
        Zoom range, inclusive.
    overwrite : bool
        Replace an existing ``out``.
    partition_tiles : int
        Candidate tiles per task (does not change the archive).
    progress : bool
        Show a progress bar over the partitions.

    Returns
    -------
    ExportReport

    Raises
    ------
    ExportError, LayerNotFound, TileOutOfRange
        As :func:`twin.export.export_tiles`.
    BundleNotShippable
        A twin without a bundle (on PostGIS) on a cluster.
    """
    job = prepare_tiles(city.layer_service, out, format=format, layers=parse_layers(layers),
                        zooms=zooms, overwrite=overwrite)
    plan = plan_tiles(job.projected, job.zooms, partition_tiles=partition_tiles)
    if client is None:
        func: Any = functools.partial(encode_partition, job.projected)
        workers = 0
    else:
        ref = ship_city(client, city, "city")
        func = functools.partial(encode_remote, ref, tuple(job.layers))
        workers = len(client.nthreads())

    def tiles() -> Iterator[tuple[int, bytes]]:
        for encoded in map_ordered(client, func, plan, scatter=False, total=len(plan),
                                   progress=progress, desc="tiles"):
            yield from encoded

    result = write_archive(job, tiles())
    candidates = sum(len(p) for p in plan)
    logger.info("batch export: %d partitions, %d candidate tiles, %d workers", len(plan),
                candidates, workers)
    return ExportReport(result, len(plan), candidates, workers)
