"""Turn restrictions are honoured by routes, one-to-many searches and dispatch."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from routing.engine import PathEngine
from routing.errors import InvalidRequest
from routing.network import RoadNetwork
from routing.profiles import Profile
from routing.turns import TurnGraph, forbidden_turns
from twin.osm import read_osm_drive_graph, read_turn_restrictions
from twin.roads import prepare_drive_graph, restrictions_layer


def grid_graph(side: int = 5, *, seed: int = 0) -> nx.MultiDiGraph:
    """A two-way street grid, ~110 m blocks, node id = 100 + row * side + col."""
    rng = np.random.default_rng(seed)
    g = nx.MultiDiGraph(crs="epsg:4326")
    for i in range(side):
        for j in range(side):
            g.add_node(100 + i * side + j, x=121.0 + j * 0.001, y=31.0 + i * 0.001)
    for i in range(side):
        for j in range(side):
            a = 100 + i * side + j
            for b in ([a + 1] if j + 1 < side else []) + ([a + side] if i + 1 < side else []):
                data = {"length": 100.0 + 20 * rng.random(), "highway": "residential",
                        "speed_kph": 30.0}
                g.add_edge(a, b, **data)
                g.add_edge(b, a, **data)
    return g


def uses_turn(path_nodes: list[int], net: RoadNetwork, a: int, via: int, b: int) -> bool:
    ids = [int(net.node_ids[n]) for n in path_nodes]
    return any(ids[k:k + 3] == [a, via, b] for k in range(len(ids) - 2))


def test_no_turn_is_avoided() -> None:
    g = grid_graph()
    # 110 -> 111 -> 106 is the direct way from 110 to 106 (a left turn at 111)
    plain = PathEngine(RoadNetwork(g), Profile.car())
    net = RoadNetwork(g, restrictions=[(110, 111, 106, "no_left_turn")])
    engine = PathEngine(net, Profile.car())
    s, t = net.index(110), net.index(106)
    assert uses_turn(plain.route(s, t).nodes, net, 110, 111, 106)
    path = engine.route(s, t)
    assert not uses_turn(path.nodes, net, 110, 111, 106)
    assert path.duration_s > plain.route(s, t).duration_s
    assert path.nodes[0] == s and path.nodes[-1] == t
    # the turn is only forbidden coming from 110: from 116 through 111 to 106 is allowed
    assert engine.route(net.index(116), t).nodes == plain.route(net.index(116), t).nodes


def test_only_turn_allows_nothing_else() -> None:
    g = grid_graph()
    net = RoadNetwork(g, restrictions=[(110, 111, 112, "only_straight_on")])
    engine = PathEngine(net, Profile.car())
    for target in (106, 116):
        path = engine.route(net.index(110), net.index(target))
        assert not uses_turn(path.nodes, net, 110, 111, target)


def test_routes_equal_dijkstra_on_the_expanded_graph() -> None:
    g = grid_graph(7, seed=4)
    rng = np.random.default_rng(2)
    restrictions = []
    for via in rng.choice(np.arange(108, 141), 12, replace=False):
        nbrs = sorted(set(g.predecessors(int(via))))
        a, b = rng.choice(nbrs, 2, replace=False)
        restrictions.append((int(a), int(via), int(b), "no_right_turn"))
    net = RoadNetwork(g, restrictions=restrictions)
    assert net.turn_graph.n_copies == len({(a, v) for a, v, _, _ in restrictions})
    engine = PathEngine(net, Profile.car())
    turns = net.turn_graph
    full = dijkstra(engine.matrix)  # every expanded node to every expanded node
    for s in range(net.n_nodes):
        best = turns.fold(full[s])[0]
        assert np.allclose(engine.one_to_many(s), best)
        for t in rng.integers(0, net.n_nodes, 8):
            path = engine.route(s, int(t))
            assert path.duration_s == pytest.approx(best[t], rel=1e-9)
            for a, via, b, _ in restrictions:
                assert not uses_turn(path.nodes, net, a, via, b)
            for e, f in zip(path.edges[:-1], path.edges[1:], strict=True):
                assert net.edge_v[e] == net.edge_u[f]
    assert np.allclose(engine.many_to_one(3), [turns.fold(full[s])[0][3] for s in range(net.n_nodes)])


def test_forbidden_turns_and_expansion() -> None:
    # a T junction: 0 -> 1, 1 -> 2, 1 -> 3, 2 -> 1
    u, v = np.array([0, 1, 1, 2]), np.array([1, 2, 3, 1])
    assert forbidden_turns(u, v, [(0, 1, 2, "no_left_turn")]).tolist() == [[0, 1]]
    assert forbidden_turns(u, v, [(0, 1, 2, "only_left_turn")]).tolist() == [[0, 2]]
    with pytest.raises(InvalidRequest):
        forbidden_turns(u, v, [(0, 1, 2, "maybe_left")])
    turns = TurnGraph.build(4, u, v, forbidden_turns(u, v, [(0, 1, 2, "no_left_turn")]))
    assert turns.n_nodes == 5 and turns.copies(1).tolist() == [1, 4]
    # edge 0 now ends at the copy, which only continues to 3
    assert turns.head[0] == 4
    assert sorted(turns.edge[turns.tail == 4].tolist()) == [2]


def test_unknown_restriction_nodes_are_ignored() -> None:
    net = RoadNetwork(grid_graph(3), restrictions=[(1, 2, 3, "no_u_turn")])
    assert net.restrictions == [] and net.turn_graph.n_copies == 0


def plus_junction_osm(path: Path) -> Path:
    """A 3x3 block of streets around junction 5; the left turn 4 -> 5 -> 8 is forbidden."""
    nodes = {n: (121.0 + 0.001 * ((n - 1) % 3), 31.0 + 0.001 * ((n - 1) // 3)) for n in range(1, 10)}
    nodes[7] = (120.9995, 31.0025)  # the way round the corner is longer than the left turn
    ways = {11: [1, 2, 3], 12: [4, 5], 13: [5, 6], 14: [7, 8, 9], 15: [1, 4, 7], 16: [2, 5],
            17: [5, 8], 18: [3, 6, 9]}
    xml = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']
    xml += [f'<node id="{n}" version="1" lat="{lat}" lon="{lon}"/>' for n, (lon, lat) in nodes.items()]
    for w, refs in ways.items():
        xml.append(f'<way id="{w}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                   + '<tag k="highway" v="residential"/><tag k="name" v="w"/></way>')
    xml.append('<relation id="1" version="1"><member type="way" ref="12" role="from"/>'
               '<member type="node" ref="5" role="via"/><member type="way" ref="17" role="to"/>'
               '<tag k="type" v="restriction"/><tag k="restriction" v="no_left_turn"/></relation>')
    xml.append('<relation id="2" version="1"><member type="way" ref="12" role="from"/>'
               '<member type="node" ref="5" role="via"/><member type="way" ref="17" role="to"/>'
               '<tag k="type" v="restriction"/><tag k="restriction:hgv" v="no_left_turn"/></relation>')
    xml.append("</osm>")
    path.write_text("\n".join(xml))
    return path


@pytest.mark.parametrize("consolidate", [False, True])
def test_osm_restrictions_reach_the_engine(tmp_path: Path, consolidate: bool) -> None:
    osm = plus_junction_osm(tmp_path / "plus.osm")
    table = read_turn_restrictions(osm)
    assert table[["from_way", "via_node", "to_way", "restriction"]].values.tolist() == [
        [12, 5, 17, "no_left_turn"]]
    graph = prepare_drive_graph(read_osm_drive_graph(osm), restrictions=table,
                                consolidate=consolidate)
    (a, via, b, kind), = graph.graph["turn_restrictions"]
    assert kind == "no_left_turn"
    assert (graph.nodes[a]["x"], graph.nodes[via]["x"], graph.nodes[b]["x"]) == pytest.approx(
        (121.0, 121.001, 121.001), abs=1e-6)
    assert graph.nodes[b]["y"] == pytest.approx(31.002, abs=1e-6)
    layer = restrictions_layer(graph)
    net = RoadNetwork.from_layers(graph, None, layer)
    engine = PathEngine(net, Profile.car())
    path = engine.route(net.index(a), net.index(b))
    assert not uses_turn(path.nodes, net, a, via, b)
    plain = PathEngine(RoadNetwork(graph, restrictions=[]), Profile.car())
    assert uses_turn(plain.route(net.index(a), net.index(b)).nodes, net, a, via, b)
