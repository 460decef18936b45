"""The road network of a twin: from raw OSM graph to the routable, attributed graph.

Steps (all offline):

1. mark signalized OSM nodes (``highway=traffic_signals`` on the node, plus external
   signal points within :data:`SIGNAL_SNAP_M` metres) so that simplification keeps them;
2. simplify (osmnx) and consolidate the nodes of one junction within
   :data:`JUNCTION_TOLERANCE_M` into one intersection, so that a dual-carriageway crossing
   is one signalized intersection, not four;
3. normalise edge attributes (one road class, an integer lane count, a name);
4. impute speeds per road class (:data:`DEFAULT_SPEEDS_KPH`, OSM ``maxspeed`` where
   tagged) and travel times;
5. carry OSM turn restrictions (from way, via node, to way) over to the final graph as
   node triples ``(from, via, to, kind)`` in ``graph.graph["turn_restrictions"]``.
   A restriction inside a consolidated junction cannot be expressed between its nodes
   any more and is dropped (logged).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely

__all__ = [
    "DEFAULT_SPEEDS_KPH",
    "DEFAULT_LANES",
    "JUNCTION_TOLERANCE_M",
    "SIGNAL_SNAP_M",
    "prepare_drive_graph",
    "graph_to_layers",
    "restrictions_layer",
    "road_feature_ids",
    "ROAD_ID_STRIDE",
    "layers_to_graph",
    "signal_nodes",
    "snap_points",
]

logger = logging.getLogger(__name__)

#: Free-flow urban speed by road class (km/h), used where OSM has no ``maxspeed``.
DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 80, "motorway_link": 50, "trunk": 60, "trunk_link": 40,
    "primary": 50, "primary_link": 35, "secondary": 40, "secondary_link": 30,
    "tertiary": 35, "tertiary_link": 25, "unclassified": 30, "residential": 25,
    "living_street": 15, "service": 15, "road": 25,
}
#: Lanes per direction by road class where OSM has no ``lanes`` tag.
DEFAULT_LANES: dict[str, int] = {
    "motorway": 3, "trunk": 3, "primary": 2, "secondary": 2, "tertiary": 1,
}
_CLASS_ORDER = list(DEFAULT_SPEEDS_KPH)
JUNCTION_TOLERANCE_M = 12.0
#: Road feature id = OSM way id × this + the edge's rank within the way.
ROAD_ID_STRIDE = 1000
SIGNAL_SNAP_M = 15.0


def _first(value: object) -> object:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _road_class(value: object) -> str:
    values = value if isinstance(value, list) else [value]
    known = [v for v in values if v in DEFAULT_SPEEDS_KPH]
    if not known:
        return "road"
    return min(known, key=_CLASS_ORDER.index)


def _lanes(value: object, road_class: str, oneway: bool) -> int:
    values = value if isinstance(value, list) else [value]
    parsed = []
    for v in values:
        try:
            parsed.append(int(float(str(v).split(";")[0])))
        except (TypeError, ValueError):
            continue
    if parsed:
        total = max(parsed)
        return max(1, total if oneway else total // 2 or 1)
    return DEFAULT_LANES.get(road_class.replace("_link", ""), 1)


def _name(value: object) -> str | None:
    values = value if isinstance(value, list) else [value]
    names = [v for v in values if isinstance(v, str) and v]
    return names[0] if names else None


def _mark_signals(graph: nx.MultiDiGraph, extra_signals: gpd.GeoDataFrame | None) -> int:
    signal_nodes = {n for n, d in graph.nodes(data=True) if d.get("highway") == "traffic_signals"}
    if extra_signals is not None and len(extra_signals):
        nodes = ox.graph_to_gdfs(graph, edges=False)[["geometry"]]
        utm = nodes.estimate_utm_crs()
        nodes_m = nodes.to_crs(utm)
        pts = extra_signals.to_crs(utm)[["geometry"]]
        joined = gpd.sjoin_nearest(pts, nodes_m, max_distance=SIGNAL_SNAP_M, how="inner")
        signal_nodes.update(joined["osmid"] if "osmid" in joined else joined["index_right"])
    for n in signal_nodes:
        graph.nodes[n]["signal"] = True
    return len(signal_nodes)


def _way_ids(data: dict) -> set[int]:
    osmid = data.get("osmid")
    return {int(w) for w in osmid} if isinstance(osmid, list) else {int(osmid or 0)}


def _resolve_restrictions(graph: nx.MultiDiGraph,
                          restrictions: pd.DataFrame | None) -> list[tuple[int, int, int, str]]:
    """Way-based restrictions as node triples of ``graph`` (edges still carry way ids)."""
    if restrictions is None or restrictions.empty:
        return []
    triples = []
    for row in restrictions.itertuples():
        via = int(row.via_node)
        if via not in graph:
            continue
        froms = {u for u, _, d in graph.in_edges(via, data=True) if row.from_way in _way_ids(d)}
        tos = {v for _, v, d in graph.out_edges(via, data=True) if row.to_way in _way_ids(d)}
        triples += [(a, via, b, str(row.restriction)) for a in froms for b in tos]
    return triples


def _map_restrictions(triples: list[tuple[int, int, int, str]],
                      mapping: dict[int, int]) -> list[tuple[int, int, int, str]]:
    """Triples renamed by ``mapping``; those whose via node absorbed an end are dropped."""
    out = []
    for a, via, b, kind in triples:
        ma, mv, mb = mapping.get(a), mapping.get(via), mapping.get(b)
        if None in (ma, mv, mb) or ma == mv or mb == mv:
            continue
        out.append((ma, mv, mb, kind))
    if len(out) < len(triples):
        logger.info("%d turn restrictions inside consolidated junctions dropped",
                    len(triples) - len(out))
    return out


def prepare_drive_graph(
    raw: nx.MultiDiGraph,
    *,
    extra_signals: gpd.GeoDataFrame | None = None,
    consolidate: bool = True,
    restrictions: pd.DataFrame | None = None,
) -> nx.MultiDiGraph:
    """Turn a raw (unsimplified) OSM drive graph into the twin's road graph.

    Parameters
    ----------
    raw : networkx.MultiDiGraph
        From :func:`twin.osm.read_osm_drive_graph` (EPSG:4326), or an already simplified
        osmnx graph (e.g. loaded from GraphML), which is not simplified again.
    extra_signals : geopandas.GeoDataFrame, optional
        Signal points from another source, snapped to OSM nodes within
        :data:`SIGNAL_SNAP_M` metres.
    consolidate : bool
        Merge the nodes of one junction into one intersection.
    restrictions : pandas.DataFrame, optional
        OSM turn restrictions (:func:`twin.osm.read_turn_restrictions`).

    Returns
    -------
    networkx.MultiDiGraph
        Simplified graph in EPSG:4326; nodes with ``x``, ``y``, ``signal``,
        ``street_count``; edges with ``length`` (m), ``highway`` (one class),
        ``lanes`` (per direction), ``name``, ``oneway``, ``speed_kph``, ``travel_time`` (s),
        ``geometry`` and ``osmid`` / ``osm_from`` / ``osm_to`` (the OSM way and the OSM
        nodes it runs between); nodes carry ``osm_node`` (the smallest OSM node id of the
        junction); ``graph.graph["turn_restrictions"]`` lists the restrictions
        as ``(from node, via node, to node, kind)``.
    """
    graph = raw.copy()
    for node, data in graph.nodes(data=True):
        data.setdefault("osm_node", int(node) if isinstance(node, (int, np.integer)) else 0)
    n_signals = _mark_signals(graph, extra_signals)
    logger.info("marked %d signalized OSM nodes", n_signals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        if not graph.graph.get("simplified", False):
            graph = ox.simplify_graph(graph, node_attrs_include=["signal"])
        turns = _resolve_restrictions(graph, restrictions)
        if consolidate:
            projected = ox.project_graph(graph)
            projected = ox.consolidate_intersections(
                projected, tolerance=JUNCTION_TOLERANCE_M, rebuild_graph=True,
                dead_ends=True, reconnect_edges=True, node_attr_aggs={"osm_node": "min"},
            )
            graph = ox.project_graph(projected, to_latlong=True)
            mapping = {}
            for node, data in graph.nodes(data=True):
                original = data.get("osmid_original", node)
                for old in original if isinstance(original, list) else [original]:
                    mapping[int(old)] = node
            turns = _map_restrictions(turns, mapping)
    for _, data in graph.nodes(data=True):
        data["signal"] = bool(data.get("signal", False))
        data["osm_node"] = int(_min_osm(data.get("osm_node", 0)))
        data.pop("osmid_original", None)
        data.pop("cluster", None)
        if isinstance(data.get("highway"), list):
            data["highway"] = "traffic_signals" if data["signal"] else _first(data["highway"])
    for u, v, data in graph.edges(data=True):
        # the OSM nodes the edge runs between (before junctions were merged): with the
        # way id they name the edge stably across rebuilds (:func:`road_feature_ids`)
        data["osm_from"] = int(data.pop("u_original", graph.nodes[u]["osm_node"]))
        data["osm_to"] = int(data.pop("v_original", graph.nodes[v]["osm_node"]))
        road_class = _road_class(data.get("highway"))
        oneway = bool(_first(data.get("oneway", False)))
        data["highway"] = road_class
        data["oneway"] = oneway
        data["lanes"] = _lanes(data.get("lanes"), road_class, oneway)
        data["name"] = _name(data.get("name"))
        data["osmid"] = int(_first(data.get("osmid")) or 0)
        data["maxspeed"] = _first(data.get("maxspeed"))
        for key in ("reversed", "ref", "width", "bridge",
                    "tunnel", "junction", "access", "service", "est_width", "area"):
            data.pop(key, None)
    graph = ox.add_edge_speeds(graph, hwy_speeds=DEFAULT_SPEEDS_KPH, fallback=25.0)
    graph = ox.add_edge_travel_times(graph)
    labels = {old: new for new, old in enumerate(sorted(graph.nodes))}
    graph = nx.convert_node_labels_to_integers(graph, ordering="sorted")
    graph.graph["crs"] = "epsg:4326"
    graph.graph["turn_restrictions"] = _map_restrictions(turns, labels)
    return graph


def _min_osm(value: object) -> int:
    if isinstance(value, list):
        return min(int(v) for v in value) if value else 0
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def road_feature_ids(roads: pd.DataFrame) -> pd.Index:
    """Stable feature ids of road edges, derived from OSM ids.

    ``id = way id × 1000 + rank``, where ``rank`` orders the directed edges of one OSM
    way by the OSM nodes they run between (``osm_from``, ``osm_to``). The same source
    file gives the same ids on every rebuild, and an id names its way
    (``id // 1000``), so that edits and closures can refer to a road across rebuilds.

    Parameters
    ----------
    roads : pandas.DataFrame
        Edges with ``osmid`` (way id), ``osm_from``, ``osm_to``, ``u``, ``v``, ``key``.

    Returns
    -------
    pandas.Index
        Named ``id``, unique, int64, aligned with ``roads``.
    """
    order = roads.sort_values(["osmid", "osm_from", "osm_to", "u", "v", "key"], kind="stable")
    rank = order.groupby("osmid", sort=False).cumcount()
    if len(rank) and int(rank.max()) >= ROAD_ID_STRIDE:
        raise ValueError(f"an OSM way splits into more than {ROAD_ID_STRIDE} edges")
    ids = order["osmid"].astype("int64") * ROAD_ID_STRIDE + rank.astype("int64")
    return pd.Index(ids.reindex(roads.index).to_numpy(), name="id")


def restrictions_layer(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """The ``turn_restrictions`` layer: one point (the via node) per restricted turn.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        From :func:`prepare_drive_graph`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``from_node``, ``via_node``, ``to_node``, ``restriction``.
    """
    rows = graph.graph.get("turn_restrictions", [])
    frame = pd.DataFrame(rows, columns=["from_node", "via_node", "to_node", "restriction"])
    frame = frame.astype({"from_node": "int64", "via_node": "int64", "to_node": "int64"})
    points = [shapely.Point(graph.nodes[v]["x"], graph.nodes[v]["y"]) for v in frame["via_node"]]
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=4326), crs=4326)
    gdf["source"] = "osm"
    gdf.index = pd.RangeIndex(len(gdf), name="fid")
    return gdf


def graph_to_layers(graph: nx.MultiDiGraph) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split the road graph into ``nodes`` and ``roads`` layers.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        From :func:`prepare_drive_graph`.

    Returns
    -------
    nodes, roads : geopandas.GeoDataFrame
        ``nodes`` indexed by ``osmid`` (node id); ``roads`` with a plain integer index
        (the feature id) and ``u``, ``v``, ``key`` columns.
    """
    nodes, edges = ox.graph_to_gdfs(graph)
    cols = ["x", "y", "signal", "street_count", "osm_node", "geometry"]
    nodes = nodes[[c for c in cols if c in nodes.columns]].sort_index()
    nodes["street_count"] = nodes["street_count"].fillna(0).astype(int)
    nodes["signal"] = nodes["signal"].astype(bool)
    edges = edges.reset_index()
    keep = ["u", "v", "key", "osmid", "osm_from", "osm_to", "name", "highway", "lanes",
            "oneway", "maxspeed", "speed_kph", "length", "travel_time", "geometry"]
    roads = edges[[c for c in keep if c in edges.columns]].copy()
    roads["maxspeed"] = roads["maxspeed"].astype("string")
    roads["name"] = roads["name"].astype("string")
    # editable state the live models read (twin.road_state): open, no roadworks window
    roads["closed"] = False
    roads["closed_from"] = pd.Series(pd.NA, index=roads.index, dtype="string")
    roads["closed_until"] = pd.Series(pd.NA, index=roads.index, dtype="string")
    if {"osm_from", "osm_to"} <= set(roads.columns) and roads["osmid"].gt(0).all():
        roads.index = road_feature_ids(roads)
        roads = roads.sort_index()
    else:  # a graph without OSM ids (e.g. generated): positional ids
        roads.index = pd.RangeIndex(len(roads), name="id")
    return nodes, roads


def layers_to_graph(nodes: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> nx.MultiDiGraph:
    """Rebuild the road graph from the ``nodes`` and ``roads`` layers.

    Parameters
    ----------
    nodes, roads : geopandas.GeoDataFrame
        As written by :func:`graph_to_layers`.

    Returns
    -------
    networkx.MultiDiGraph
    """
    edges = roads.assign(road_id=roads.index).set_index(["u", "v", "key"])
    edges = edges.assign(name=edges["name"].astype(object).where(edges["name"].notna(), None))
    graph = ox.graph_from_gdfs(nodes, edges, graph_attrs={"crs": "epsg:4326"})
    return graph


def signal_nodes(graph: nx.MultiDiGraph) -> list[int]:
    """Ids of the signalized intersections of ``graph``."""
    return [n for n, d in graph.nodes(data=True) if d.get("signal")]


def snap_points(graph: nx.MultiDiGraph, points: Iterable[shapely.Point]) -> np.ndarray:
    """Nearest graph node of each point (haversine-free, via osmnx)."""
    pts = list(points)
    return np.asarray(ox.distance.nearest_nodes(graph, [p.x for p in pts], [p.y for p in pts]))
