"""Versioned edits of a layer (时空): create / update / delete, as-of reads, change log.

Every accepted edit is written durably to a change log before it is applied, so nothing
written is lost across restarts: opening the layer replays the log. The log is a
:class:`ChangeLog`: a JSON-lines file (:class:`FileLog`, embedded bundles) or a table in
PostGIS (:class:`layers.postgis.PostgisEditLog`). Several processes (server workers) may
share one log: edits hold its exclusive lock and catch up first, and readers call
:meth:`LayerEditor.sync` to see what the others wrote. Each
feature carries a version; an update or delete must name the version it was based on
(optimistic concurrency), and a stale one raises :class:`VersionConflict`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from layers._geojson import geometry_from_geojson, geometry_to_geojson
from layers.errors import FeatureNotFound, InvalidFeature, InvalidQuery, VersionConflict
from layers.registry import Layer, LayerInfo

__all__ = ["Change", "ChangeLog", "FileLog", "LayerEditor", "parse_time"]

logger = logging.getLogger(__name__)

_GEOMETRY_FAMILY = {"Point": {"Point", "MultiPoint"},
                    "LineString": {"LineString", "MultiLineString"},
                    "Polygon": {"Polygon", "MultiPolygon"}}


def parse_time(value: str | dt.datetime) -> dt.datetime:
    """An aware datetime from ISO 8601 text (naive times are UTC).

    Raises
    ------
    InvalidQuery
        Not an ISO 8601 time.
    """
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidQuery(f"not an ISO 8601 time: {value[:40]!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass
class Change:
    """One accepted edit."""

    layer_version: int
    time: str
    op: str
    fid: Any
    feature_version: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class ChangeLog(Protocol):
    """Where a layer's accepted edits are kept, shared by every process serving the layer."""

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the log's lock across processes (edits happen inside)."""

    def read_new(self) -> list[dict[str, Any]]:
        """The complete entries appended since this handle last read, oldest first."""

    def append(self, entry: dict[str, Any]) -> None:
        """Store one entry durably before returning (the caller holds :meth:`exclusive`)."""

    def has_new(self) -> bool:
        """Cheap check whether others appended entries this handle has not read."""


class FileLog:
    """A JSON-lines change log, fsynced per entry, shared through ``flock``.

    Parameters
    ----------
    path : Path
        The log file (``<layer>.jsonl``); the lock is ``<layer>.lock`` beside it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0  # bytes read so far

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Exclusive ``flock`` on the lock file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def read_new(self) -> list[dict[str, Any]]:
        """Complete lines past the offset (a torn last line is left for later)."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                tail = fh.read()
        except FileNotFoundError:
            return []
        entries = []
        for raw in tail.split(b"\n")[:-1]:
            self._offset += len(raw) + 1
            if not raw.strip():
                continue
            try:
                entries.append(json.loads(raw))
            except ValueError:
                logger.warning("skipping a corrupt line in %s", self.path)
        return entries

    def append(self, entry: dict[str, Any]) -> None:
        """Append and fsync one line, dropping a torn line a crash may have left."""
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode()
        with self.path.open("ab") as fh:
            if fh.tell() > self._offset:
                fh.truncate(self._offset)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._offset += len(line)

    def has_new(self) -> bool:
        """Whether the file grew past what was read."""
        try:
            return self.path.stat().st_size != self._offset
        except FileNotFoundError:
            return False


