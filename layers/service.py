"""The layer service: queries, versioned edits and tiles over a layer registry."""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
import shapely.errors
import shapely.geometry
from sqlalchemy.engine import Engine

from layers.errors import FeatureNotFound, InvalidQuery, LayerNotFound
from layers.postgis import PostgisEditLog, edited_layers, ensure_edits_table, latest_edit_seq
from layers.postgis_tiles import postgis_tile
from layers.queries import Query, feature_json, run_query, to_feature_collection
from layers.registry import LayerInfo, LayerRegistry
from layers.tiles import BUFFER, EXTENT, ProjectedLayer, TileCache, check_tile, encode_tile, lonlat_bounds
from layers.versions import Change, ChangeLog, FileLog, LayerEditor, parse_time

__all__ = ["LayerService", "Tile", "MAX_COMPOSITE"]

MAX_COMPOSITE = 8


def _change_bounds(change: Change) -> tuple[float, ...] | None:
    """Lon/lat bounds of a change's geometry before and after; None if it cannot be read."""
    try:
        shapes = [shapely.geometry.shape(side["geometry"]) for side in (change.before, change.after)
                  if side and side.get("geometry")]
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        return None
    if not shapes:
        return (0.0, 0.0, -1.0, -1.0)  # no geometry: touches no tile
    return tuple(shapely.total_bounds(shapes))


def _overlaps(box: tuple[float, ...], bounds: tuple[float, ...] | None) -> bool:
    if bounds is None:
        return True
    return not (bounds[2] < box[0] or bounds[0] > box[2] or bounds[3] < box[1] or bounds[1] > box[3])


class Tile:
    """An encoded tile with its ETag."""

    __slots__ = ("data", "etag")

    def __init__(self, data: bytes, etag: str | None = None) -> None:
        self.data = data
        self.etag = etag or '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


