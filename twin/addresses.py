"""Glue: the City's standard-address service (``city.address``) and its build step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from address.gazetteer import Gazetteer, build_gazetteer
from address.lifecycle import AddressLog
from address.service import AddressService
from layers.versions import FileLog
from twin.bundle import BuildContext
from twin.settings import Settings

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["build_step", "load", "edit_log", "geocode_csv", "ADDRESS_LOG"]

_LAYERS = ("districts", "streets", "communities", "roads", "pois")
#: the name address changes go under in a PostGIS twin's ``_edits`` table
ADDRESS_LOG = "_addresses"


def _layers(registry) -> dict:  # noqa: ANN001 - a LayerRegistry
    return {n: registry[n].data for n in _LAYERS if n in registry}


def build_step(ctx: BuildContext) -> None:
    """Build the gazetteer into ``<bundle>/address``."""
    build_gazetteer(_layers(ctx.layers)).save(ctx.bundle_dir / "address")


def _address_key(change: dict) -> tuple[str, int]:
    return change["code"], int(change["after"]["version"])


def edit_log(city: City) -> AddressLog:
    """The change log of the city's addresses, shared by every process serving it: the
    ``_edits`` table of a twin on PostGIS, else ``addresses.jsonl`` beside the bundle (so
    rebuilds keep the edits)."""
    engine = city.database_engine
    if engine is not None:
        from layers.postgis import PostgisEditLog, ensure_edits_table

        ensure_edits_table(engine, city.database_schema)
        return PostgisEditLog(engine, city.database_schema, ADDRESS_LOG, key=_address_key,
                              write_through=False)
    return FileLog(city.edits_dir / "addresses.jsonl")


def load(city: City) -> AddressService:
    """Open the address service with its shared edit log."""
    directory = city.bundle_dir / "address"
    if (directory / "doors.parquet").is_file():
        gazetteer = Gazetteer.load(directory)
    else:
        gazetteer = build_gazetteer(_layers(city.layers))
    return AddressService(gazetteer, log=edit_log(city), public_url=Settings().public_url)


def geocode_csv(city: City, path: Path, *, column: str, out: Path, crs: str = "wgs84",
                progress: bool = True) -> pd.DataFrame:
    """Geocode the ``column`` of a CSV into ``out`` (input columns + results)."""
    table = pd.read_csv(path, dtype=str)
    result = city.address.geocode_many(table, column=column, crs=crs, progress=progress)
    merged = pd.concat([table.reset_index(drop=True),
                        result.drop(columns="input").add_prefix("geo_")], axis=1)
    merged.to_csv(out, index=False)
    return merged
