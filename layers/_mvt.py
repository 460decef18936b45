"""A fast MVT 2.1 writer: attributes tabled once per layer, the protobuf written in numpy.

A tile's layer message is mostly features, and a feature is nothing but varints::

    features = 2: { id = 1: varint, tags = 2: packed varints, type = 3: varint,
                    geometry = 4: packed varints }

so the features of a layer are written as *one* integer sequence — field keys, lengths,
ids, tags, types and geometry commands of every feature, interleaved — varint-encoded by
numpy in a single pass, with no per-feature Python. Each layer's attribute values are
tabled once per version (serialized value messages, per-feature tags in CSR form); a tile
only remaps the value ids it uses. Geometry is clipped, simplified and mapped to tile
coordinates by the caller (shapely, vectorized); this module writes the commands.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["AttributeTable", "encode_layer", "tile_field"]

_MOVE, _LINE, _CLOSE = 1, 2, 7
#: MVT geometry type by shapely type id (Point, LineString, LinearRing, Polygon, Multi*)
_TYPE_BY_ID = np.array([1, 2, 2, 3, 1, 2, 3, 0])
# protobuf keys (field number << 3 | wire type): varint = 0, length-delimited = 2
_LAYER_NAME, _LAYER_FEATURES, _LAYER_KEYS, _LAYER_VALUES = 0x0A, 0x12, 0x1A, 0x22
_LAYER_EXTENT, _LAYER_VERSION = 0x28, 0x78
_FEATURE_ID, _FEATURE_TAGS, _FEATURE_TYPE, _FEATURE_GEOMETRY = 0x08, 0x12, 0x18, 0x22
_TILE_LAYERS = 0x1A


# -- varints -------------------------------------------------------------------------------
#: the smallest value that needs k + 2 varint bytes, k = 0 … 8
_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def _varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes each unsigned value takes as a protobuf varint (1 to 10)."""
    v = values.astype(np.uint64, copy=False)
    return np.searchsorted(_VARINT_LIMITS, v, side="right") + 1


def _varints(values: np.ndarray) -> bytes:
    """Protobuf varint encoding of every value, concatenated."""
    v = values.astype(np.uint64, copy=False)
    sizes = _varint_sizes(v)
    width = int(sizes.max()) if len(sizes) else 0
    if width <= 1:
        return v.astype(np.uint8).tobytes()
    k = np.arange(width, dtype=np.uint64)
    groups = ((v[:, None] >> (np.uint64(7) * k)) & np.uint64(0x7F)).astype(np.uint8)
    groups[k[None, :].astype(np.int64) < (sizes[:, None] - 1)] |= 0x80
    return groups[k[None, :].astype(np.int64) < sizes[:, None]].tobytes()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(key: int, payload: bytes) -> bytes:
    return bytes([key]) + _varint(len(payload)) + payload


def tile_field(layer: bytes) -> bytes:
    """A layer message as the ``layers`` field of a tile (tiles are concatenations of these)."""
    return _length_delimited(_TILE_LAYERS, layer)


