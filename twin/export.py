"""Export a city's layers for other GIS clients: tile archives and vector files.

Two kinds of output:

- **Tile archives** (``pmtiles``, ``mbtiles``): the vector tiles of a zoom range, the same
  tiles the server gives at ``/tiles/{layers}/{z}/{x}/{y}.mvt`` (same clipping, per-zoom
  simplification and generalization, :func:`layers.tiles.encode_tile`), one composite tile
  per ``z/x/y`` holding one MVT layer per exported layer, gzip-compressed as MBTiles and
  PMTiles vector producers store them. Every tile of the range that holds a feature is
  written; empty tiles are skipped. PMTiles is written with the ``pmtiles`` package
  (spec v3, clustered, tiles deduplicated); MBTiles is SQLite with the standard schema
  (``metadata``, ``tiles`` with TMS rows). Both carry the TileJSON-style metadata: bounds,
  center, zoom range, attribution (OpenStreetMap ODbL for the OSM-derived layers) and
  ``vector_layers`` with their fields, so GDAL, QGIS and MapLibre read them.
- **Vector files** (``gpkg``, ``geoparquet``): every feature and column of each layer,
  with the feature id as a column named after the layer's index (``fid``, ``id`` ...).
  GeoPackage holds one table per layer. GeoParquet holds one layer per file: with one
  layer, ``out`` is that file; with several, ``out`` is a directory of ``<layer>.parquet``.

Files are written under a temporary name next to ``out`` and renamed when complete, so an
interrupted export leaves no half-written archive, and an existing ``out`` is replaced
only with ``overwrite=True``.

Examples
--------
>>> from twin import City
>>> from twin.export import export_city
>>> city = City.load()                                      # doctest: +SKIP
>>> export_city(city, "shanghai.pmtiles", format="pmtiles",
...             layers=["roads", "pois"], zooms=(10, 17))   # doctest: +SKIP
ExportResult(path=PosixPath('shanghai.pmtiles'), format='pmtiles', ...)
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from tqdm.auto import tqdm

from layers.errors import LayerNotFound, TileOutOfRange
from layers.registry import LayerInfo
from layers.service import LayerService
from layers.tilejson import vector_tilejson
from layers.tiles import BUFFER, EXTENT, MAX_ZOOM, ProjectedLayer, encode_tile
from twin.errors import ExportError

__all__ = [
    "ExportFormat",
    "TILE_FORMATS",
    "FEATURE_FORMATS",
    "DEFAULT_ZOOMS",
    "ExportError",
    "ExportResult",
    "parse_zooms",
    "parse_layers",
    "exportable_layers",
    "tile_metadata",
    "iter_archive_tiles",
    "DEFAULT_PARTITION_TILES",
    "TilePartition",
    "TileJob",
    "plan_tiles",
    "encode_partition",
    "compress_tile",
    "prepare_tiles",
    "write_archive",
    "export_city",
    "export_tiles",
    "export_features",
]

logger = logging.getLogger(__name__)


class ExportFormat(enum.StrEnum):
    """Output formats of :func:`export_city`."""

    pmtiles = "pmtiles"
    mbtiles = "mbtiles"
    geoparquet = "geoparquet"
    gpkg = "gpkg"


TILE_FORMATS = frozenset({ExportFormat.pmtiles, ExportFormat.mbtiles})
FEATURE_FORMATS = frozenset({ExportFormat.geoparquet, ExportFormat.gpkg})
DEFAULT_ZOOMS = (10, 17)
GZIP_LEVEL = 6  # zlib's default, as tippecanoe and planetiler use
_HALF_WORLD = math.pi * 6378137.0


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    path : Path
        The file (or, for several GeoParquet layers, the directory) written.
    format : str
        ``pmtiles``, ``mbtiles``, ``geoparquet`` or ``gpkg``.
    layers : list of str
        The layers exported.
    zooms : (int, int) or None
        Zoom range of a tile archive.
    tiles : int
        Tiles written (non-empty tiles of the range); 0 for vector files.
    features : int
        Features written (vector files); for archives, the features of the exported layers.
    bytes : int
        Size on disk.
    seconds : float
        Wall time.
    files : list of Path
        Every file written.
    """

    path: Path
    format: str
    layers: list[str]
    zooms: tuple[int, int] | None = None
    tiles: int = 0
    features: int = 0
    bytes: int = 0
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


