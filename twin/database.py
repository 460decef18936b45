"""Write a city to PostGIS and read it back (``twin build --database``, ``City.from_postgis``)."""

from __future__ import annotations

from layers import postgis
from layers.errors import StoreError
from layers.registry import LayerRegistry
from twin.errors import DatabaseError

__all__ = ["write_city_layers", "read_city_layers", "check_database"]


def write_city_layers(url: str, name: str, layers: LayerRegistry, *, schema: str = "twin") -> None:
    """Write a city's layers to PostGIS.

    Raises
    ------
    DatabaseError
        Bad URL, unreachable server or no PostGIS (one clear message).
    """
    try:
        postgis.write_layers(url, layers, schema=schema, city=name)
    except StoreError as exc:
        raise DatabaseError(str(exc)) from None


def read_city_layers(url: str, *, schema: str = "twin") -> tuple[str, LayerRegistry]:
    """Read a city's name and layers from PostGIS.

    Raises
    ------
    DatabaseError
        Bad URL, unreachable server, no PostGIS, or no city in that schema.
    """
    try:
        engine = postgis.connect(url, create_extension=False)
        try:
            return postgis.read_city_name(engine, schema=schema), postgis.read_layers(
                engine, schema=schema)
        finally:
            engine.dispose()
    except StoreError as exc:
        raise DatabaseError(str(exc)) from None


def check_database(url: str, *, schema: str = "twin") -> str:
    """Check that a twin can be served from PostGIS; returns the city name.

    Raises
    ------
    DatabaseError
        Bad URL, unreachable server, no PostGIS, or no city in that schema.
    """
    try:
        engine = postgis.connect(url, create_extension=False)
        try:
            return postgis.read_city_name(engine, schema=schema)
        finally:
            engine.dispose()
    except StoreError as exc:
        raise DatabaseError(str(exc)) from None