# -- ragged arrays (values of many features, flat, with a length per feature) ---------------
def _interleave(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Concatenate per-feature pieces feature-major: f0 part0, f0 part1, …, f1 part0, …

    Each part is ``(flat values, length per feature)``.
    """
    lengths = np.column_stack([n for _, n in parts])
    offsets = (np.cumsum(lengths.ravel()) - lengths.ravel()).reshape(lengths.shape)
    out = np.empty(int(lengths.sum()), dtype=np.uint64)
    for k, (flat, n) in enumerate(parts):
        if not len(flat):
            continue
        feature = np.repeat(np.arange(len(n)), n)
        within = np.arange(len(flat)) - (np.cumsum(n) - n)[feature]
        out[offsets[feature, k] + within] = flat
    return out


def _gather(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The ragged rows ``flat[starts[i]: starts[i] + lengths[i]]`` of every i, concatenated."""
    if not lengths.sum():
        return flat[:0]
    feature = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(int(lengths.sum())) - (np.cumsum(lengths) - lengths)[feature]
    return flat[starts[feature] + within]


def _sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sum of each feature's run of values."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return np.bincount(owner, weights=values, minlength=len(lengths)).astype(np.int64)


# -- attributes -----------------------------------------------------------------------------
def _value_field(v: object) -> bytes:
    """A ``values`` field of the layer message holding one attribute value.

    Value message fields: string 1, double 3, uint 5, sint 6 (zigzag), bool 7.
    """
    if isinstance(v, bool | np.bool_):
        message = bytes([0x38, int(bool(v))])
    elif isinstance(v, int | np.integer):
        n = int(v)
        message = (b"\x28" + _varint(n)) if n >= 0 else (b"\x30" + _varint((-n << 1) - 1))
    elif isinstance(v, float | np.floating):
        message = b"\x19" + struct.pack("<d", float(v))
    else:
        message = _length_delimited(0x0A, str(v).encode())
    return _length_delimited(_LAYER_VALUES, message)


def _value_fields(uniques: pd.Index | np.ndarray) -> np.ndarray:
    """Serialized ``values`` fields of distinct values (an object array of bytes)."""
    out = np.empty(len(uniques), dtype=object)
    out[:] = [_value_field(u.item() if hasattr(u, "item") else u) for u in uniques]
    return out


def _column_fields(name: str, uniques: pd.Index, memo: dict[str, tuple[Any, pd.Index, np.ndarray]]
                   ) -> np.ndarray:
    """Fields of one column's distinct values, reusing those the memo has for the column.

    Lookups go by the column's dtype too, so a column whose type changed (or an object
    column, where 1, 1.0 and True would compare equal) is serialized afresh.
    """
    cached = memo.get(name)
    if cached is not None and cached[0] == uniques.dtype and uniques.dtype != object:
        _, known, known_fields = cached
        pos = known.get_indexer(uniques)
        fields = np.empty(len(uniques), dtype=object)
        hit = pos >= 0
        fields[hit] = known_fields[pos[hit]]
        if not hit.all():
            fields[~hit] = _value_fields(uniques[~hit])
    else:
        fields = _value_fields(uniques)
    memo[name] = (uniques.dtype, uniques, fields)
    return fields


@dataclass
class AttributeTable:
    """Keys and distinct values (as serialized layer fields), per-feature tags (CSR)."""

    keys: bytes               # every ``keys`` field of the layer message
    values: np.ndarray        # one ``values`` field (bytes) per distinct value
    tags: np.ndarray          # key, value, key, value, … of every feature
    tag_starts: np.ndarray
    tag_lengths: np.ndarray

    @classmethod
    def from_frame(cls, props: pd.DataFrame,
                   memo: dict[str, tuple[Any, pd.Index, np.ndarray]] | None = None
                   ) -> AttributeTable:
        """Table the non-null attribute values of every feature.

        Parameters
        ----------
        props : pandas.DataFrame
            One row per feature, one column per attribute.
        memo : dict, optional
            Serialized distinct values per column, read and updated: passing the memo of a
            layer's previous version makes re-tabling after a small edit cheap.
        """
        memo = {} if memo is None else memo
        keys = [str(c) for c in props.columns]
        parts: list[np.ndarray] = []
        n_values = 0
        codes = np.full((len(props), len(keys)), -1, dtype=np.int64)
        for k, col in enumerate(props.columns):
            series = props[col]
            notna = series.notna().to_numpy()
            if not notna.any():
                continue
            ids, uniques = pd.factorize(series[notna], sort=False)
            codes[notna, k] = ids + n_values
            parts.append(_column_fields(keys[k], pd.Index(uniques), memo))
            n_values += len(uniques)
        present = codes >= 0
        key_idx = np.broadcast_to(np.arange(len(keys)), codes.shape)
        tags = np.column_stack([key_idx[present], codes[present]]).ravel()
        lengths = 2 * present.sum(axis=1)
        key_fields = b"".join(_length_delimited(_LAYER_KEYS, k.encode()) for k in keys)
        value_fields = np.concatenate(parts) if parts else np.empty(0, dtype=object)
        return cls(key_fields, value_fields, tags.astype(np.uint64), np.cumsum(lengths) - lengths,
                   lengths)


# -- geometry commands ----------------------------------------------------------------------
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
    """Commands of one geometry of any type (the general, per-feature path)."""
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


def _point_layer_commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Commands of a layer of single Points at once; None if other types are present."""
    if not (shapely.get_type_id(geoms) == 0).all():
        return None
    xy = _zigzag(shapely.get_coordinates(geoms).astype(np.int64))
    flat = np.column_stack([np.full(len(xy), _cmd(_MOVE, 1)), xy]).ravel()
    return flat, np.full(len(geoms), 3, dtype=np.int64)


def _line_layer_commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
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
    if not len(pidx):
        return np.zeros(0, dtype=np.int64), np.zeros(len(geoms), dtype=np.int64)
    feature = part_feature[pidx]
    prev = np.empty_like(coords)
    prev[1:] = coords[:-1]
    first_in_feature = np.ones(len(coords), dtype=bool)
    first_in_feature[1:] = feature[1:] != feature[:-1]
    prev[first_in_feature] = 0
    flat = _zigzag(coords - prev).ravel()
    part_start = np.flatnonzero(np.r_[True, pidx[1:] != pidx[:-1]])
    n_points = counts[pidx[part_start]]
    positions = np.concatenate([2 * part_start, 2 * part_start + 2])
    values = np.concatenate([np.full(len(part_start), _cmd(_MOVE, 1)),
                             (_LINE & 0x7) | ((n_points - 1) << 3)])
    order = np.argsort(positions, kind="stable")
    out = np.insert(flat, positions[order], values[order])
    # two command integers per part, two coordinates per point, per feature
    lengths = np.bincount(feature, minlength=len(geoms)) * 2
    lengths += np.bincount(part_feature[pidx[part_start]], minlength=len(geoms)) * 2
    return out, lengths


def _layer_commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometry commands of every feature: ``(flat commands, length per feature)``."""
    if not len(geoms):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    fast = _point_layer_commands(geoms) or _line_layer_commands(geoms)
    if fast is not None:
        return fast
    commands = [np.asarray(_geometry_commands(g), dtype=np.int64) for g in geoms]
    lengths = np.array([len(c) for c in commands], dtype=np.int64)
    return (np.concatenate(commands) if lengths.sum() else np.zeros(0, np.int64)), lengths


# -- layers ---------------------------------------------------------------------------------
def encode_layer(name: str, extent: int, table: AttributeTable, rows: np.ndarray,
                 geoms: np.ndarray, ids: np.ndarray) -> tuple[bytes, int]:
    """One MVT layer message of features (tile-coordinate geometries).

    Parameters
    ----------
    name : str
        Layer name.
    extent : int
        Tile extent.
    table : AttributeTable
        The layer's attributes; ``rows`` index it.
    rows, geoms, ids : numpy.ndarray
        Feature rows, geometries in tile coordinates and feature ids.

    Returns
    -------
    (bytes, int)
        The serialized layer and the number of features written (``b"", 0`` when none).
    """
    present = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    rows, geoms, ids = rows[present], geoms[present], ids[present]
    commands, cmd_lengths = _layer_commands(geoms)
    written = cmd_lengths > 0
    if not written.any():
        return b"", 0
    if not written.all():
        commands = commands[np.repeat(written, cmd_lengths)]
        rows, geoms, ids, cmd_lengths = rows[written], geoms[written], ids[written], \
            cmd_lengths[written]
    n = len(rows)
    tag_lengths = table.tag_lengths[rows]
    tags = _gather(table.tags, table.tag_starts[rows], tag_lengths)
    used, local = np.unique(tags[1::2], return_inverse=True)
    tags[1::2] = local
    commands = commands.astype(np.uint64)
    tag_bytes = _sums(_varint_sizes(tags), tag_lengths)
    geom_bytes = _sums(_varint_sizes(commands), cmd_lengths)
    types = _TYPE_BY_ID[shapely.get_type_id(geoms)].astype(np.uint64)
    has_tags = tag_bytes > 0
    ids = ids.astype(np.uint64)
    feature_bytes = (1 + _varint_sizes(ids) + 2 + 1 + _varint_sizes(geom_bytes) + geom_bytes
                     + np.where(has_tags, 1 + _varint_sizes(tag_bytes) + tag_bytes, 0))
    head = np.column_stack([np.full(n, _LAYER_FEATURES), feature_bytes, np.full(n, _FEATURE_ID),
                            ids]).ravel()
    tag_head = np.column_stack([np.full(n, _FEATURE_TAGS), tag_bytes])[has_tags].ravel()
    tail = np.column_stack([np.full(n, _FEATURE_TYPE), types, np.full(n, _FEATURE_GEOMETRY),
                            geom_bytes]).ravel()
    sequence = _interleave([
        (head.astype(np.uint64), np.full(n, 4)),
        (tag_head.astype(np.uint64), np.where(has_tags, 2, 0)),
        (tags, tag_lengths),
        (tail.astype(np.uint64), np.full(n, 4)),
        (commands, cmd_lengths),
    ])
    header = b"".join([
        bytes([_LAYER_VERSION, 2]),
        _length_delimited(_LAYER_NAME, name.encode()),
        bytes([_LAYER_EXTENT]) + _varint(extent),
        table.keys,
        *table.values[used].tolist(),
    ])
    return header + _varints(sequence), n