# -- arguments -----------------------------------------------------------------------------

def parse_zooms(text: str | Sequence[int]) -> tuple[int, int]:
    """Parse a zoom range: ``"10-17"``, ``"14"`` or ``(10, 17)``.

    Raises
    ------
    TileOutOfRange
        Not a range of integers within ``[0, 22]`` with ``min <= max``.

    Examples
    --------
    >>> parse_zooms("10-17")
    (10, 17)
    >>> parse_zooms("14")
    (14, 14)
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.split("-")]
        if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
            raise TileOutOfRange(f"zoom range {text!r} is not 'MIN-MAX' or 'Z' (e.g. 10-17)")
        values = [int(p) for p in parts]
    else:
        values = [int(v) for v in text]
        if len(values) not in (1, 2):
            raise TileOutOfRange(f"zoom range {text!r} must be (min, max)")
    lo, hi = values[0], values[-1]
    if not (0 <= lo <= hi <= MAX_ZOOM):
        raise TileOutOfRange(f"zoom range {lo}-{hi} must satisfy 0 <= min <= max <= {MAX_ZOOM}")
    return lo, hi


def parse_layers(text: str | Sequence[str] | None) -> list[str] | None:
    """Parse ``"roads,pois"`` (or a list) into unique layer names; None or ``""`` is None."""
    if text is None:
        return None
    names = text.split(",") if isinstance(text, str) else list(text)
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    return names or None


def exportable_layers(service: LayerService, layers: Sequence[str] | None, *,
                      tiles: bool) -> list[LayerInfo]:
    """The infos of the layers to export (default: every layer with geometry).

    Raises
    ------
    LayerNotFound
        An unknown layer, or (for tiles) a layer without geometry.
    """
    if layers is None:
        infos = [service.info(n) for n in service.registry if service.info(n).bounds is not None]
        if not infos:
            raise LayerNotFound("the city has no layer with geometry to export")
        return infos
    infos = [service.info(n) for n in layers]
    flat = [i.name for i in infos if i.bounds is None]
    if tiles and flat:
        raise LayerNotFound(f"layers without geometry cannot be tiled: {', '.join(flat)}")
    return infos


def _prepare_out(out: Path, *, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists (pass overwrite=True / --force to replace it)")
    if not out.parent.is_dir():
        raise ExportError(f"directory {out.parent} does not exist")


@contextlib.contextmanager
def _atomic_path(out: Path, *, directory: bool = False) -> Iterator[Path]:
    """A temporary path beside ``out``, renamed to ``out`` when the block succeeds."""
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp = tmp_dir / out.name
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


# -- tiles ---------------------------------------------------------------------------------

def _union_bounds(infos: Sequence[LayerInfo]) -> list[float]:
    boxes = [i.bounds for i in infos if i.bounds]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes)]


def tile_metadata(infos: Sequence[LayerInfo], zooms: tuple[int, int], *,
                  projected: Sequence[ProjectedLayer] | None = None) -> dict[str, Any]:
    """TileJSON-style metadata of an archive, from the same function as the server's TileJSON.

    Parameters
    ----------
    infos : sequence of LayerInfo
        The exported layers.
    zooms : (int, int)
        The archive's zoom range.
    projected : sequence of ProjectedLayer, optional
        The same layers projected for tiling: adds feature counts and the range of each
        numeric attribute to ``tilestats`` (GDAL then reads integer columns as integers).

    Returns
    -------
    dict
        ``name``, ``description``, ``version``, ``attribution``, ``bounds``, ``center``
        (lon, lat, zoom), ``minzoom``, ``maxzoom``, ``format`` (``pbf``), ``type``,
        ``vector_layers`` (each with ``fields`` and its zoom range clipped to the
        archive's) and ``tilestats`` (geometry type and attribute types per layer).
    """
    lo, hi = zooms
    doc = vector_tilejson(infos, "")
    for key in ("tilejson", "tiles", "scheme"):
        doc.pop(key, None)
    bounds = doc["bounds"]
    doc.update(minzoom=lo, maxzoom=hi, format="pbf", type="overlay",
               center=[(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2,
                       max(lo, min(14, hi))],
               generator="citytwin (twin.export)")
    for layer in doc["vector_layers"]:
        layer["minzoom"] = min(max(layer["minzoom"], lo), hi)
        layer["maxzoom"] = max(min(layer["maxzoom"], hi), lo)
    # mapbox-geostats summary: GDAL reads each layer's geometry type and fields from it
    props = [p.props for p in projected] if projected is not None else [None] * len(infos)
    doc["tilestats"] = {"layerCount": len(infos), "layers": [
        _layer_stats(layer, info, frame)
        for layer, info, frame in zip(doc["vector_layers"], infos, props, strict=True)]}
    return doc


def _layer_stats(layer: dict[str, Any], info: LayerInfo, props: Any) -> dict[str, Any]:
    """One layer's mapbox-geostats entry (numeric ranges when ``props`` is given)."""
    types = {"Number": "number", "Boolean": "boolean"}
    attributes = []
    for name, kind in layer["fields"].items():
        entry: dict[str, Any] = {"attribute": name, "type": types.get(kind, "string")}
        column = props[name] if props is not None and name in props.columns else None
        if kind == "Number" and column is not None and column.notna().any():
            values = column.dropna()
            if values.dtype.kind in "iu":  # integers stay integers (GDAL: Integer/Integer64)
                entry.update(min=int(values.min()), max=int(values.max()))
            elif values.dtype.kind == "f":
                entry.update(min=float(values.min()), max=float(values.max()))
        attributes.append(entry)
    stats = {"layer": layer["id"], "geometry": info.geometry_type,
             "attributeCount": len(attributes), "attributes": attributes}
    if props is not None:
        stats["count"] = len(props)
    return stats


def _candidate_tiles(layer: ProjectedLayer, z: int) -> np.ndarray:
    """Tile keys ``x * 2**z + y`` whose buffered box touches the bounding box of a feature
    drawn at ``z``: a superset of the tiles where :func:`encode_tile` finds the layer."""
    drawn = layer.minzooms <= z
    if not drawn.any():
        return np.empty(0, dtype=np.int64)
    n = 1 << z
    size = 2 * _HALF_WORLD / n
    pad = size * BUFFER / EXTENT + size * 1e-6  # the clip buffer, and a hair for edges
    minx, miny, maxx, maxy = shapely.bounds(layer.geoms[drawn]).T
    x0 = np.clip(np.floor((minx - pad + _HALF_WORLD) / size), 0, n - 1).astype(np.int64)
    x1 = np.clip(np.floor((maxx + pad + _HALF_WORLD) / size), 0, n - 1).astype(np.int64)
    y0 = np.clip(np.floor((_HALF_WORLD - maxy - pad) / size), 0, n - 1).astype(np.int64)
    y1 = np.clip(np.floor((_HALF_WORLD - miny + pad) / size), 0, n - 1).astype(np.int64)
    nx, ny = x1 - x0 + 1, y1 - y0 + 1
    counts = nx * ny
    total = int(counts.sum())
    # expand each feature's tile rectangle into its tiles, without a Python loop
    feature = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    xs = x0[feature] + local // ny[feature]
    ys = y0[feature] + local % ny[feature]
    return np.unique(xs * n + ys)


def _tile_ids(keys: np.ndarray, z: int) -> np.ndarray:
    from pmtiles.tile import zxy_to_tileid

    n = 1 << z
    return np.array([zxy_to_tileid(z, int(k // n), int(k % n)) for k in keys], dtype=np.int64)


def _projected(service: LayerService, infos: Sequence[LayerInfo]) -> list[ProjectedLayer]:
    """Each layer projected for tiling exactly as the service projects it."""
    return [ProjectedLayer.from_gdf(i.name, service.data(i.name), i.version, minzoom=i.minzoom)
            for i in infos]


#: Candidate tiles per partition of :func:`plan_tiles`: a few seconds of encoding each at
#: z16-z17, large enough that a Dask task's overhead (a few ms) does not count.
DEFAULT_PARTITION_TILES = 2000


@dataclass(frozen=True)
class TilePartition:
    """A run of candidate tiles of one zoom, consecutive in PMTiles tile-id order.

    Tile ids grow with the zoom and, within a zoom, along the Hilbert curve, so a
    partition covers a compact patch of the map, and the partitions of
    :func:`plan_tiles`, concatenated in order, are in tile-id order (what a clustered
    PMTiles archive needs).

    Attributes
    ----------
    z : int
        Zoom.
    tile_ids : numpy.ndarray
        PMTiles tile ids, ascending (int64).
    xs, ys : numpy.ndarray
        Column and row (from the top) of each tile.
    """

    z: int
    tile_ids: np.ndarray
    xs: np.ndarray
    ys: np.ndarray

    def __len__(self) -> int:
        return len(self.tile_ids)


def plan_tiles(projected: Sequence[ProjectedLayer], zooms: tuple[int, int], *,
               partition_tiles: int = DEFAULT_PARTITION_TILES) -> list[TilePartition]:
    """The candidate tiles of ``zooms``, in tile-id order, cut into partitions.

    Only the tiles whose buffered box touches a drawn feature's bounding box are
    candidates (the others are empty for certain), so the work scales with the features,
    not with the area of the layers' bounds.

    Parameters
    ----------
    projected : sequence of ProjectedLayer
        The layers.
    zooms : (int, int)
        Zoom range, inclusive.
    partition_tiles : int
        At most this many candidate tiles per partition; a partition never spans two zooms.

    Returns
    -------
    list of TilePartition
        In tile-id order (:func:`encode_partition` each, concatenate in order).
    """
    if partition_tiles < 1:
        raise ExportError(f"tiles per partition must be positive, got {partition_tiles}")
    lo, hi = zooms
    plan: list[TilePartition] = []
    for z in range(lo, hi + 1):
        parts = [_candidate_tiles(layer, z) for layer in projected]
        keys = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        ids = _tile_ids(keys, z)
        order = np.argsort(ids, kind="stable")
        ids, keys = ids[order], keys[order]
        n = 1 << z
        for i in range(0, len(ids), partition_tiles):
            chunk = keys[i:i + partition_tiles]
            plan.append(TilePartition(z, ids[i:i + partition_tiles], chunk // n, chunk % n))
    return plan


def _encode_tiles(projected: Sequence[ProjectedLayer], part: TilePartition
                  ) -> Iterator[tuple[int, int, int, int, bytes]]:
    """``(tile_id, z, x, y, mvt)`` of each non-empty tile of ``part``, in order."""
    for tile_id, x, y in zip(part.tile_ids.tolist(), part.xs.tolist(), part.ys.tolist(),
                             strict=True):
        data = encode_tile(projected, part.z, x, y)
        if data:
            yield tile_id, part.z, x, y, data


def compress_tile(data: bytes) -> bytes:
    """A tile as the archives store it: gzip level 6, no timestamp (deterministic)."""
    return gzip.compress(data, GZIP_LEVEL, mtime=0)


def encode_partition(projected: Sequence[ProjectedLayer], part: TilePartition
                     ) -> list[tuple[int, bytes]]:
    """Encode and compress the tiles of one partition (what a batch worker runs).

    Returns
    -------
    list of (int, bytes)
        ``(tile_id, gzipped MVT)`` of each non-empty tile, in tile-id order; the empty
        candidates are left out.
    """
    return [(tile_id, compress_tile(data))
            for tile_id, _, _, _, data in _encode_tiles(projected, part)]


def iter_archive_tiles(projected: Sequence[ProjectedLayer], zooms: tuple[int, int], *,
                       progress: bool = True) -> Iterator[tuple[int, int, int, bytes]]:
    """Encode every non-empty tile of ``zooms``, in PMTiles tile-id (Hilbert) order.

    The candidates are those of :func:`plan_tiles`; a candidate that encodes to nothing
    is skipped.

    Parameters
    ----------
    projected : sequence of ProjectedLayer
        The layers, one MVT layer each.
    zooms : (int, int)
        Zoom range, inclusive.
    progress : bool
        Show a progress bar over the candidate tiles.

    Yields
    ------
    (z, x, y, data)
        The uncompressed MVT bytes of each non-empty tile (the server's tile bytes).
    """
    plan = plan_tiles(projected, zooms)
    with tqdm(total=sum(len(p) for p in plan), desc="tiles", unit="tile",
              disable=not progress, leave=False) as bar:
        for part in plan:
            for _, z, x, y, data in _encode_tiles(projected, part):
                yield z, x, y, data
            bar.update(len(part))


def _write_pmtiles(path: Path, tiles: Iterable[tuple[int, bytes]],
                   metadata: dict[str, Any]) -> int:
    from pmtiles.tile import Compression, TileType
    from pmtiles.writer import Writer

    count = 0
    last = -1
    with open(path, "wb") as f:
        writer = Writer(f)
        for tile_id, data in tiles:
            if tile_id <= last:  # a clustered archive: the writer relies on the order
                raise ExportError(f"tiles out of tile-id order ({tile_id} after {last})")
            writer.write_tile(tile_id, data)
            last = tile_id
            count += 1
        if not count:
            raise ExportError("no tile of the zoom range holds a feature: nothing to write")
        west, south, east, north = metadata["bounds"]
        lon, lat, zoom = metadata["center"]
        writer.finalize(
            {"tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
             "min_zoom": metadata["minzoom"], "max_zoom": metadata["maxzoom"],
             "min_lon_e7": int(west * 1e7), "min_lat_e7": int(south * 1e7),
             "max_lon_e7": int(east * 1e7), "max_lat_e7": int(north * 1e7),
             "center_zoom": zoom, "center_lon_e7": int(lon * 1e7),
             "center_lat_e7": int(lat * 1e7)},
            metadata)
    return count


_MBTILES_SCHEMA = """
CREATE TABLE metadata (name TEXT, value TEXT);
CREATE UNIQUE INDEX name ON metadata (name);
CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
"""


def _write_mbtiles(path: Path, tiles: Iterable[tuple[int, bytes]],
                   metadata: dict[str, Any]) -> int:
    from pmtiles.tile import tileid_to_zxy

    count = 0
    con = sqlite3.connect(path)
    try:
        con.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _MBTILES_SCHEMA)
        batch: list[tuple[int, int, int, bytes]] = []
        for tile_id, data in tiles:
            z, x, y = tileid_to_zxy(tile_id)
            batch.append((z, x, (1 << z) - 1 - y, data))  # MBTiles rows count from the south
            count += 1
            if len(batch) >= 1000:
                con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", batch)
                batch.clear()
        con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", batch)
        if not count:
            raise ExportError("no tile of the zoom range holds a feature: nothing to write")
        con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        rows = {
            "name": metadata["name"], "format": "pbf", "type": metadata["type"],
            "description": metadata["description"], "version": metadata["version"],
            "attribution": metadata["attribution"],
            "bounds": ",".join(f"{v:.7f}" for v in metadata["bounds"]),
            "center": ",".join([f"{metadata['center'][0]:.7f}", f"{metadata['center'][1]:.7f}",
                                str(metadata["center"][2])]),
            "minzoom": str(metadata["minzoom"]), "maxzoom": str(metadata["maxzoom"]),
            "generator": metadata["generator"],
            "json": json.dumps({"vector_layers": metadata["vector_layers"],
                                "tilestats": metadata["tilestats"]}, ensure_ascii=False),
        }
        con.executemany("INSERT INTO metadata VALUES (?, ?)", rows.items())
        con.commit()
    finally:
        con.close()
    return count


@dataclass
class TileJob:
    """A validated tile-archive export, ready to run (:func:`prepare_tiles`).

    Attributes
    ----------
    format : ExportFormat
        ``pmtiles`` or ``mbtiles``.
    out : Path
        The archive to write.
    zooms : (int, int)
        Zoom range.
    infos : list of LayerInfo
        The layers, in the order of their MVT layers.
    projected : list of ProjectedLayer
        The layers projected for tiling (planning and metadata).
    start : float
        ``time.perf_counter()`` when the job started.
    """

    format: ExportFormat
    out: Path
    zooms: tuple[int, int]
    infos: list[LayerInfo]
    projected: list[ProjectedLayer]
    start: float

    @property
    def layers(self) -> list[str]:
        """The layer names."""
        return [i.name for i in self.infos]


def prepare_tiles(service: LayerService, out: str | Path, *, format: str = "pmtiles",
                  layers: Sequence[str] | None = None,
                  zooms: tuple[int, int] | str = DEFAULT_ZOOMS,
                  overwrite: bool = False) -> TileJob:
    """Check the arguments of a tile export and project its layers (before any tile).

    Raises
    ------
    ExportError, LayerNotFound, TileOutOfRange
        As :func:`export_tiles`.
    """
    fmt = _format(format)
    if fmt not in TILE_FORMATS:
        raise ExportError(f"{fmt.value} is not a tile archive format (pmtiles, mbtiles)")
    out = Path(out)
    zooms = parse_zooms(zooms)
    infos = exportable_layers(service, layers, tiles=True)
    _prepare_out(out, overwrite=overwrite)
    start = time.perf_counter()
    return TileJob(fmt, out, zooms, infos, _projected(service, infos), start)


def write_archive(job: TileJob, tiles: Iterable[tuple[int, bytes]]) -> ExportResult:
    """Write ``(tile_id, gzipped MVT)`` pairs, ascending tile ids, into the job's archive
    (atomically), with its metadata.

    The in-process export and ``twin batch export`` both end here: the tiles come from
    :func:`encode_partition` over the partitions of :func:`plan_tiles`, in order.
    """
    metadata = tile_metadata(job.infos, job.zooms, projected=job.projected)
    write = _write_pmtiles if job.format is ExportFormat.pmtiles else _write_mbtiles
    with _atomic_path(job.out) as tmp:
        count = write(tmp, tiles, metadata)
    seconds = time.perf_counter() - job.start
    logger.info("wrote %d tiles of %s to %s in %.1f s", count, metadata["name"], job.out,
                seconds)
    return ExportResult(job.out, job.format.value, job.layers, job.zooms, count,
                        sum(len(p.fids) for p in job.projected), _size(job.out), seconds,
                        [job.out])


def export_tiles(service: LayerService, out: str | Path, *, format: str = "pmtiles",
                 layers: Sequence[str] | None = None,
                 zooms: tuple[int, int] | str = DEFAULT_ZOOMS, overwrite: bool = False,
                 progress: bool = True,
                 partition_tiles: int = DEFAULT_PARTITION_TILES) -> ExportResult:
    """Write the vector tiles of ``layers`` over ``zooms`` into one PMTiles or MBTiles file.

    In this process; ``twin batch export`` (:func:`twin.batch.export.export_tiles_batch`)
    runs the same partitions on Dask workers and writes the same archive.

    Parameters
    ----------
    service : LayerService
        The city's layer service (``city.layer_service``): current layers, edits included.
    out : str or Path
        The archive to write.
    format : {"pmtiles", "mbtiles"}
        Archive format.
    layers : sequence of str, optional
        Layers, one MVT layer each in every tile. Default: every layer with geometry.
    zooms : (int, int) or str
        Zoom range, inclusive (``(10, 17)`` or ``"10-17"``).
    overwrite : bool
        Replace an existing ``out``.
    progress : bool
        Show a progress bar over the tiles.
    partition_tiles : int
        Candidate tiles per partition (:func:`plan_tiles`; does not change the output).

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        Bad format or output path, or no tile holds a feature.
    LayerNotFound, TileOutOfRange
        Unknown layer or layer without geometry; bad zoom range.
    """
    job = prepare_tiles(service, out, format=format, layers=layers, zooms=zooms,
                        overwrite=overwrite)
    plan = plan_tiles(job.projected, job.zooms, partition_tiles=partition_tiles)

    def tiles() -> Iterator[tuple[int, bytes]]:
        with tqdm(total=sum(len(p) for p in plan), desc="tiles", unit="tile",
                  disable=not progress, leave=False) as bar:
            for part in plan:
                yield from encode_partition(job.projected, part)
                bar.update(len(part))

    return write_archive(job, tiles())


# -- vector files ---------------------------------------------------------------------------

def _frame(service: LayerService, name: str) -> Any:
    gdf = service.data(name)
    # edits leave numbers in object columns: give them back their type (else GPKG writes text)
    objects = [c for c in gdf.columns if gdf[c].dtype == object and c != gdf.geometry.name]
    if objects:
        gdf = gdf.copy()
        gdf[objects] = gdf[objects].infer_objects()
    if gdf.index.name is None or gdf.index.name in gdf.columns:
        gdf = gdf.rename_axis("fid" if "fid" not in gdf.columns else "_fid")
    return gdf


def export_features(service: LayerService, out: str | Path, *, format: str = "gpkg",
                    layers: Sequence[str] | None = None, overwrite: bool = False,
                    progress: bool = True) -> ExportResult:
    """Write every feature and column of ``layers`` to GeoPackage or GeoParquet.

    GeoPackage: one table per layer in ``out``. GeoParquet (1.1, zstd, with a bbox
    covering column for spatial filters): with one layer, ``out`` is the file; with
    several, ``out`` is a directory holding ``<layer>.parquet`` for each. The feature id
    (the layer's index) is kept as a column named after the index; in GeoPackage an
    integer ``fid`` index becomes the table's FID.

    Parameters
    ----------
    service : LayerService
        The city's layer service (current layers, edits included).
    out : str or Path
        File (or directory, see above).
    format : {"gpkg", "geoparquet"}
        Output format.
    layers : sequence of str, optional
        Default: every layer with geometry.
    overwrite : bool
        Replace an existing ``out``.
    progress : bool
        Show a progress bar over the layers.

    Returns
    -------
    ExportResult
    """
    fmt = _format(format)
    if fmt not in FEATURE_FORMATS:
        raise ExportError(f"{fmt.value} is not a vector file format (gpkg, geoparquet)")
    out = Path(out)
    infos = exportable_layers(service, layers, tiles=False)
    _prepare_out(out, overwrite=overwrite)
    start = time.perf_counter()
    features = 0
    several = fmt is ExportFormat.geoparquet and len(infos) > 1
    with _atomic_path(out, directory=several) as tmp:
        for info in tqdm(infos, desc="layers", unit="layer", disable=not progress, leave=False):
            gdf = _frame(service, info.name)
            features += len(gdf)
            if fmt is ExportFormat.gpkg:
                gdf.to_file(tmp, layer=info.name, driver="GPKG", engine="pyogrio", index=True)
            else:
                target = tmp / f"{info.name}.parquet" if several else tmp
                gdf.to_parquet(target, index=True, compression="zstd", schema_version="1.1.0",
                               write_covering_bbox=True)
    files = sorted(out.glob("*.parquet")) if several else [out]
    return ExportResult(out, fmt.value, [i.name for i in infos], None, 0, features, _size(out),
                        time.perf_counter() - start, files)


# -- one entry point -------------------------------------------------------------------------

def _format(format: str | ExportFormat) -> ExportFormat:
    try:
        return ExportFormat(getattr(format, "value", format))
    except ValueError:
        raise ExportError(f"unknown export format {format!r}: choose one of "
                          + ", ".join(f.value for f in ExportFormat)) from None


def export_city(city: Any, out: str | Path, *, format: str = "pmtiles",
                layers: Sequence[str] | str | None = None,
                zooms: tuple[int, int] | str = DEFAULT_ZOOMS, overwrite: bool = False,
                progress: bool = True) -> ExportResult:
    """Export a city's layers as a tile archive or vector file (what ``twin export`` runs).

    Parameters
    ----------
    city : City
        The twin (its ``layer_service`` is read).
    out : str or Path
        Output file (a directory for several layers in GeoParquet).
    format : {"pmtiles", "mbtiles", "geoparquet", "gpkg"}
        Output format.
    layers : sequence of str or str, optional
        Layers (``"roads,pois"`` or a list). Default: every layer with geometry.
    zooms : (int, int) or str
        Zoom range of a tile archive (ignored for vector files).
    overwrite : bool
        Replace an existing ``out``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ExportResult
    """
    fmt = _format(format)
    names = parse_layers(layers)
    if fmt in TILE_FORMATS:
        return export_tiles(city.layer_service, out, format=fmt, layers=names, zooms=zooms,
                            overwrite=overwrite, progress=progress)
    return export_features(city.layer_service, out, format=fmt, layers=names,
                           overwrite=overwrite, progress=progress)
