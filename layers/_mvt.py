"""A small, fast MVT 2.1 writer: attributes pre-tabled per layer, geometry commands in numpy.

``mapbox-vector-tile`` encodes attributes and geometry per feature in Python, which
dominates tile time. Here each layer's attribute values are tabled once (per version):
a tile only remaps the value ids it uses. Geometry is clipped, simplified and mapped to
tile coordinates by the caller (shapely, vectorized); this module writes the commands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2 as pb

__all__ = ["AttributeTable", "add_layer", "new_tile"]

_MOVE, _LINE, _CLOSE = 1, 2, 7
#: MVT geometry type by shapely type id (Point, LineString, LinearRing, Polygon, Multi*)
_TYPE_BY_ID = np.array([1, 2, 2, 3, 1, 2, 3, 0])


def _value(v: object) -> pb.tile.value:
    out = pb.tile.value()
    if isinstance(v, bool | np.bool_):
        out.bool_value = bool(v)
    elif isinstance(v, int | np.integer):
        if int(v) < 0:
            out.sint_value = int(v)
        else:
            out.uint_value = int(v)
    elif isinstance(v, float | np.floating):
        out.double_value = float(v)
    else:
        out.string_value = str(v)
    return out


@dataclass
class AttributeTable:
    """Keys, distinct values and per-feature tag arrays of a layer."""

    keys: list[str]
    values: list[pb.tile.value]
    tags: list[np.ndarray]

    @classmethod
    def from_frame(cls, props: pd.DataFrame) -> AttributeTable:
        """Table the non-null attribute values of every feature."""
        keys = [str(c) for c in props.columns]
        values: list[pb.tile.value] = []
        codes = np.full((len(props), len(keys)), -1, dtype=np.int64)
        for k, col in enumerate(props.columns):
            series = props[col]
            notna = series.notna().to_numpy()
            if not notna.any():
                continue
            ids, uniques = pd.factorize(series[notna], sort=False)
            codes[notna, k] = ids + len(values)
            values.extend(_value(u.item() if hasattr(u, "item") else u) for u in uniques)
        key_idx = np.arange(len(keys))
        tags = [np.column_stack([key_idx[row >= 0], row[row >= 0]]).ravel() for row in codes]
        return cls(keys, values, tags)


def _zigzag(a: np.ndarray) -> np.ndarray:
    return (a << 1) ^ (a >> 63)


def _cmd(op: int, count: int) -> int:
    return (op & 0x7) | (count << 3)


def _line_commands(xy: np.ndarray, cursor: np.ndarray, *, ring: bool) -> list[int]:
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
    xy = xy[keep]
    if ring:
        if len(xy) > 1 and (xy[0] == xy[-1]).all():
            xy = xy[:-1]
        if len(xy) < 3:
            return []
    elif len(xy) < 2:
        return []
    deltas = np.diff(np.vstack([cursor, xy]), axis=0)
    z = _zigzag(deltas).ravel().tolist()
    cursor[:] = xy[-1]
    out = [_cmd(_MOVE, 1), *z[:2], _cmd(_LINE, len(xy) - 1), *z[2:]]
    if ring:
        out.append(_cmd(_CLOSE, 1))
    return out


def _signed_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum() / 2)


def _geometry_commands(geom: shapely.Geometry) -> list[int]:
    cursor = np.zeros(2, dtype=np.int64)
    kind = geom.geom_type
    if kind in ("Point", "MultiPoint"):
        pts = shapely.get_coordinates(geom).astype(np.int64)
        deltas = np.diff(np.vstack([cursor, pts]), axis=0)
        return [_cmd(_MOVE, len(pts)), *_zigzag(deltas).ravel().tolist()]
    out: list[int] = []
    if kind in ("LineString", "MultiLineString"):
        for part in getattr(geom, "geoms", [geom]):
            out.extend(_line_commands(shapely.get_coordinates(part).astype(np.int64), cursor,
                                      ring=False))
        return out
    for poly in getattr(geom, "geoms", [geom]):
        rings = [poly.exterior, *poly.interiors]
        for i, ring in enumerate(rings):
            xy = shapely.get_coordinates(ring).astype(np.int64)
            area = _signed_area(xy)
            if area == 0:
                if i == 0:
                    break  # a collapsed exterior: drop the polygon
                continue
            # exterior clockwise on screen (y down) = positive area; holes the other way
            if (area > 0) != (i == 0):
                xy = xy[::-1]
            out.extend(_line_commands(xy, cursor, ring=True))
    return out


def new_tile() -> pb.tile:
    """An empty tile message."""
    return pb.tile()


def _point_layer_commands(geoms: np.ndarray) -> list[np.ndarray] | None:
    """Commands of a layer of single Points at once; None if other types are present."""
    if not (shapely.get_type_id(geoms) == 0).all():
        return None
    xy = _zigzag(shapely.get_coordinates(geoms).astype(np.int64))
    return list(np.column_stack([np.full(len(xy), _cmd(_MOVE, 1)), xy]))


def _line_layer_commands(geoms: np.ndarray) -> list[np.ndarray] | None:
    """Commands of every (Multi)LineString at once (numpy); None if other types are present."""
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (1, 5)).all():
        return None
    parts, part_feature = shapely.get_parts(geoms, return_index=True)
    coords, pidx = shapely.get_coordinates(parts, return_index=True)
    coords = coords.astype(np.int64)
    dup = np.zeros(len(coords), dtype=bool)
    dup[1:] = (pidx[1:] == pidx[:-1]) & (coords[1:] == coords[:-1]).all(axis=1)
    coords, pidx = coords[~dup], pidx[~dup]
    counts = np.bincount(pidx, minlength=len(parts))
    keep = counts[pidx] >= 2
    coords, pidx = coords[keep], pidx[keep]
    feature = part_feature[pidx]
    prev = np.empty_like(coords)
    prev[1:] = coords[:-1]
    first_in_feature = np.ones(len(coords), dtype=bool)
    first_in_feature[1:] = feature[1:] != feature[:-1]
    prev[first_in_feature] = 0
    flat = _zigzag(coords - prev).ravel()
    part_start = np.flatnonzero(np.r_[True, pidx[1:] != pidx[:-1]]) if len(pidx) else np.array([], int)
    n_points = counts[pidx[part_start]] if len(part_start) else np.array([], int)
    positions = np.concatenate([2 * part_start, 2 * part_start + 2])
    values = np.concatenate([np.full(len(part_start), _cmd(_MOVE, 1)),
                             (_LINE & 0x7) | ((n_points - 1) << 3)])
    order = np.argsort(positions, kind="stable")
    out = np.insert(flat, positions[order], values[order])
    # feature of every output integer, to split per feature
    owner = np.repeat(feature, 2)
    owner = np.insert(owner, positions[order], feature[part_start][order % len(part_start)]
                      if len(part_start) else [])
    bounds = np.searchsorted(owner, np.arange(len(geoms) + 1))
    return [out[bounds[i]:bounds[i + 1]] for i in range(len(geoms))]


def add_layer(tile: pb.tile, name: str, extent: int, table: AttributeTable,
              rows: np.ndarray, geoms: np.ndarray, ids: np.ndarray) -> int:
    """Append a layer of features (tile-coordinate geometries) to ``tile``.

    Returns
    -------
    int
        Number of features written.
    """
    present = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    rows, geoms, ids = rows[present], geoms[present], ids[present]
    commands = (_point_layer_commands(geoms) or _line_layer_commands(geoms)) if len(geoms) else []
    if commands is None:
        commands = [np.asarray(_geometry_commands(g), dtype=np.int64) for g in geoms]
    nonempty = np.array([len(c) > 0 for c in commands], dtype=bool)
    if not nonempty.any():
        return 0
    rows, geoms, ids = rows[nonempty], geoms[nonempty], ids[nonempty]
    commands = [c for c, ok in zip(commands, nonempty, strict=True) if ok]
    tags = [table.tags[r] for r in rows]
    lengths = np.array([len(t) for t in tags])
    flat = np.concatenate(tags) if lengths.sum() else np.zeros(0, dtype=np.int64)
    used, local = np.unique(flat[1::2], return_inverse=True)
    flat[1::2] = local
    layer = tile.layers.add()
    layer.version = 2
    layer.name = name
    layer.extent = extent
    layer.keys.extend(table.keys)
    layer.values.extend(table.values[int(u)] for u in used)
    splits = np.split(flat, np.cumsum(lengths)[:-1])
    types = _TYPE_BY_ID[shapely.get_type_id(geoms)].tolist()
    for fid, kind, tag, cmd in zip(ids.tolist(), types, splits, commands, strict=True):
        feature = layer.features.add()
        feature.id = fid
        feature.type = kind
        feature.tags.extend(tag.tolist())
        feature.geometry.extend(cmd.tolist())
    return len(commands)