class LayerEditor:
    """Edits of one layer, with per-feature versions, a durable log and as-of reads.

    Parameters
    ----------
    layer : Layer
        The layer (its ``data`` is replaced copy-on-write at each edit).
    log_path : Path, optional
        JSON-lines change log (a :class:`FileLog`); replayed on open.
    log : ChangeLog, optional
        Another change log (PostGIS); replayed on open.
    """

    def __init__(self, layer: Layer, log_path: Path | None = None, *,
                 log: ChangeLog | None = None) -> None:
        self.layer = layer
        self.log: ChangeLog | None = log if log is not None else (
            FileLog(log_path) if log_path is not None else None)
        self.changes: list[Change] = []
        self._versions: dict[Any, int] = {}
        self._lock = threading.Lock()
        self._base_version = layer.info.version
        if self.log is not None:
            self._catch_up()

    # -- state -------------------------------------------------------------------
    @property
    def info(self) -> LayerInfo:
        """The layer's metadata."""
        return self.layer.info

    def feature_version(self, fid: Any) -> int:
        """Current version of a feature (1 for features never edited)."""
        return self._versions.get(fid, 1)

    def _fields(self) -> dict[str, str]:
        return self.layer.info.fields

    # -- validation ----------------------------------------------------------------
    def _geometry(self, geojson: Any) -> shapely.Geometry:
        geom = geometry_from_geojson(geojson, error=InvalidFeature)
        allowed = _GEOMETRY_FAMILY.get(self.layer.info.geometry_type)
        if allowed is not None and geom.geom_type not in allowed:
            raise InvalidFeature(f"layer {self.layer.name!r} holds {self.layer.info.geometry_type}"
                                 f" features, not {geom.geom_type}")
        return geom

    def _properties(self, props: Any) -> dict[str, Any]:
        if not isinstance(props, dict):
            raise InvalidFeature("properties must be an object")
        fields = self._fields()
        out = {}
        for key, value in props.items():
            if key not in fields:
                raise InvalidFeature(f"unknown property {key!r}; fields: {', '.join(fields)}")
            kind = fields[key]
            if value is None:
                out[key] = None
            elif kind == "Number" and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidFeature(f"property {key!r} must be a number")
            elif kind == "Boolean" and not isinstance(value, bool):
                raise InvalidFeature(f"property {key!r} must be true or false")
            elif kind == "String" and not isinstance(value, str):
                raise InvalidFeature(f"property {key!r} must be a string")
            elif isinstance(value, str) and "\x00" in value:
                raise InvalidFeature(f"property {key!r} contains a NUL character")
            else:
                out[key] = value
        return out

    def _snapshot(self, fid: Any) -> dict[str, Any]:
        data = self.layer.data
        row = data.loc[fid]
        geom = row[data.geometry.name]
        props = {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
                 for k, v in row.items() if k != data.geometry.name}
        return {"properties": props, "geometry": geometry_to_geojson(geom)}

    # -- edits ------------------------------------------------------------------------
    def _next_fid(self) -> Any:
        """A fresh id, never one a deleted feature had (so a stale version cannot match)."""
        index = self.layer.data.index
        if pd.api.types.is_integer_dtype(index.dtype) or len(index) == 0:
            used = [int(index.max())] if len(index) else []
            used += [int(c.fid) for c in self.changes
                     if isinstance(c.fid, int | np.integer) and not isinstance(c.fid, bool)]
            return max(used) + 1 if used else 0
        taken = set(index) | {c.fid for c in self.changes}
        n = len(self.changes) + 1
        while f"new-{n}" in taken:
            n += 1
        return f"new-{n}"

    def create(self, properties: dict[str, Any], geometry: dict[str, Any]) -> Change:
        """Add a feature; returns the change (with the new ``fid``)."""
        props, geom = self._properties(properties), self._geometry(geometry)
        with self._exclusive():
            fid = self._next_fid()
            after = {"properties": props, "geometry": shapely.geometry.mapping(geom)}
            return self._commit("create", fid, 1, None, after)

    def update(self, fid: Any, *, expected_version: int, properties: dict[str, Any] | None = None,
               geometry: dict[str, Any] | None = None) -> Change:
        """Change a feature's properties and/or geometry if it is still at ``expected_version``."""
        props = self._properties(properties or {})
        geom = self._geometry(geometry) if geometry is not None else None
        with self._exclusive():
            fid = self._existing(fid)
            self._check_version(fid, expected_version)
            before = self._snapshot(fid)
            after = {"properties": {**before["properties"], **props},
                     "geometry": shapely.geometry.mapping(geom) if geom is not None
                     else before["geometry"]}
            return self._commit("update", fid, expected_version + 1, before, after)

    def delete(self, fid: Any, *, expected_version: int) -> Change:
        """Remove a feature if it is still at ``expected_version``."""
        with self._exclusive():
            fid = self._existing(fid)
            self._check_version(fid, expected_version)
            before = self._snapshot(fid)
            return self._commit("delete", fid, expected_version + 1, before, None)

    def _existing(self, fid: Any) -> Any:
        index = self.layer.data.index
        candidates = [fid]
        if isinstance(fid, str) and fid.lstrip("-").isdigit():
            candidates.append(int(fid))
        for c in candidates:
            if c in index:
                return int(c) if isinstance(c, np.integer) else c
        raise FeatureNotFound(f"no feature {fid!r} in layer {self.layer.name!r}")

    def _check_version(self, fid: Any, expected: int) -> None:
        current = self.feature_version(fid)
        if expected != current:
            raise VersionConflict(
                f"feature {fid!r} of {self.layer.name!r} is at version {current}, not {expected}:"
                " reload it and apply your edit again", current_version=current)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold this layer's edit lock, across threads and processes, with the log caught up.

        Several server processes may edit one layer: each holds the log's exclusive lock and
        first applies what the others appended, so versions are checked against the latest
        state and ids are never handed out twice.
        """
        with self._lock:
            if self.log is None:
                yield
                return
            with self.log.exclusive():
                self._catch_up()
                yield

    def _commit(self, op: str, fid: Any, version: int, before: dict | None,
                after: dict | None) -> Change:
        change = Change(layer_version=self.layer.info.version + 1, time=_now(), op=op, fid=fid,
                        feature_version=version, before=before, after=after)
        if self.log is not None:  # durable first: a failed write is never applied
            self.log.append(json.loads(json.dumps(asdict(change), ensure_ascii=False,
                                                  default=str)))
        self._apply(change)
        return change

    def _apply(self, change: Change) -> None:
        data = self.layer.data
        if change.op == "delete":  # already absent when replayed over a written-through table
            data = data.drop(index=change.fid, errors="ignore")
        else:
            row = _row_frame(change.fid, change.after, data)
            data = pd.concat([data.drop(index=change.fid, errors="ignore"), row])
            data = gpd.GeoDataFrame(data, geometry=self.layer.data.geometry.name, crs=4326)
        self.layer.data = data
        self._versions[change.fid] = change.feature_version
        self.layer.info.version = change.layer_version
        self.layer.info.updated = change.time
        self.changes.append(change)

    def sync(self) -> bool:
        """Apply the edits other processes appended to the log; True when there were any."""
        if self.log is None or not self.log.has_new():
            return False
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> bool:
        """Apply the log's entries this editor has not seen (the caller holds the lock)."""
        assert self.log is not None
        applied = False
        for entry in self.log.read_new():
            try:
                change = Change(**entry)
            except TypeError:
                logger.warning("skipping a malformed change of layer %s", self.layer.name)
                continue
            if isinstance(change.fid, str) and change.fid.isdigit() and \
                    pd.api.types.is_integer_dtype(self.layer.data.index.dtype):
                change.fid = int(change.fid)
            self._apply(change)
            applied = True
        return applied

    # -- reads ----------------------------------------------------------------------
    def changes_since(self, since: str | dt.datetime | None = None) -> list[Change]:
        """Changes after ``since`` (all when None)."""
        if since is None:
            return list(self.changes)
        when = parse_time(since)
        return [c for c in self.changes if parse_time(c.time) > when]

    def as_of(self, when: str | dt.datetime) -> gpd.GeoDataFrame:
        """The layer as it was at ``when`` (undoing later changes)."""
        when = parse_time(when)
        later = [c for c in self.changes if parse_time(c.time) > when]
        data = self.layer.data
        if not later:
            return data
        geometry = data.geometry.name
        for change in reversed(later):
            data = data.drop(index=change.fid, errors="ignore")
            if change.before is not None:
                data = pd.concat([data, _row_frame(change.fid, change.before, data)])
        return gpd.GeoDataFrame(data, geometry=geometry, crs=4326).sort_index()

    def version_as_of(self, when: str | dt.datetime) -> int:
        """Layer version at ``when``."""
        when = parse_time(when)
        past = [c.layer_version for c in self.changes if parse_time(c.time) <= when]
        return past[-1] if past else self._base_version


def _row_frame(fid: Any, snapshot: dict, like: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geom = shapely.geometry.shape(snapshot["geometry"]) if snapshot["geometry"] else None
    row = {k: snapshot["properties"].get(k) for k in like.columns if k != like.geometry.name}
    frame = gpd.GeoDataFrame([row], geometry=[geom], crs=4326,
                             index=pd.Index([fid], name=like.index.name))
    frame = frame.rename_geometry(like.geometry.name) if like.geometry.name != "geometry" else frame
    for col in row:
        try:
            frame[col] = frame[col].astype(like[col].dtype)
        except (TypeError, ValueError):
            pass
    return frame
