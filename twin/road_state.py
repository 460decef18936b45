"""What the ``roads`` layer says about driving now: speeds, closures (with time windows),
one-way streets and lanes, as per-edge arrays of a routing network.

A road feature is one direction of one segment (``u`` -> ``v``). The properties an editor
changes, and what they do to the models:

* ``closed`` (bool), with an optional window ``closed_from`` / ``closed_until`` (ISO 8601
  with a UTC offset; either may be missing = open-ended): closed for every departure in
  ``[closed_from, closed_until)`` — roadworks, 施工占道; without a window, closed now;
* ``maxspeed`` (km/h, a number or OSM's ``"50"`` / ``"30 mph"``): the free-flow speed;
  otherwise the imputed ``speed_kph``;
* ``oneway`` (bool): set on a feature of a two-way street, the opposite direction (the
  features of the same OSM way running ``v`` -> ``u``) is closed;
* ``lanes``: per direction, read by the green-wave queue estimate.

:func:`street_features` selects both directions of a street by name and, optionally, a
line along it, so a closure of "a stretch of 延安东路" closes each of its features.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.errors import InvalidFeature
from routing.network import RoadNetwork

__all__ = ["Closure", "EdgeState", "edge_state", "edge_positions", "check_road_properties",
           "check_road_edit", "street_features", "parse_maxspeed", "ROAD_EDIT_FIELDS"]

#: Fields of the ``roads`` layer that the live models read (besides the topology).
ROAD_EDIT_FIELDS = ("closed", "closed_from", "closed_until", "maxspeed", "speed_kph",
                    "oneway", "lanes")
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)
_MPH = 1.609344


@dataclass(frozen=True)
class Closure:
    """A road edge closed over a time window (either end may be open)."""

    edge: int
    start: dt.datetime | None
    end: dt.datetime | None

    def active(self, when: dt.datetime) -> bool:
        """Whether the edge is closed for a departure at ``when`` (aware)."""
        return (self.start is None or self.start <= when) and (self.end is None or when < self.end)


@dataclass(frozen=True)
class EdgeState:
    """Per-edge arrays of a network, as the roads layer has them now.

    Attributes
    ----------
    speed_kph, lanes : numpy.ndarray
        Free-flow speed and lanes per edge.
    closed : numpy.ndarray of bool
        Closed whatever the departure time.
    windows : tuple of Closure
        Closures that hold over a time window only.
    """

    speed_kph: np.ndarray
    closed: np.ndarray
    lanes: np.ndarray
    windows: tuple[Closure, ...]


def parse_maxspeed(value: Any) -> float | None:
    """km/h of an OSM ``maxspeed`` value (``50``, ``"50"``, ``"30 mph"``); None otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    match = _SPEED.match(str(value))
    if not match:
        return None
    kph = float(match.group(1)) * (_MPH if (match.group(2) or "").lower() == "mph" else 1.0)
    return kph if kph > 0 else None


def _time(value: Any, field: str) -> dt.datetime | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidFeature(f"{field} must be an ISO 8601 time with a UTC offset, "
                             f"e.g. 2026-12-01T08:00:00+08:00; got {value!r}") from None
    if when.tzinfo is None:
        raise InvalidFeature(f"{field} needs a UTC offset (e.g. +08:00): {value!r}")
    return when


def check_road_properties(properties: Mapping[str, Any]) -> None:
    """Refuse road properties the models could not read.

    Raises
    ------
    layers.errors.InvalidFeature
        A closure time without a UTC offset or not ISO 8601, a window ending before it
        starts, a non-positive or unreadable ``maxspeed`` or ``speed_kph``, or lanes < 1.
    """
    start = _time(properties.get("closed_from"), "closed_from")
    end = _time(properties.get("closed_until"), "closed_until")
    if start is not None and end is not None and end <= start:
        raise InvalidFeature(f"closed_until ({end.isoformat()}) must be after closed_from "
                             f"({start.isoformat()})")
    for key in ("maxspeed", "speed_kph"):
        value = properties.get(key)
        if value is not None and parse_maxspeed(value) is None:
            raise InvalidFeature(f"{key} must be a positive speed in km/h (or '30 mph'); "
                                 f"got {value!r}")
    lanes = properties.get("lanes")
    if lanes is not None and (isinstance(lanes, bool) or not isinstance(lanes, int | float)
                              or lanes < 1):
        raise InvalidFeature(f"lanes must be a number >= 1; got {lanes!r}")


def check_road_edit(patch: Mapping[str, Any], current: Mapping[str, Any] | None) -> None:
    """:func:`check_road_properties` of a patch over a road's current closure window (the
    check the layer service runs on every road edit)."""
    window = {k: (current or {}).get(k) for k in ("closed_from", "closed_until")}
    check_road_properties({**window, **patch})


def _column(roads: pd.DataFrame, name: str, default: Any) -> pd.Series:
    return roads[name] if name in roads.columns else pd.Series(default, index=roads.index)


