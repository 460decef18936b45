"""The routing service: routes, dispatch, coverage (emergency runs: :mod:`routing.runs`)."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path as Path_
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from routing.arrivals import predict, timed_wave
from routing.cch import CCHTopology, CustomizedCCH
from routing.engine import Path, PathEngine
from routing.errors import (
    InvalidRequest,
    InvalidVehicle,
    StationNotFound,
    Unreachable,
)
from routing.eta import edge_speeds
from routing.network import MAX_SNAP_M, RoadNetwork
from routing.profiles import VEHICLES, Profile, clock_seconds, is_peak

__all__ = ["Location", "RoutingService", "LOCAL_TZ", "MAX_ISOCHRONE_MIN", "ENGINE_KEYS"]

logger = logging.getLogger(__name__)

#: Default local time zone of a service (a city passes its own: ``timezone=``).
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MAX_ISOCHRONE_MIN = 60.0
#: Engines kept for departures inside closure windows (one per set of closed edges).
MAX_WINDOWED_ENGINES = 16
#: Dispatch times this many stations beyond ``limit`` with the ETA model (the nearest by
#: cruise time), so that one slowed by turns or reds can still drop out of the ranking.
DISPATCH_CANDIDATES = 3
#: The engines a service uses, as ``(vehicle, peak, green_wave)``; their customized
#: hierarchies (and the CCH topology they share) are what
#: :meth:`RoutingService.save_hierarchies` writes.
ENGINE_KEYS = (("car", False, True), ("car", True, True), ("fire", False, True),
               ("fire", False, False), ("ambulance", False, True), ("ambulance", False, False))
#: A location: ``{"lon", "lat"}``, ``{"address"}``, ``{"station"}`` or ``{"node"}``.
Location = dict[str, Any]


def _in_service(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The stations with a vehicle available (a ``vehicles`` of 0 retires a station)."""
    if "vehicles" not in stations.columns:
        return stations
    vehicles = pd.to_numeric(stations["vehicles"], errors="coerce")
    return stations[vehicles.isna() | (vehicles > 0)]


