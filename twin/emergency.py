"""Glue: the City's routing service (``city.routing``)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import pandas as pd

from routing.errors import PointTooFar
from routing.network import RoadNetwork
from routing.service import RoutingService

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["load"]


def _geocoder(city: City):  # noqa: ANN202 - returns a callable or None
    if importlib.util.find_spec("twin.addresses") is None:
        return None

    def geocode(text: str) -> tuple[float, float]:
        results = city.address.geocode(text, limit=1)
        if not results:
            raise PointTooFar(f"address not found: {text!r}")
        best = results[0]
        return float(best["lon"]), float(best["lat"])

    return geocode


def load(city: City) -> RoutingService:
    """Open the routing service on the city's graph, signal plans, stations and homes."""
    turns = city.layers["turn_restrictions"].data if "turn_restrictions" in city.layers else None
    network = RoadNetwork.from_layers(city.graph, city.layers["signals"].data, turns)
    stations = pd.concat(
        [city.layers[name].data for name in ("fire_stations", "ambulance_stations")
         if name in city.layers], ignore_index=True)
    homes = city.layers["homes"].data if "homes" in city.layers else None
    return RoutingService(network, stations, homes=homes, geocoder=_geocoder(city))
