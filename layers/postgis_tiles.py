"""Vector tiles straight from PostGIS (``ST_AsMVT``), for a twin served from the database."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.errors import StoreUnavailable
from layers.generalize import minzoom_sql
from layers.postgis import _ident
from layers.registry import LayerInfo
from layers.tiles import BUFFER, EXTENT, check_tile

__all__ = ["postgis_tile"]


def _layer_sql(schema: str, info: LayerInfo, index: int) -> str:
    cols = ", ".join(f'"{_ident(c)}"' for c in info.fields)
    table = f'"{_ident(schema)}"."{_ident(info.name)}"'
    return (
        f"(SELECT ST_AsMVT(q, '{_ident(info.name)}', {EXTENT}, 'geom') FROM ("
        f"SELECT {cols}, ST_AsMVTGeom(ST_Transform(t.geometry, 3857), "
        f"ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true) AS geom "
        f"FROM {table} t WHERE t.geometry && "
        f"ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) "
        f"AND {minzoom_sql(list(info.fields), info.minzoom)}"
        f") q WHERE q.geom IS NOT NULL)"
    )


def postgis_tile(engine: Engine, schema: str, infos: Sequence[LayerInfo], z: int, x: int,
                 y: int) -> bytes:
    """Encode an MVT tile of ``infos`` with PostGIS ``ST_AsMVT`` (same extent and buffer).

    Layer and column names come from the registry (checked identifiers), never from the
    request; the tile coordinates are bound parameters.

    Raises
    ------
    TileOutOfRange, StoreUnavailable
    """
    check_tile(z, x, y)
    parts = " || ".join(_layer_sql(schema, info, i) for i, info in enumerate(infos))
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text(f"SELECT {parts}"), {"z": z, "x": x, "y": y}).first()
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(f"PostGIS is unavailable: {exc.orig}") from None
    return bytes(row[0]) if row and row[0] else b""