def _local(when: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime:
    """``when`` (now when None) as an aware time; a naive one is read in ``tz``."""
    if when is None:
        return dt.datetime.now(tz)
    return when if when.tzinfo else when.replace(tzinfo=tz)


def _reweight(engine: PathEngine, weights: np.ndarray, network: RoadNetwork) -> PathEngine:
    """``engine`` with other per-edge weights on ``network`` (same topology), customized
    on the engine's hierarchy; ``engine`` itself is left unchanged."""
    if np.array_equal(weights, engine.weights) and network is engine.network:
        return engine
    twin = engine.with_weights(weights)
    twin.network = network
    return twin


#: File of the CCH topology (node order + chordal supergraph) the saved metrics share,
#: under the hierarchy directory (beside the metrics, one ``.npz`` per engine).
TOPOLOGY_FILE = "cch/topology.npz"


def _hierarchy_file(key: tuple[str, bool, bool]) -> str:
    """File of an engine's customized metric."""
    vehicle, peak, green_wave = key
    return f"{vehicle}-{'peak' if peak else 'offpeak'}-{'gw' if green_wave else 'nogw'}.npz"


class RoutingService:
    """Routes, green waves, dispatch and coverage on one city's network.

    Parameters
    ----------
    network : RoadNetwork
        The network with its signal plans.
    stations : geopandas.GeoDataFrame
        Fire and ambulance stations: ``id``, ``name``, ``kind`` (fire|ambulance), points.
    homes : geopandas.GeoDataFrame, optional
        Residential blocks with ``households`` (for household coverage).
    geocoder : callable, optional
        ``text -> (lon, lat)`` for address locations (the address service).
    hierarchy_dir : Path, optional
        Contraction hierarchies saved by :meth:`save_hierarchies`; engines use them
        instead of contracting on their first route when they match the network.
    timezone : str or tzinfo, optional
        The city's local time zone (IANA name), in which departure times without a zone
        are read and peak hours and signal clocks run. Default :data:`LOCAL_TZ`.
    closures : sequence, optional
        Road edges closed over a time window only (objects with ``edge`` and
        ``active(when) -> bool``, e.g. :class:`twin.road_state.Closure`): routes, dispatch,
        coverage and isochrones leave them out for departures inside the window.
    versions : dict, optional
        The versions of the layers this service was derived from; every answer names them.
    """

    def __init__(self, network: RoadNetwork, stations: gpd.GeoDataFrame, *,
                 homes: gpd.GeoDataFrame | None = None,
                 geocoder: Callable[[str], tuple[float, float]] | None = None,
                 hierarchy_dir: str | PathLike | None = None,
                 timezone: str | dt.tzinfo | None = None,
                 closures: Sequence[Any] = (), versions: dict[str, int] | None = None) -> None:
        self.network = network
        self.closures = tuple(closures)
        self.versions = dict(versions or {})
        self._windowed: dict[tuple, PathEngine] = {}
        self._windowed_lock = threading.Lock()
        self._engine_lock = threading.Lock()
        #: engines of the service this one was derived from, re-weighted on first use
        self._inherited: dict[tuple[str, bool, bool], PathEngine] = {}
        self.tz: dt.tzinfo = (ZoneInfo(timezone) if isinstance(timezone, str)
                              else timezone or LOCAL_TZ)
        self.hierarchy_dir = Path_(hierarchy_dir) if hierarchy_dir is not None else None
        self.geocoder = geocoder
        self._engines: dict[tuple[str, bool, bool], PathEngine] = {}
        self._speeds: dict[str, np.ndarray] = {}
        self._set_stations(stations)
        self._set_homes(homes)

    def _set_stations(self, stations: gpd.GeoDataFrame) -> None:
        """The stations in service, snapped, and per vehicle kind for dispatch."""
        network = self.network
        self.stations = _in_service(stations).reset_index(drop=True)
        idx, _ = network.snap_many(self.stations.geometry.x, self.stations.geometry.y)
        self._station_nodes = dict(zip(self.stations["id"], idx.tolist(), strict=True))
        # per vehicle kind: the station records and their nodes, for fast dispatch
        self._fleet = {
            kind: ([{"station": r.id, "name": r.name, "lon": r.geometry.x, "lat": r.geometry.y}
                    for r in group.itertuples()],
                   np.array([self._station_nodes[i] for i in group["id"]], dtype=np.int64))
            for kind, group in self.stations.groupby("kind")}

    def _set_homes(self, homes: gpd.GeoDataFrame | None) -> None:
        """The homes (households) counted by coverage, snapped."""
        network = self.network
        self.homes = homes
        if homes is not None and len(homes):
            self._home_nodes, _ = network.snap_many(homes.geometry.x, homes.geometry.y)
            self._households = homes["households"].to_numpy(dtype=float)
        else:
            self._home_nodes = np.zeros(0, dtype=np.int64)
            self._households = np.zeros(0)

    # -- engines -----------------------------------------------------------------
    def engine(self, vehicle: str = "car", *, peak: bool = False,
               green_wave: bool = True) -> PathEngine:
        """The (cached) path engine of a vehicle type."""
        if vehicle != "car" and vehicle not in VEHICLES:
            raise InvalidVehicle(f"unknown vehicle {vehicle!r}; use one of car, "
                                 f"{', '.join(VEHICLES)}")
        key = (vehicle, peak, green_wave)
        engine = self._engines.get(key)
        if engine is not None:
            return engine
        with self._engine_lock:
            if key in self._engines:
                return self._engines[key]
            inherited = self._inherited.pop(key, None)
            if inherited is not None:  # re-weight the engine of the service derived from
                engine = _reweight(inherited, self.network.edge_times(inherited.profile),
                                   self.network)
            else:
                profile = (Profile.car(8.0 if peak else 11.0) if vehicle == "car"
                           else Profile.emergency(vehicle, green_wave=green_wave))
                engine = PathEngine(self.network, profile)
                self._attach_saved(engine, key)
            self._engines[key] = engine
        return engine

    def _attach_saved(self, engine: PathEngine, key: tuple[str, bool, bool]) -> None:
        """Give ``engine`` the saved CCH topology when it fits the network, and its saved
        metric when that was customized for its current weights (else the first route
        customizes, in milliseconds)."""
        if self.hierarchy_dir is None:
            return
        top_path = self.hierarchy_dir / TOPOLOGY_FILE
        path = self.hierarchy_dir / _hierarchy_file(key)
        try:
            if not engine.has_topology and top_path.is_file():
                engine.use_topology(CCHTopology.load(top_path))
            if engine.has_topology and path.is_file():
                engine.use_hierarchy(CustomizedCCH.load(path, engine.topology))
        except (InvalidRequest, ValueError, KeyError, OSError) as exc:
            logger.debug("not using the saved hierarchy %s: %s", path, exc)

    def save_hierarchies(self, directory: str | PathLike) -> list[Path_]:
        """Save the CCH topology and the customized metrics of :data:`ENGINE_KEYS`.

        The topology is ordered and contracted once (it depends on the network only);
        each engine's metric is customized on it.
        """
        directory = Path_(directory)
        directory.mkdir(parents=True, exist_ok=True)
        engines = [self.engine(vehicle, peak=peak, green_wave=gw)
                   for vehicle, peak, gw in ENGINE_KEYS]
        (directory / TOPOLOGY_FILE).parent.mkdir(parents=True, exist_ok=True)
        written = [engines[0].topology.save(directory / TOPOLOGY_FILE)]
        for key, engine in zip(ENGINE_KEYS, engines, strict=True):
            hierarchy = engine.hierarchy
            hierarchy.fingerprint = engine.fingerprint
            written.append(hierarchy.save(directory / _hierarchy_file(key)))
        return written

    def warm(self) -> None:
        """Open every saved engine and run one route on each, so the compiled query code is
        loaded before the first request needs it (seconds on a cold process)."""
        for vehicle, peak, green_wave in ENGINE_KEYS:
            engine = self.engine(vehicle, peak=peak, green_wave=green_wave)
            if self.network.n_nodes > 1:
                engine.route(0, 0)

    def _refresh(self) -> None:
        """Re-customize every open engine for the network's current weights."""
        for engine in self._engines.values():
            engine.refresh()

    # -- locations ---------------------------------------------------------------
    def locate(self, location: Location) -> int:
        """Node index of a location.

        Raises
        ------
        InvalidRequest, PointTooFar, StationNotFound
        """
        if not isinstance(location, dict):
            raise InvalidRequest("a location is an object with lon/lat, address, station or node")
        if "station" in location:
            return self.station_node(str(location["station"]))
        if "node" in location:
            return self.network.index(int(location["node"]))
        if "address" in location:
            if self.geocoder is None:
                raise InvalidRequest("address locations need the address service")
            lon, lat = self.geocoder(str(location["address"]))
            return self.network.snap(lon, lat)[0]
        if "lon" in location and "lat" in location:
            try:
                lon, lat = float(location["lon"]), float(location["lat"])
            except (TypeError, ValueError):
                raise InvalidRequest("lon and lat must be numbers") from None
            return self.network.snap(lon, lat)[0]
        raise InvalidRequest("a location needs lon+lat, address, station or node")

    def station_node(self, station_id: str) -> int:
        """Node index of a station."""
        try:
            return self._station_nodes[station_id]
        except KeyError:
            raise StationNotFound(f"unknown station {station_id!r}; known: "
                                  f"{', '.join(self._station_nodes)}") from None

    # -- routes ------------------------------------------------------------------
    def _geojson(self, path: Path) -> dict:
        net = self.network
        coords: list[tuple[float, float]] = []
        for e in path.edges:
            geom = net.geometries[e]
            pts = list(geom.coords) if geom is not None else [tuple(net.xy[net.edge_u[e]]),
                                                              tuple(net.xy[net.edge_v[e]])]
            coords.extend(pts if not coords else pts[1:])
        if not coords:
            coords = [tuple(net.xy[path.nodes[0]])] * 2
        return {"type": "LineString", "coordinates": [list(c) for c in coords]}

    def _roads(self, path: Path) -> list[str]:
        names = [self.network.names[e] for e in path.edges]
        return [n for n, _ in itertools.groupby(names) if n]

    def route(self, origin: Location, destination: Location, *,
              depart_at: dt.datetime | None = None) -> dict:
        """Fastest route for normal traffic (pays expected signal delays).

        Returns
        -------
        dict
            ``geometry`` (GeoJSON), ``distance_m``, ``eta_s``, ``roads``, ``peak``.
        """
        engine, peak = self.engine_at("car", depart_at=depart_at)
        path = engine.route(self.locate(origin), self.locate(destination))
        return {"geometry": self._geojson(path), "distance_m": round(path.length_m, 1),
                "eta_s": round(path.duration_s, 1), "roads": self._roads(path), "peak": peak,
                "versions": self.versions}

    def eta_speeds(self, vehicle: str) -> np.ndarray:
        """Profile speed (m/s) per edge of an emergency vehicle, for the ETA model
        (:func:`routing.eta.edge_speeds`; computed once per network)."""
        speeds = self._speeds.get(vehicle)
        if speeds is None:
            speeds = self._speeds[vehicle] = edge_speeds(self.network, Profile.emergency(vehicle))
        return speeds

    # -- multi-stop routes, snapping and travel-time tables (the OSRM dialect uses these) --
    def engine_at(self, vehicle: str, *, depart_at: dt.datetime | None = None,
                  green_wave: bool = True) -> tuple[PathEngine, bool | None]:
        """The engine for a departure: ``car`` at peak or off-peak speeds, ``fire`` and
        ``ambulance`` with or without signal priority; roads closed over a window that
        holds at ``depart_at`` (default now) are left out.

        Returns
        -------
        engine : PathEngine
        peak : bool or None
            For ``car``: whether peak speeds apply; None for emergency vehicles.
        """
        when = _local(depart_at, self.tz)
        if vehicle == "car":
            peak: bool | None = is_peak(clock_seconds(when, self.tz) / 3600)
            key = ("car", bool(peak), True)
        else:
            self._check_vehicle(vehicle)
            peak, key = None, (vehicle, False, green_wave)
        engine = self.engine(key[0], peak=key[1], green_wave=key[2])
        active = tuple(sorted({c.edge for c in self.closures if c.active(when)}))
        if not active:
            return engine, peak
        with self._windowed_lock:
            windowed = self._windowed.get((key, active))
            if windowed is None:
                weights = engine.weights.copy()
                weights[list(active)] = np.inf
                windowed = self._windowed[(key, active)] = _reweight(engine, weights,
                                                                      self.network)
                while len(self._windowed) > MAX_WINDOWED_ENGINES:
                    self._windowed.pop(next(iter(self._windowed)))
        return windowed, peak

    def reweighted(self, network: RoadNetwork, *, stations: gpd.GeoDataFrame | None = None,
                   homes: gpd.GeoDataFrame | None = None, closures: Sequence[Any] | None = None,
                   versions: dict[str, int] | None = None) -> RoutingService:
        """A new service on ``network`` (the same topology as this one's, other per-edge
        attributes or signal plans), whose engines are this service's engines re-weighted
        (metric customization on the same hierarchy, no re-contraction).

        This service is left unchanged: requests holding it keep their answers.

        Parameters
        ----------
        network : RoadNetwork
            From :meth:`RoadNetwork.with_attributes` of this service's network.
        stations, homes, closures, versions : optional
            Replace this service's (default: the same).

        Returns
        -------
        RoutingService
        """
        twin = copy.copy(self)  # the same geocoder, time zone, saved hierarchies
        twin.network = network
        twin.closures = self.closures if closures is None else tuple(closures)
        twin.versions = self.versions if versions is None else dict(versions)
        twin._engines, twin._windowed, twin._speeds = {}, {}, {}
        twin._windowed_lock, twin._engine_lock = threading.Lock(), threading.Lock()
        twin._set_stations(self.stations if stations is None else stations)
        if homes is not None and homes is not self.homes:  # unchanged homes keep their nodes
            twin._set_homes(homes)
        # each engine is re-weighted when first asked for (a closure's next route pays for
        # the one engine it uses, not for all six)
        twin._inherited = {**self._inherited, **self._engines}
        return twin

    def snap(self, lon: float, lat: float, *, max_distance_m: float = MAX_SNAP_M) -> dict:
        """The routable node nearest to a point, as :meth:`locate` picks it for ``lon/lat``.

        Parameters
        ----------
        lon, lat : float
            WGS84 point.
        max_distance_m : float
            Snapping radius (at most the network's own limit is sensible).

        Returns
        -------
        dict
            ``node`` (graph node id), ``index``, ``lon``, ``lat`` (the node),
            ``distance_m`` (from the point) and ``name`` (a road at the node, or ``""``).

        Raises
        ------
        PointTooFar
            No routable node within ``max_distance_m``.

        Examples
        --------
        >>> City.load().routing.snap(121.4737, 31.2304)["distance_m"] < 300  # doctest: +SKIP
        True
        """
        net = self.network
        idx, dist = net.snap(float(lon), float(lat), max_distance_m=max_distance_m)
        touching = np.flatnonzero((net.edge_u == idx) | (net.edge_v == idx))
        name = next((net.names[e] for e in touching.tolist() if net.names[e]), "")
        return {"node": int(net.node_ids[idx]), "index": idx, "lon": float(net.xy[idx, 0]),
                "lat": float(net.xy[idx, 1]), "distance_m": round(dist, 1), "name": name}

    def route_legs(self, waypoints: Sequence[Location], *, vehicle: str = "car",
                   depart_at: dt.datetime | None = None, green_wave: bool = True) -> dict:
        """Fastest route through two or more waypoints, one leg per consecutive pair.

        ``car`` is normal traffic at ``depart_at`` (as :meth:`route`); ``fire`` and
        ``ambulance`` run the emergency profile, with the green wave by default: the
        travel times :meth:`dispatch` ranks by. No emergency run is registered.

        Parameters
        ----------
        waypoints : sequence of Location
            At least two.
        vehicle : str
            ``car``, ``fire`` or ``ambulance``.
        depart_at : datetime, optional
            Departure (``car``: picks peak or off-peak speeds); default now.
        green_wave : bool
            Emergency vehicles: with signal priority (default) or paying signal delays.

        Returns
        -------
        dict
            ``vehicle``, ``peak`` (``car`` only, else None), ``distance_m``, ``eta_s`` and
            ``legs``: per leg ``distance_m``, ``eta_s``, ``roads``, ``geometry`` (GeoJSON)
            and ``edges`` (per road edge: ``edge``, ``name``, ``length_m``, ``time_s``,
            ``coordinates``).

        Raises
        ------
        InvalidRequest, InvalidVehicle, PointTooFar, Unreachable

        Examples
        --------
        >>> legs = City.load().routing.route_legs(                  # doctest: +SKIP
        ...     [{"lon": 121.47, "lat": 31.23}, {"lon": 121.48, "lat": 31.24}])
        >>> len(legs["legs"])                                       # doctest: +SKIP
        1
        """
        if len(waypoints) < 2:
            raise InvalidRequest("a route needs at least two waypoints")
        engine, peak = self.engine_at(vehicle, depart_at=depart_at, green_wave=green_wave)
        nodes = [self.locate(w) for w in waypoints]
        net = self.network
        legs = []
        total_m = total_s = 0.0
        for a, b in itertools.pairwise(nodes):
            path = engine.route(a, b)
            edges = []
            for e in path.edges:
                geom = net.geometries[e]
                coords = (list(geom.coords) if geom is not None
                          else [tuple(net.xy[net.edge_u[e]]), tuple(net.xy[net.edge_v[e]])])
                edges.append({"edge": int(e), "name": net.names[e] or "",
                              "length_m": float(net.length[e]),
                              "time_s": float(engine.weights[e]),
                              "coordinates": [[float(x), float(y)] for x, y in coords]})
            total_m += path.length_m
            total_s += path.duration_s
            legs.append({"distance_m": round(path.length_m, 1), "eta_s": round(path.duration_s, 1),
                         "roads": self._roads(path), "geometry": self._geojson(path),
                         "edges": edges})
        return {"vehicle": vehicle, "peak": peak, "distance_m": round(total_m, 1),
                "eta_s": round(total_s, 1), "legs": legs}

    def table(self, sources: Sequence[Location], destinations: Sequence[Location], *,
              vehicle: str = "car", depart_at: dt.datetime | None = None,
              green_wave: bool = True, distances: bool = False) -> dict:
        """Travel times (and distances) from every source to every destination.

        One Dijkstra search per distinct source on the forward graph, or, when there are
        fewer distinct destinations, per destination on the reversed graph (the search
        :meth:`dispatch` runs), so a column towards an incident equals dispatch's ETAs.
        Distances are the lengths of the fastest paths.

        Parameters
        ----------
        sources, destinations : sequence of Location
            The points (at least one each).
        vehicle, depart_at, green_wave
            As in :meth:`route_legs`.
        distances : bool
            Also measure the lengths of the fastest paths.

        Returns
        -------
        dict
            ``durations`` (s) and ``distances`` (m, or None): arrays of shape
            ``(len(sources), len(destinations))``, ``inf`` where unreachable; ``vehicle``,
            ``peak``.

        Raises
        ------
        InvalidRequest, InvalidVehicle, PointTooFar

        Examples
        --------
        >>> t = City.load().routing.table([{"station": "F1"}], [{"lon": 121.48, "lat": 31.23}],
        ...                               vehicle="fire")          # doctest: +SKIP
        >>> t["durations"].shape                                    # doctest: +SKIP
        (1, 1)
        """
        if not sources or not destinations:
            raise InvalidRequest("a table needs at least one source and one destination")
        engine, peak = self.engine_at(vehicle, depart_at=depart_at, green_wave=green_wave)
        src = np.array([self.locate(s) for s in sources], dtype=np.int64)
        dst = np.array([self.locate(d) for d in destinations], dtype=np.int64)
        turns = self.network.turn_graph
        keys, arc_m = self._arc_lengths(engine) if distances else (None, None)
        times = np.full((len(src), len(dst)), np.inf)
        lengths = np.full((len(src), len(dst)), np.inf) if distances else None
        if len(np.unique(dst)) < len(np.unique(src)):
            for t in np.unique(dst).tolist():  # backwards: pred[x] is x's next node
                dist, pred, _ = dijkstra(engine.reverse, indices=turns.copies(t), min_only=True,
                                         return_predecessors=True)
                cols = dst == t
                times[:, cols] = dist[src][:, None]
                if distances:
                    tree = self._tree_lengths(pred, lambda n, p: self._lookup(keys, arc_m, n, p))
                    lengths[:, cols] = np.where(np.isfinite(dist[src]), tree[src], np.inf)[:, None]
        else:
            for s in np.unique(src).tolist():  # forwards: pred[x] is x's previous node
                dist, pred = dijkstra(engine.matrix, indices=s, return_predecessors=True)
                best = [turns.copies(t)[np.argmin(dist[turns.copies(t)])] for t in dst.tolist()]
                rows = src == s
                times[rows, :] = dist[best][None, :]
                if distances:
                    tree = self._tree_lengths(pred, lambda n, p: self._lookup(keys, arc_m, p, n))
                    lengths[rows, :] = np.where(np.isfinite(dist[best]), tree[best], np.inf)[None, :]
        return {"vehicle": vehicle, "peak": peak, "durations": times, "distances": lengths}

    def _arc_lengths(self, engine: PathEngine) -> tuple[np.ndarray, np.ndarray]:
        """Sorted ``tail * n + head`` keys of the searched arcs and their lengths (the
        cheapest arc per node pair, as :func:`routing.engine.cheapest_csr` keeps it)."""
        turns = self.network.turn_graph
        w = engine.turn_weights
        ok = np.flatnonzero(np.isfinite(w))
        order = ok[np.lexsort((w[ok], turns.head[ok], turns.tail[ok]))]
        first = np.ones(len(order), dtype=bool)
        first[1:] = ((turns.tail[order][1:] != turns.tail[order][:-1])
                     | (turns.head[order][1:] != turns.head[order][:-1]))
        keep = order[first]
        keys = turns.tail[keep] * turns.n_nodes + turns.head[keep]
        return keys, self.network.length[turns.edge[keep]]

    def _lookup(self, keys: np.ndarray, arc_m: np.ndarray, tail: np.ndarray,
                head: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(keys, tail * self.network.turn_graph.n_nodes + head)
        return arc_m[np.minimum(pos, len(keys) - 1)]

    @staticmethod
    def _tree_lengths(pred: np.ndarray,
                      arc: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """Length from every node of a shortest-path tree to its root (pointer jumping).

        ``pred`` is scipy's predecessor array (negative at the root and unreached nodes);
        ``arc(nodes, preds)`` gives the length of the arc joining each node to its parent.
        """
        pred = np.asarray(pred, dtype=np.int64)
        has = np.flatnonzero(pred >= 0)
        acc = np.zeros(len(pred))
        acc[has] = arc(has, pred[has])
        up = np.where(pred >= 0, pred, -1)
        while True:
            live = np.flatnonzero(up >= 0)
            if not len(live):
                return acc
            parents = up[live]
            acc[live] = acc[live] + acc[parents]
            up[live] = up[parents]

    # -- dispatch and coverage ----------------------------------------------------
    @staticmethod
    def _check_vehicle(vehicle: str) -> None:
        if vehicle not in VEHICLES:
            raise InvalidVehicle(f"unknown vehicle {vehicle!r}; use one of {', '.join(VEHICLES)}")

    def _stations_of(self, vehicle: str) -> gpd.GeoDataFrame:
        self._check_vehicle(vehicle)
        return self.stations[self.stations["kind"] == vehicle]

    def dispatch(self, incident: Location, *, vehicle: str = "fire", green_wave: bool = True,
                 limit: int = 5, depart_at: dt.datetime | None = None) -> list[dict]:
        """Stations ranked by their honest ETA to an incident.

        One search on the reversed graph finds every station's cruise time; the
        :data:`DISPATCH_CANDIDATES` + ``limit`` fastest are then timed with the ETA model
        (:func:`routing.arrivals.timed_wave`: standing start, turns, the residual waits
        the controller limits leave with priority, the reds and their queues without) and
        ranked by the ETA with priority (``green_wave``) or without. Candidates are timed
        in the order of their unimpeded arrival (a lower bound of both ETAs), until that
        bound is later than the ``limit``-th ETA found: the ranking is that of timing
        them all. Stations with no
        vehicle available are not ranked; roads closed over a window holding at
        ``depart_at`` (default now) are avoided.

        Returns
        -------
        list of dict
            Per station: ``station``, ``name``, ``lon``, ``lat``, ``eta_s``,
            ``eta_without_priority_s``, ``cruise_s`` (the routing engine's travel time)
            and ``distance_m``.
        """
        target = self.locate(incident)
        self._check_vehicle(vehicle)
        when = _local(depart_at, self.tz)
        records, nodes = self._fleet.get(vehicle, ([], np.zeros(0, dtype=np.int64)))
        engine = self.engine_at(vehicle, depart_at=when)[0]
        cruise = engine.many_to_one(target, nodes)
        speeds = self.eta_speeds(vehicle)
        key = "eta_s" if green_wave else "eta_without_priority_s"
        candidates = []
        for i in np.argsort(cruise, kind="stable")[:limit + DISPATCH_CANDIDATES]:
            if not np.isfinite(cruise[i]):
                break
            path = engine.route(int(nodes[i]), target)
            arrivals = predict(self.network, path, speeds, at=when, tz=self.tz)
            candidates.append((float(arrivals.arrival_s[-1]), int(i), path, arrivals))
        if not candidates:
            raise Unreachable("no station can reach the incident")
        ranked: list[dict] = []
        for bound, i, path, arrivals in sorted(candidates, key=lambda c: c[:2]):
            if len(ranked) >= limit and bound > ranked[limit - 1][key]:
                break  # neither ETA can be earlier than the unimpeded arrival
            wave = timed_wave(self.network, arrivals, speeds, run_id="dispatch", tz=self.tz)
            ranked.append({**records[i], "eta_s": round(wave.eta_s, 1),
                           "eta_without_priority_s": round(wave.eta_without_priority_s, 1),
                           "cruise_s": round(float(cruise[i]), 1),
                           "distance_m": round(path.length_m, 1)})
            ranked.sort(key=lambda r: (r[key], r["cruise_s"]))
        return ranked[:limit]

    def isochrone(self, station_id: str, minutes: float, *, green_wave: bool = True,
                  depart_at: dt.datetime | None = None) -> dict:
        """Area a station reaches within ``minutes`` (GeoJSON polygon + stats)."""
        if not 0 < minutes <= MAX_ISOCHRONE_MIN:
            raise InvalidRequest(f"minutes must be in (0, {MAX_ISOCHRONE_MIN:.0f}]")
        row = self.stations[self.stations["id"] == station_id]
        if row.empty:
            raise StationNotFound(f"unknown station {station_id!r}")
        engine, _ = self.engine_at(str(row["kind"].iloc[0]), depart_at=depart_at,
                                   green_wave=green_wave)
        poly = engine.isochrone(self.station_node(station_id), minutes * 60)
        return {"station": station_id, "minutes": minutes, "green_wave": green_wave,
                "geometry": shapely.geometry.mapping(poly), "versions": self.versions}

    def coverage(self, *, vehicle: str = "fire", minutes: float = 5.0,
                 add_stations: Sequence[tuple[float, float]] = (),
                 remove_stations: Sequence[str] = (),
                 depart_at: dt.datetime | None = None) -> dict:
        """Share of road length and households within ``minutes`` of any station.

        Road closures and station changes are what-ifs of their own: derive a service
        under those edits (:meth:`twin.city.City.scenario`) and ask it.

        Parameters
        ----------
        vehicle : str
            ``fire`` or ``ambulance``.
        minutes : float
            Time budget.
        add_stations : sequence of (lon, lat)
            What-if: extra stations.
        remove_stations : sequence of str
            What-if: station ids taken out.
        depart_at : datetime, optional
            When (roads closed over a window then are left out); default now.

        Returns
        -------
        dict
            ``with_green_wave`` and ``without_green_wave``, each with
            ``road_length_share`` and ``household_share``; the stations used; the layer
            ``versions``.
        """
        if not 0 < minutes <= MAX_ISOCHRONE_MIN:
            raise InvalidRequest(f"minutes must be in (0, {MAX_ISOCHRONE_MIN:.0f}]")
        stations = self._stations_of(vehicle)
        unknown = set(remove_stations) - set(stations["id"])
        if unknown:
            raise StationNotFound(f"unknown stations: {', '.join(sorted(unknown))}")
        nodes = [self._station_nodes[s] for s in stations["id"] if s not in set(remove_stations)]
        nodes += [self.network.snap(lon, lat)[0] for lon, lat in add_stations]
        result = {}
        for label, gw in (("with_green_wave", True), ("without_green_wave", False)):
            engine, _ = self.engine_at(vehicle, depart_at=depart_at, green_wave=gw)
            times = engine.multi_source(np.asarray(nodes, dtype=np.int64))
            result[label] = self._coverage_shares(engine, times, minutes * 60)
        return {"vehicle": vehicle, "minutes": minutes, "stations": len(nodes), **result,
                "versions": self.versions}

    def _coverage_shares(self, engine: PathEngine, times: np.ndarray, budget: float) -> dict:
        net = self.network
        tu = times[net.edge_u]
        w = engine.weights
        ok = np.isfinite(tu) & np.isfinite(w)
        frac = np.zeros(len(w))
        frac[ok] = np.clip((budget - tu[ok]) / w[ok], 0, 1)
        road_share = float((frac * net.length).sum() / net.length.sum())
        if len(self._households):
            reached = times[self._home_nodes] <= budget
            hh_share = float(self._households[reached].sum() / self._households.sum())
        else:
            hh_share = float("nan")
        return {"road_length_share": round(road_share, 4), "household_share": round(hh_share, 4)}
