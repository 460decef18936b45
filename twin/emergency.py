"""Glue: the City's routing service (``city.routing``)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd

from layers.registry import LayerRegistry
from routing.errors import PointTooFar
from routing.network import RoadNetwork
from routing.service import RoutingService
from twin.bundle import BuildContext
from twin.roads import layers_to_graph

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["load", "build_step", "HIERARCHY_DIR", "ROUTABLE_LEVELS"]

#: Geocoding levels precise enough to route to.
ROUTABLE_LEVELS = ("door", "place", "interpolated", "road")
#: Where the bundle keeps the contracted routing hierarchies.
HIERARCHY_DIR = "routing"


def _geocoder(city: City):  # noqa: ANN202 - returns a callable or None
    if importlib.util.find_spec("twin.addresses") is None:
        return None

    def geocode(text: str) -> tuple[float, float]:
        results = city.address.geocode(text, limit=1)
        if not results:
            raise PointTooFar(f"address not found: {text!r}")
        best = results[0]
        if best["level"] not in ROUTABLE_LEVELS:  # a district's centre is not a destination
            raise PointTooFar(f"address {text!r} is only known at {best['level']} level "
                              f"({best['address']}); give a door, a place or a road")
        return float(best["lon"]), float(best["lat"])

    return geocode


def _service(layers: LayerRegistry, graph: nx.MultiDiGraph, **kwargs: Any) -> RoutingService:
    turns = layers["turn_restrictions"].data if "turn_restrictions" in layers else None
    network = RoadNetwork.from_layers(graph, layers["signals"].data, turns)
    stations = pd.concat(
        [layers[name].data for name in ("fire_stations", "ambulance_stations") if name in layers],
        ignore_index=True)
    homes = layers["homes"].data if "homes" in layers else None
    return RoutingService(network, stations, homes=homes, **kwargs)


def load(city: City) -> RoutingService:
    """Open the routing service on the city's graph, signal plans, stations and homes."""
    return _service(city.layers, city.graph, geocoder=_geocoder(city),
                    hierarchy_dir=city.bundle_dir / HIERARCHY_DIR,
                    timezone=city.division.timezone)


def build_step(ctx: BuildContext) -> None:
    """Contract the routing hierarchies into ``ctx.bundle_dir / "routing"``.

    The graph is rebuilt from the ``nodes`` and ``roads`` layers, as :func:`load` does,
    so the saved hierarchies match the network the service opens.
    """
    graph = layers_to_graph(ctx.layers["nodes"].data, ctx.layers["roads"].data)
    _service(ctx.layers, graph).save_hierarchies(ctx.bundle_dir / HIERARCHY_DIR)
