"""Glue: the City's routing service (``city.routing``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import pandas as pd

from layers.registry import LayerRegistry
from routing.errors import PointTooFar
from routing.network import RoadNetwork, plans_from_signals
from routing.service import RoutingService
from twin.bundle import BuildContext
from twin.road_state import edge_positions, edge_state
from twin.roads import layers_to_graph

if TYPE_CHECKING:
    from twin.city import City

__all__ = ["load", "derive", "build_step", "HIERARCHY_DIR", "ROUTABLE_LEVELS"]

#: Geocoding levels precise enough to route to.
ROUTABLE_LEVELS = ("door", "poi", "interpolated", "road")
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


def _frames(layers: LayerRegistry | Mapping[str, gpd.GeoDataFrame]
            ) -> Mapping[str, gpd.GeoDataFrame]:
    if isinstance(layers, LayerRegistry):
        return {name: layer.data for name, layer in layers.items()}
    return layers


def _stations(frames: Mapping[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    parts = [frames[n] for n in ("fire_stations", "ambulance_stations") if n in frames]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)


def _same_topology(roads: gpd.GeoDataFrame, network: RoadNetwork) -> bool:
    """Whether ``roads`` has the edges ``network`` was built on (ids and end nodes)."""
    if len(roads) != network.n_edges:
        return False
    order = edge_positions(roads, network)
    if (order < 0).any():
        return False
    ids = network.node_ids
    return bool((ids[network.edge_u[order]] == roads["u"].to_numpy()).all()
                and (ids[network.edge_v[order]] == roads["v"].to_numpy()).all())


def _network(frames: Mapping[str, gpd.GeoDataFrame], base: RoutingService | None,
             signals_changed: bool) -> tuple[RoadNetwork, tuple]:
    """The network the layers describe, re-weighting ``base``'s when the topology holds."""
    roads = frames["roads"]
    if base is not None and _same_topology(roads, base.network):
        network = base.network
        plans = plans_from_signals(frames["signals"]) if signals_changed else None
    else:
        graph = layers_to_graph(frames["nodes"], roads)
        network = RoadNetwork.from_layers(graph, frames["signals"], frames.get("turn_restrictions"))
        plans = None
    state = edge_state(roads, network)
    return (network.with_attributes(speed_kph=state.speed_kph, closed=state.closed,
                                    lanes=state.lanes, plans=plans), state.windows)


def derive(city: City, frames: Mapping[str, gpd.GeoDataFrame], *,
           base: RoutingService | None = None,
           versions: dict[str, int] | None = None) -> RoutingService:
    """The routing service the layers describe now (see :mod:`twin.live`).

    An edit of road properties (closures and their windows, speeds, one-way, lanes),
    signal plans, stations or homes re-weights ``base``'s engines on the same hierarchy;
    an edit of the topology (roads added or removed, end nodes moved) builds anew.

    Parameters
    ----------
    city : City
        The city (for the geocoder, time zone and saved hierarchies).
    frames : mapping
        The layers the service reads (``roads``, ``nodes``, ``signals``, stations, homes).
    base : RoutingService, optional
        The service derived before (None: build from the layers).
    versions : dict, optional
        The versions of ``frames``.

    Returns
    -------
    RoutingService
    """
    versions = dict(versions or {})
    changed = base is None or base.versions.get("signals") != versions.get("signals")
    network, windows = _network(frames, base, changed)
    stations = _stations(frames)
    homes = frames.get("homes")
    if base is not None and network.n_edges == base.network.n_edges and \
            network.turn_graph is base.network.turn_graph:
        return base.reweighted(network, stations=stations, homes=homes, closures=windows,
                               versions=versions)
    return RoutingService(network, stations, homes=homes, geocoder=_geocoder(city),
                          hierarchy_dir=city.bundle_dir / HIERARCHY_DIR,
                          timezone=city.division.timezone, closures=windows, versions=versions)


def _service(layers: LayerRegistry, graph: nx.MultiDiGraph, **kwargs: Any) -> RoutingService:
    turns = layers["turn_restrictions"].data if "turn_restrictions" in layers else None
    network = RoadNetwork.from_layers(graph, layers["signals"].data, turns)
    homes = layers["homes"].data if "homes" in layers else None
    return RoutingService(network, _stations(_frames(layers)), homes=homes, **kwargs)


def load(city: City) -> RoutingService:
    """The city's current routing service (derived from its layers; see :mod:`twin.live`)."""
    return city.live.model("routing")


def build_step(ctx: BuildContext) -> None:
    """Save the routing hierarchies into ``ctx.bundle_dir / "routing"``.

    The CCH topology (nested-dissection order + chordal supergraph, ``cch/topology.npz``)
    is built once for the network and each service engine's metric is customized on it
    (``<vehicle>-<peak>-<gw>.npz``). The graph is rebuilt from the ``nodes`` and
    ``roads`` layers, as :func:`load` does, so the saved files match the network the
    service opens.
    """
    graph = layers_to_graph(ctx.layers["nodes"].data, ctx.layers["roads"].data)
    _service(ctx.layers, graph).save_hierarchies(ctx.bundle_dir / HIERARCHY_DIR)
