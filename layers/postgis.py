"""The PostGIS layer store (production), through SQLAlchemy + GeoAlchemy2.

Layout in the target schema (default ``twin``): one table per layer (``fid`` or the
layer's index column as primary key, a GiST index on ``geometry``), and a metadata table
``_layers`` (name, position, index column, LayerInfo as JSON) plus ``_city`` (name).
Accepted edits of a twin served from PostGIS are kept in ``_edits`` (one row per change)
and applied to the layer's table in the same transaction, under a per-layer advisory lock
(see :class:`PostgisEditLog`): the tables always hold the current features.

Every statement binds user values as parameters; identifiers (schema, table and column
names) come from the bundle, never from a request, and must match ``[a-z_][a-z0-9_]*``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import geoalchemy2  # noqa: F401  (registers the Geometry type with SQLAlchemy)
import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.errors import StoreError, StoreMisconfigured, StoreUnavailable, VersionConflict
from layers.registry import Layer, LayerInfo, LayerRegistry

__all__ = ["connect", "write_layers", "read_layers", "read_city_name", "normalize_url",
           "PostgisEditLog", "ensure_edits_table", "edited_layers", "EDITS_TABLE",
           "latest_edit_seq"]

logger = logging.getLogger(__name__)

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
META_TABLE = "_layers"
CITY_TABLE = "_city"
EDITS_TABLE = "_edits"


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise StoreMisconfigured(f"invalid SQL identifier {name!r} (use [a-z0-9_])")
    return name


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def connect(url: str, *, create_extension: bool = True) -> Engine:
    """Open an engine on a PostGIS database and check that PostGIS is usable.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/database``.
    create_extension : bool
        Try ``CREATE EXTENSION IF NOT EXISTS postgis`` when it is missing.

    Returns
    -------
    sqlalchemy.engine.Engine

    Raises
    ------
    StoreMisconfigured
        The URL is malformed, or the PostGIS extension is missing and cannot be created.
    StoreUnavailable
        The server cannot be reached or refuses the login.
    """
    try:
        parsed = sa.engine.make_url(normalize_url(url))
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StoreMisconfigured(f"bad database URL {_redact(url)!r}: {exc}") from None
    if parsed.get_backend_name() != "postgresql":
        raise StoreMisconfigured(f"not a PostgreSQL URL: {_redact(url)!r}")
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise StoreMisconfigured(f"bad database URL {_redact(url)!r}: {exc}") from None
    try:
        with engine.connect() as conn:
            has = conn.execute(
                sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            ).first()
            if has is None:
                if not create_extension:
                    raise StoreMisconfigured("the database has no postgis extension")
                try:
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
                    conn.commit()
                except sa.exc.DBAPIError as exc:
                    raise StoreMisconfigured(
                        "the database has no postgis extension and it cannot be created "
                        f"({exc.orig.__class__.__name__}): install PostGIS or run "
                        "CREATE EXTENSION postgis as a superuser"
                    ) from None
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(
            f"cannot reach PostGIS at {_redact(url)}: {str(exc.orig).strip().splitlines()[0]}"
        ) from None
    return engine


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


@contextmanager
def _engine(url_or_engine: str | Engine) -> Iterator[Engine]:
    if isinstance(url_or_engine, Engine):
        yield url_or_engine
        return
    engine = connect(url_or_engine)
    try:
        yield engine
    finally:
        engine.dispose()


def write_layers(
    url: str | Engine, registry: LayerRegistry, *, schema: str = "twin", city: str = "city"
) -> None:
    """Write every layer to PostGIS, replacing tables of the same name.

    Parameters
    ----------
    url : str or Engine
        Database URL or an engine from :func:`connect`.
    registry : LayerRegistry
        Layers to write.
    schema : str
        Target schema, created if missing.
    city : str
        City name recorded in ``_city``.
    """
    schema = _ident(schema)
    with _engine(url) as engine:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            conn.execute(sa.text(
                f'CREATE TABLE IF NOT EXISTS "{schema}"."{META_TABLE}" (name text PRIMARY KEY,'
                " position int, index_col text, info jsonb)"))
            conn.execute(sa.text(
                f'CREATE TABLE IF NOT EXISTS "{schema}"."{CITY_TABLE}" (name text)'))
            conn.execute(sa.text(f'DELETE FROM "{schema}"."{CITY_TABLE}"'))
            conn.execute(sa.text(f'INSERT INTO "{schema}"."{CITY_TABLE}" VALUES (:n)'),
                         {"n": city})
            _create_edits_table(conn, schema)
            # fresh base data: the history of edits on the old data no longer applies
            conn.execute(sa.text(f'DELETE FROM "{schema}"."{EDITS_TABLE}" WHERE layer = ANY(:names)'),
                         {"names": list(registry)})
        for position, (name, layer) in enumerate(registry.items()):
            table = _ident(name)
            data = layer.data
            index_col = data.index.name or "fid"
            data = data.rename_axis(index_col)
            try:
                _write_table(engine, data, table, schema)
            except sa.exc.DBAPIError as exc:
                raise StoreMisconfigured(f"writing layer {name!r} failed: {exc.orig}") from None
            with engine.begin() as conn:
                conn.execute(sa.text(
                    f'ALTER TABLE "{schema}"."{table}" ADD PRIMARY KEY ("{_ident(index_col)}")'))
                conn.execute(sa.text(
                    f'INSERT INTO "{schema}"."{META_TABLE}" VALUES (:n, :p, :i, CAST(:info AS jsonb))'
                    " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position,"
                    " index_col = EXCLUDED.index_col, info = EXCLUDED.info"),
                    {"n": name, "p": position, "i": index_col,
                     "info": json.dumps(layer.info.to_dict(), ensure_ascii=False)})
            logger.info("wrote layer %s (%d rows) to PostGIS", name, len(data))


def _write_table(engine: Engine, data: gpd.GeoDataFrame, table: str, schema: str) -> None:
    if data.geometry.notna().any():
        data.to_postgis(table, engine, schema=schema, if_exists="replace", index=True)
        with engine.begin() as conn:  # edits may add other members of the geometry family
            conn.execute(sa.text(f'ALTER TABLE "{schema}"."{table}" ALTER COLUMN geometry'
                                 " TYPE geometry(Geometry, 4326)"))
        return
    # a table without geometry (official division codes): keep a typed, empty column
    pd.DataFrame(data.drop(columns=data.geometry.name)).to_sql(
        table, engine, schema=schema, if_exists="replace", index=True)
    with engine.begin() as conn:
        conn.execute(sa.text(
            f'ALTER TABLE "{schema}"."{table}" ADD COLUMN geometry geometry(Geometry, 4326)'))


def read_city_name(url: str | Engine, *, schema: str = "twin") -> str:
    """The city name stored with the layers."""
    schema = _ident(schema)
    with _engine(url) as engine, engine.connect() as conn:
        try:
            row = conn.execute(sa.text(f'SELECT name FROM "{schema}"."{CITY_TABLE}"')).first()
        except sa.exc.ProgrammingError:
            raise StoreMisconfigured(f"no twin layers in schema {schema!r}") from None
    return row[0] if row else "city"


def read_layers(url: str | Engine, *, schema: str = "twin") -> LayerRegistry:
    """Read the layers written by :func:`write_layers`.

    Raises
    ------
    StoreMisconfigured
        The schema holds no twin layers.
    StoreUnavailable
        The server cannot be reached.
    """
    schema = _ident(schema)
    registry = LayerRegistry()
    with _engine(url) as engine:
        with engine.connect() as conn:
            try:
                rows = conn.execute(sa.text(
                    f'SELECT name, index_col, info FROM "{schema}"."{META_TABLE}" ORDER BY position'
                )).all()
            except sa.exc.ProgrammingError:
                raise StoreMisconfigured(f"no twin layers in schema {schema!r}") from None
        for name, index_col, info in rows:
            sql = f'SELECT * FROM "{schema}"."{_ident(name)}" ORDER BY "{_ident(index_col)}"'
            data = gpd.read_postgis(sql, engine, geom_col="geometry", index_col=index_col)
            if data.crs is None:
                data = data.set_crs(4326)
            info_obj = LayerInfo.from_dict(info if isinstance(info, dict) else json.loads(info))
            registry.put(Layer(info=info_obj, data=data))
    return registry


# -- edits -------------------------------------------------------------------------------
@contextmanager
def _store_errors(what: str) -> Iterator[None]:
    """Database failures as :class:`StoreUnavailable` (server down) or :class:`StoreError`."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnavailable(f"PostGIS is unavailable ({what}): {first}") from None
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"PostGIS connection lost ({what})") from None
        raise StoreError(f"PostGIS failed ({what}): {exc.orig.__class__.__name__}") from None