class LayerService:
    """Queries, edits and vector tiles of a city's layers.

    Parameters
    ----------
    registry : LayerRegistry
        The layers.
    edits_dir : Path, optional
        Where each layer's change log lives (``<edits_dir>/<layer>.jsonl``).
    postgis : (Engine, schema), optional
        A twin on PostGIS: edits are stored in its ``_edits`` table and written through to
        the layer tables (not to ``edits_dir``); current tiles are made by PostGIS
        ``ST_AsMVT``, as-of tiles from the versioned features in memory.
    """

    def __init__(self, registry: LayerRegistry, *, edits_dir: Path | None = None,
                 postgis: tuple[Engine, str] | None = None) -> None:
        self.registry = registry
        self.edits_dir = edits_dir
        self.postgis = postgis
        self.cache = TileCache()
        self._editors: dict[str, LayerEditor] = {}
        self._projected: dict[str, ProjectedLayer] = {}
        self._projecting: dict[str, threading.Lock] = {}
        self._touched: dict[tuple[str, int], tuple[float, ...] | None] = {}  # edit -> bounds
        self._lock = threading.Lock()
        self._polled_seq: tuple[int, int] | None = None
        #: Per layer, checks of an edit's properties beyond the field types (e.g. the
        #: closure window of a road): ``check(patch, current)`` raises InvalidFeature;
        #: ``current`` is the feature's properties before an update (None on create).
        self.validators: dict[str, Callable[[dict[str, Any], dict[str, Any] | None], None]] = {}
        if postgis is not None:
            ensure_edits_table(*postgis)
            for name in edited_layers(*postgis):
                if name in registry:
                    self.editor(name)
        elif edits_dir is not None and edits_dir.is_dir():
            for log in edits_dir.glob("*.jsonl"):
                if log.stem in registry:
                    self.editor(log.stem)

    # -- layers --------------------------------------------------------------------
    def sync(self, name: str) -> None:
        """See the edits other processes (server workers) logged for ``name`` since."""
        editor = self._editors.get(name)
        if editor is not None:
            editor.sync()
        elif name in self.registry and self._has_log(name):
            self.editor(name)  # opening replays the log

    def poll(self, names: Sequence[str]) -> None:
        """See the edits other processes logged for the layers ``names``, cheaply.

        On PostGIS one primary-key lookup tells whether anything was written since the
        last poll (nothing more is read when not); embedded logs are checked with a
        ``stat`` each.
        """
        if self.postgis is not None:
            seq = latest_edit_seq(*self.postgis)
            if seq == self._polled_seq:
                return
            self._polled_seq = seq
        for name in names:
            self.sync(name)

    def _has_log(self, name: str) -> bool:
        if self.postgis is not None:
            return True  # the editor's log is the shared _edits table
        return self.edits_dir is not None and (self.edits_dir / f"{name}.jsonl").is_file()

    def _log(self, name: str) -> ChangeLog | None:
        if self.postgis is not None:
            return PostgisEditLog(*self.postgis, name)
        if self.edits_dir is not None:
            return FileLog(self.edits_dir / f"{name}.jsonl")
        return None

    def info(self, name: str) -> LayerInfo:
        """Metadata of a layer (:class:`LayerNotFound` if unknown)."""
        self.sync(name)
        return self.registry[name].info

    def editor(self, name: str) -> LayerEditor:
        """The (lazily opened) editor of a layer."""
        with self._lock:
            if name not in self._editors:
                self._editors[name] = LayerEditor(self.registry[name], log=self._log(name))
            return self._editors[name]

    def data(self, name: str, *, as_of: str | None = None) -> gpd.GeoDataFrame:
        """A layer's features, now or as of a time."""
        layer = self.registry[name]
        self.sync(name)
        if as_of is None:
            return layer.data
        return self.editor(name).as_of(as_of)

    # -- queries ---------------------------------------------------------------------
    def features(self, name: str, query: Query, *, as_of: str | None = None) -> dict[str, Any]:
        """A paged GeoJSON FeatureCollection of the matching features."""
        page, total = run_query(self.data(name, as_of=as_of), query)
        return to_feature_collection(page, total, limit=query.limit, offset=query.offset)

    def query(self, name: str, query: Query, *, as_of: str | None = None) -> gpd.GeoDataFrame:
        """The matching features as a GeoDataFrame (one page)."""
        return run_query(self.data(name, as_of=as_of), query)[0]

    def feature(self, name: str, fid: str, *, as_of: str | None = None) -> dict[str, Any]:
        """One feature as GeoJSON, with its version."""
        data = self.data(name, as_of=as_of)
        key: Any = fid
        if key not in data.index and fid.lstrip("-").isdigit():
            key = int(fid)
        if key not in data.index:
            raise FeatureNotFound(f"no feature {fid!r} in layer {name!r}")
        feature = feature_json(key, data.loc[key], data.geometry.name)
        feature["properties"]["_version"] = self.editor(name).feature_version(key)
        return feature

    # -- edits ------------------------------------------------------------------------
    def create(self, name: str, feature: dict[str, Any]) -> Change:
        """Add a GeoJSON feature."""
        if not isinstance(feature, dict):
            raise InvalidQuery("body must be a GeoJSON Feature")
        self._validate(name, feature.get("properties") or {})
        return self.editor(name).create(feature.get("properties") or {}, feature.get("geometry"))

    def update(self, name: str, fid: str, feature: dict[str, Any], *, version: int) -> Change:
        """Patch a feature's properties and/or geometry at ``version``."""
        self._validate(name, feature.get("properties") or {}, fid=fid)
        return self.editor(name).update(fid, expected_version=version,
                                        properties=feature.get("properties") or {},
                                        geometry=feature.get("geometry"))

    def _validate(self, name: str, properties: Any, *, fid: str | None = None) -> None:
        check = self.validators.get(name)
        if check is None or not isinstance(properties, dict):
            return
        check(properties, None if fid is None else self.feature(name, fid)["properties"])

    def delete(self, name: str, fid: str, *, version: int) -> Change:
        """Delete a feature at ``version``."""
        return self.editor(name).delete(fid, expected_version=version)

    def changes(self, name: str, since: str | None = None) -> list[Change]:
        """Changes of a layer since a time."""
        self.registry[name]
        self.sync(name)
        return self.editor(name).changes_since(since)

    # -- tiles ----------------------------------------------------------------------
    def _projected_layer(self, name: str) -> ProjectedLayer:
        """The layer projected for tiling, rebuilt once per version (one thread builds it,
        concurrent requests for the same layer wait for that one; other layers go on)."""
        layer = self.registry[name]
        with self._lock:
            cached = self._projected.get(name)
            build_lock = self._projecting.setdefault(name, threading.Lock())
        if cached is not None and cached.version == layer.info.version:
            return cached
        with build_lock:
            with self._lock:
                cached = self._projected.get(name)
            if cached is None or cached.version != layer.info.version:
                version = layer.info.version  # read before the data: the label is never newer
                cached = ProjectedLayer.from_gdf(name, layer.data, version, previous=cached,
                                                 minzoom=layer.info.minzoom)
                with self._lock:
                    self._projected[name] = cached
        return cached

    def warm(self) -> None:
        """Project every layer with geometry for tiling now, not at its first tile."""
        for name, layer in self.registry.items():
            if layer.info.bounds is not None:
                self._projected_layer(name)

    def tile(self, names: Sequence[str], z: int, x: int, y: int, *,
             as_of: str | None = None) -> Tile:
        """An MVT tile of one or more layers (composite), cached by layer versions.

        Raises
        ------
        LayerNotFound, TileOutOfRange
        """
        if not names or len(names) > MAX_COMPOSITE:
            raise InvalidQuery(f"a tile holds 1 to {MAX_COMPOSITE} layers")
        if as_of is None:
            hit = self.cached_tile(names, z, x, y)
            if hit is not None:
                return hit
        infos = [self.info(n) for n in names]
        if any(i.bounds is None for i in infos):
            bad = [i.name for i in infos if i.bounds is None]
            raise LayerNotFound(f"layers without geometry cannot be tiled: {', '.join(bad)}")
        check_tile(z, x, y)
        when = parse_time(as_of).isoformat() if as_of else None
        versions = tuple(self.editor(n).version_as_of(when) if when else i.version
                         for n, i in zip(names, infos, strict=True))
        key = (tuple(names), versions, z, x, y)
        cached = self.cache.get(key) or self._reuse(key)
        if cached is not None:
            return cached
        if self.postgis is not None and not when:
            engine, schema = self.postgis
            data = postgis_tile(engine, schema, infos, z, x, y)
        elif when:
            layers = [ProjectedLayer.from_gdf(n, self.editor(n).as_of(when), v, minzoom=i.minzoom)
                      for n, v, i in zip(names, versions, infos, strict=True)]
            data = encode_tile(layers, z, x, y)
        else:
            data = encode_tile([self._projected_layer(n) for n in names], z, x, y)
        tile = Tile(data)
        self.cache.put(key, tile)
        return tile

    def cached_tile(self, names: Sequence[str], z: int, x: int, y: int) -> Tile | None:
        """The current tile from the cache, or None (no encoding, no validation beyond keys)."""
        try:
            for n in names:
                self.sync(n)
            versions = tuple(self.registry[n].info.version for n in names)
        except LayerNotFound:
            return None
        key = (tuple(names), versions, z, x, y)
        return self.cache.get(key) or self._reuse(key)

    def _reuse(self, key: tuple) -> Tile | None:
        """A tile cached before edits that did not touch it, stored under ``key``."""
        names, versions, z, x, y = key

        def unchanged(old_versions: tuple) -> bool:
            west, south, east, north = lonlat_bounds(z, x, y)
            pad_x, pad_y = (east - west) * 2 * BUFFER / EXTENT, (north - south) * 2 * BUFFER / EXTENT
            box = (west - pad_x, south - pad_y, east + pad_x, north + pad_y)
            for name, old, new in zip(names, old_versions, versions, strict=True):
                if old > new:
                    return False
                if old < new and any(_overlaps(box, bounds)
                                     for bounds in self._edit_bounds(name, old, new)):
                    return False
            return True

        return self.cache.reuse(key, unchanged)

    def _edit_bounds(self, name: str, old: int, new: int) -> list[tuple[float, ...] | None]:
        """Lon/lat bounds touched by each edit of ``name`` after version ``old`` up to ``new``
        (None where unknown, which overlaps every tile)."""
        changes = self.editor(name).changes
        first = bisect.bisect_right(changes, old, key=lambda c: c.layer_version)
        out = []
        for change in changes[first:]:
            if change.layer_version > new:
                break
            key = (name, change.layer_version)
            if key not in self._touched:  # parsed once per edit, not once per tile
                self._touched[key] = _change_bounds(change)
            out.append(self._touched[key])
        return out

    def in_bounds(self, names: Sequence[str], z: int, x: int, y: int) -> bool:
        """Whether the tile touches any of the layers' bounds (buffered by one tile)."""
        west, south, east, north = lonlat_bounds(z, x, y)
        for n in names:
            info = self.info(n)
            if info.bounds is None:
                continue
            minx, miny, maxx, maxy = info.bounds
            if west <= maxx and east >= minx and south <= maxy and north >= miny:
                return True
        return False

    def __contains__(self, name: str) -> bool:
        return name in self.registry

    def require(self, name: str) -> None:
        """Raise :class:`LayerNotFound` unless ``name`` is a layer."""
        if name not in self.registry:
            raise LayerNotFound(f"unknown layer {name!r}; known layers: "
                                f"{', '.join(sorted(self.registry))}")