def edge_state(roads: gpd.GeoDataFrame, network: RoadNetwork) -> EdgeState:
    """The per-edge arrays of ``network`` that the ``roads`` layer sets.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        The roads layer (feature id index; ``u``, ``v``, ``osmid`` and the fields of
        :data:`ROAD_EDIT_FIELDS`).
    network : RoadNetwork
        A network built from the same topology (its ``road_ids`` name the features).

    Returns
    -------
    EdgeState
    """
    edge_of = edge_positions(roads, network)
    known = edge_of >= 0
    rows = roads[known] if not known.all() else roads
    edges = edge_of[known]
    speed = network.speed_kph.copy()
    imputed = pd.to_numeric(_column(rows, "speed_kph", np.nan), errors="coerce").to_numpy(float)
    posted = _maxspeeds(_column(rows, "maxspeed", None))
    chosen = np.where(np.isfinite(posted), posted, imputed)
    ok = np.isfinite(chosen) & (chosen > 0)
    speed[edges[ok]] = chosen[ok]
    lanes = network.lanes.copy()
    lane_values = pd.to_numeric(_column(rows, "lanes", np.nan), errors="coerce").to_numpy(float)
    ok = np.isfinite(lane_values) & (lane_values >= 1)
    lanes[edges[ok]] = lane_values[ok].astype(lanes.dtype)
    closed = np.zeros(network.n_edges, dtype=bool)
    windows = []
    flags = _column(rows, "closed", False).fillna(False).astype(bool).to_numpy()
    starts, ends = _column(rows, "closed_from", None), _column(rows, "closed_until", None)
    for i in np.flatnonzero(flags):
        start, end = _time(starts.iloc[i], "closed_from"), _time(ends.iloc[i], "closed_until")
        if start is None and end is None:
            closed[edges[i]] = True
        else:
            windows.append(Closure(int(edges[i]), start, end))
    closed |= _reverse_of_oneway(rows, edges, network)
    return EdgeState(speed, closed, lanes, tuple(windows))


def edge_positions(roads: pd.DataFrame, network: RoadNetwork) -> np.ndarray:
    """Per road feature, its edge's position in ``network`` (-1 for a feature it lacks).

    One hash lookup per feature, on an index of the network's road ids kept with the
    network (so a live edit at 100k roads costs milliseconds here)."""
    index = network.__dict__.get("_road_index")
    if index is None:
        index = network.__dict__["_road_index"] = pd.Index(network.road_ids)
    return index.get_indexer(roads.index)


def _maxspeeds(values: pd.Series) -> np.ndarray:
    """km/h of each ``maxspeed`` value (NaN where unreadable), parsing each distinct once."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    parsed = np.array([parse_maxspeed(v) or np.nan for v in uniques] + [np.nan])
    return parsed[codes]  # the sentinel -1 picks the trailing NaN


def _reverse_of_oneway(rows: pd.DataFrame, edges: np.ndarray, network: RoadNetwork) -> np.ndarray:
    """Edges running against a feature marked one-way on the same OSM way."""
    out = np.zeros(network.n_edges, dtype=bool)
    oneway = _column(rows, "oneway", False).fillna(False).astype(bool).to_numpy()
    if not oneway.any():
        return out
    ends = pd.DataFrame({"u": network.edge_u[edges], "v": network.edge_v[edges],
                         "way": _column(rows, "osmid", -1).to_numpy(), "edge": edges})
    against = ends[oneway].rename(columns={"u": "v", "v": "u"})[["u", "v", "way"]]
    twins = ends.merge(against, on=["u", "v", "way"])  # an OSM one-way street has none
    out[twins["edge"].to_numpy()] = True
    return out


def street_features(roads: gpd.GeoDataFrame, name: str, *,
                    line: shapely.Geometry | None = None, within_m: float = 20.0) -> list[Any]:
    """Feature ids of a street, both directions, optionally only along a line.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        The roads layer.
    name : str
        The street's name (exact, e.g. ``"延安东路"``).
    line : shapely geometry, optional
        A line (WGS84) along the stretch meant: only features whose whole length lies
        within ``within_m`` of it are taken.
    within_m : float
        Tolerance around ``line``, metres.

    Returns
    -------
    list
        Feature ids, sorted.

    Examples
    --------
    >>> street_features(city.layers["roads"].data, "延安东路")[:2]     # doctest: +SKIP
    """
    named = roads[roads["name"].astype("string") == name]
    if line is not None and len(named):
        lat = math.radians(float(shapely.centroid(line).y))
        scale = (111_320.0 * math.cos(lat), 110_540.0)
        zone = shapely.transform(line, lambda c: c * scale).buffer(within_m)
        projected = named.geometry.apply(lambda g: shapely.transform(g, lambda c: c * scale))
        named = named[shapely.covers(zone, projected.to_numpy())]
    return sorted(named.index.tolist())