def _create_edits_table(conn: sa.Connection, schema: str) -> None:
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{schema}.ddl"})
    conn.execute(sa.text(
        f'CREATE TABLE IF NOT EXISTS "{schema}"."{EDITS_TABLE}" ('
        " seq bigserial PRIMARY KEY, layer text NOT NULL, fid text NOT NULL,"
        " feature_version integer NOT NULL, change jsonb NOT NULL,"
        " stored_at timestamptz NOT NULL DEFAULT now(),"
        " UNIQUE (layer, fid, feature_version))"))
    conn.execute(sa.text(
        f'CREATE INDEX IF NOT EXISTS "{EDITS_TABLE}_layer_seq" ON "{schema}"."{EDITS_TABLE}"'
        " (layer, seq)"))


def ensure_edits_table(engine: Engine, schema: str = "twin") -> None:
    """Create the ``_edits`` table when missing (safe to call from several processes).

    Raises
    ------
    StoreUnavailable, StoreError
    """
    schema = _ident(schema)
    with _store_errors("creating the edits table"), engine.begin() as conn:
        _create_edits_table(conn, schema)


def edited_layers(engine: Engine, schema: str = "twin") -> list[str]:
    """Names of the layers that have edits in ``_edits``."""
    schema = _ident(schema)
    with _store_errors("listing edited layers"), engine.connect() as conn:
        return list(conn.execute(sa.text(
            f'SELECT DISTINCT layer FROM "{schema}"."{EDITS_TABLE}"')).scalars())


