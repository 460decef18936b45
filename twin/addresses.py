"""Glue: the City's standard-address service (``city.address``) and its build step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from address.gazetteer import Gazetteer, build_gazetteer
from address.service import AddressService
from twin.bundle import BuildContext
from twin.settings import Settings

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["build_step", "load", "geocode_csv"]

_LAYERS = ("districts", "streets", "communities", "roads", "pois")


def _layers(registry) -> dict:  # noqa: ANN001 - a LayerRegistry
    return {n: registry[n].data for n in _LAYERS if n in registry}


def build_step(ctx: BuildContext) -> None:
    """Build the gazetteer into ``<bundle>/address``."""
    build_gazetteer(_layers(ctx.layers)).save(ctx.bundle_dir / "address")


def load(city: City) -> AddressService:
    """Open the address service (edits logged beside the bundle, so rebuilds keep them)."""
    directory = city.bundle_dir / "address"
    if (directory / "doors.parquet").is_file():
        gazetteer = Gazetteer.load(directory)
    else:
        gazetteer = build_gazetteer(_layers(city.layers))
    return AddressService(gazetteer, log_path=city.edits_dir / "addresses.jsonl",
                          public_url=Settings().public_url)


def geocode_csv(city: City, path: Path, *, column: str, out: Path, crs: str = "wgs84",
                progress: bool = True) -> pd.DataFrame:
    """Geocode the ``column`` of a CSV into ``out`` (input columns + results)."""
    table = pd.read_csv(path, dtype=str)
    result = city.address.geocode_many(table, column=column, crs=crs, progress=progress)
    merged = pd.concat([table.reset_index(drop=True),
                        result.drop(columns="input").add_prefix("geo_")], axis=1)
    merged.to_csv(out, index=False)
    return merged