def latest_edit_seq(engine: Engine, schema: str = "twin") -> tuple[int, int]:
    """``(rows, newest seq)`` of the edit table: changes whenever any edit commits.

    What a poller asks to know whether to read further. The row count matters as well as
    the newest number: edits of two layers may commit in the other order than they drew
    their numbers, and rows are never deleted, so a commit always raises the count.
    """
    with _store_errors("checking for edits"), engine.connect() as conn:
        rows, seq = conn.execute(sa.text(
            f'SELECT count(*), COALESCE(max(seq), 0) FROM "{_ident(schema)}"."{EDITS_TABLE}"')
        ).one()
        return int(rows), int(seq)


def _feature_key(entry: dict[str, Any]) -> tuple[Any, int]:
    return entry["fid"], entry["feature_version"]


class PostgisEditLog:
    """The change log of one layer in the ``_edits`` table (a :class:`layers.versions.ChangeLog`).

    An edit holds a transaction-scoped advisory lock on the layer, reads the rows others
    committed, inserts its row and applies the change to the layer's table; both commit
    together before the edit is applied in memory, so an accepted edit is always stored.
    ``UNIQUE (layer, fid, feature_version)`` makes the database itself refuse two changes
    to the same version of a feature.

    Parameters
    ----------
    engine : Engine
        Engine from :func:`connect` (``pool_pre_ping``: reconnects after a server restart).
    schema : str
        Schema of the twin.
    layer : str
        Layer name (or the name of another versioned collection, such as addresses).
    key : callable, optional
        ``key(entry) -> (id, version)`` of a change; by default its ``fid`` and
        ``feature_version``.
    write_through : bool
        Apply each change to the layer's table too (False for collections without one).
    """

    def __init__(self, engine: Engine, schema: str, layer: str, *,
                 key: Callable[[dict[str, Any]], tuple[Any, int]] | None = None,
                 write_through: bool = True) -> None:
        self.engine = engine
        self.schema = _ident(schema)
        self.layer = layer
        self.key = key or _feature_key
        self.write_through = write_through
        self._seq = 0
        self._conn: sa.Connection | None = None
        self._index_col: str | None = None

    @property
    def _table(self) -> str:
        return f'"{self.schema}"."{EDITS_TABLE}"'

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """A connection holding the layer's advisory lock until commit or rollback."""
        with _store_errors(f"locking layer {self.layer!r}"):
            conn = self.engine.connect()
        try:
            with _store_errors(f"locking layer {self.layer!r}"):
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                             {"k": f"{self.schema}.{self.layer}"})
            self._conn = conn
            yield
        finally:
            self._conn = None
            try:
                conn.close()  # rolls back when nothing was appended: releases the lock
            except sa.exc.DBAPIError:
                logger.warning("closing a broken connection of layer %s", self.layer)

    def _rows(self, conn: sa.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(sa.text(
            f"SELECT seq, change FROM {self._table} WHERE layer = :layer AND seq > :seq"
            " ORDER BY seq"), {"layer": self.layer, "seq": self._seq}).all()
        entries = []
        for seq, change in rows:
            self._seq = seq
            entries.append(change if isinstance(change, dict) else json.loads(change))
        return entries

    def read_new(self) -> list[dict[str, Any]]:
        """Rows committed after the last one read."""
        with _store_errors(f"reading edits of {self.layer!r}"):
            if self._conn is not None:
                return self._rows(self._conn)
            with self.engine.connect() as conn:
                return self._rows(conn)

    def append(self, entry: dict[str, Any]) -> None:
        """Insert the change and commit (which also releases the advisory lock)."""
        if self._conn is None:
            raise StoreError("an edit must hold the layer's lock")
        try:
            seq = self._insert(entry)
        except sa.exc.IntegrityError:
            fid, version = self.key(entry)
            raise VersionConflict(f"{fid!r} of {self.layer!r} already has a version {version}:"
                                  " reload it and apply your edit again") from None
        self._seq = seq

    def _insert(self, entry: dict[str, Any]) -> int:
        assert self._conn is not None
        fid, version = self.key(entry)
        with _store_errors(f"storing an edit of {self.layer!r}"):
            seq = self._conn.execute(sa.text(
                f"INSERT INTO {self._table} (layer, fid, feature_version, change)"
                " VALUES (:layer, :fid, :version, CAST(:change AS jsonb)) RETURNING seq"),
                {"layer": self.layer, "fid": str(fid), "version": int(version),
                 "change": json.dumps(entry, ensure_ascii=False, default=str)}).scalar_one()
            if self.write_through:
                self._write_feature(entry)
            self._conn.commit()
        return seq

    def _index_column(self) -> str:
        assert self._conn is not None
        if self._index_col is None:
            found = self._conn.execute(sa.text(
                f'SELECT index_col FROM "{self.schema}"."{META_TABLE}" WHERE name = :n'),
                {"n": self.layer}).scalar_one_or_none()
            if found is None:
                raise StoreMisconfigured(f"layer {self.layer!r} is not in {self.schema}.{META_TABLE}")
            self._index_col = _ident(found)
        return self._index_col

    def _write_feature(self, entry: dict[str, Any]) -> None:
        """Apply the change to the layer's own table, in the transaction that logs it.

        The table then always holds the current features, so ``ST_AsMVT`` tiles and any
        other client of the database (QGIS, SQL) see every accepted edit.
        """
        assert self._conn is not None
        table = f'"{self.schema}"."{_ident(self.layer)}"'
        key = self._index_column()
        if entry["op"] == "delete":
            self._conn.execute(sa.text(f'DELETE FROM {table} WHERE "{key}" = :fid'),
                               {"fid": entry["fid"]})
            return
        after = entry["after"]
        props = {k: v for k, v in after["properties"].items() if k != key}
        names = [_ident(k) for k in props]
        params = {f"p{i}": v for i, v in enumerate(props.values())}
        params.update(fid=entry["fid"], geom=json.dumps(after["geometry"]))
        columns = ", ".join(f'"{n}"' for n in [key, *names, "geometry"])
        values = ", ".join([":fid", *(f":p{i}" for i in range(len(names))),
                            "ST_SetSRID(ST_GeomFromGeoJSON(:geom), 4326)"])
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in [*names, "geometry"])
        self._conn.execute(sa.text(
            f"INSERT INTO {table} ({columns}) VALUES ({values})"
            f' ON CONFLICT ("{key}") DO UPDATE SET {updates}'), params)

    def has_new(self) -> bool:
        """One indexed query: is there a row past the last one read?"""
        with _store_errors(f"checking edits of {self.layer!r}"), self.engine.connect() as conn:
            return conn.execute(sa.text(
                f"SELECT EXISTS (SELECT 1 FROM {self._table} WHERE layer = :layer AND seq > :seq)"),
                {"layer": self.layer, "seq": self._seq}).scalar_one()
