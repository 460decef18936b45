"""Customizable contraction hierarchies equal Dijkstra before and after weight changes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from routing.cch import CCHTopology, CustomizedCCH
from routing.engine import PathEngine, cheapest_csr
from routing.errors import InvalidRequest, Unreachable
from routing.network import RoadNetwork
from routing.profiles import Profile
from twin import City


def random_graph(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Random points joined to near neighbours by one- and two-way arcs, plus a few
    parallel arcs and self loops."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, (n, 2))
    tail = rng.integers(0, n, m)
    near = np.argsort(((xy[tail, None, :] - xy[None, :, :]) ** 2).sum(-1), axis=1)[:, 1:6]
    head = near[np.arange(m), rng.integers(0, 5, m)]
    two_way = rng.random(m) < 0.6
    tail, head = np.concatenate([tail, head[two_way], tail[:5]]), \
        np.concatenate([head, tail[two_way], tail[:5]])
    return xy, tail, head, rng.uniform(1.0, 30.0, len(tail))


def assert_equals_dijkstra(cch: CustomizedCCH, n: int, tail: np.ndarray, head: np.ndarray,
                           weight: np.ndarray, seed: int, pairs: int = 600) -> None:
    """Distances equal scipy's Dijkstra; paths are connected and sum to the distance."""
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, n, 30)
    full = dijkstra(cheapest_csr(n, tail, head, weight), indices=sources)
    unreachable = 0
    for _ in range(pairs):
        i, t = int(rng.integers(0, len(sources))), int(rng.integers(0, n))
        s = int(sources[i])
        dist, arcs = cch.query(s, t)
        if not np.isfinite(full[i, t]):
            assert dist == np.inf and len(arcs) == 0
            unreachable += 1
            continue
        assert dist == pytest.approx(full[i, t], rel=1e-9)
        if s != t:
            assert tail[arcs[0]] == s and head[arcs[-1]] == t
            assert (head[arcs[:-1]] == tail[arcs[1:]]).all(), "the path is not connected"
            assert weight[arcs].sum() == pytest.approx(dist, rel=1e-9)
            assert np.isfinite(weight[arcs]).all()


def test_random_graph_before_and_after_weight_changes_and_closures() -> None:
    n = 400
    xy, tail, head, weight = random_graph(n, 900, seed=2)
    top = CCHTopology.build(n, tail, head, xy)
    assert top.n_shortcuts > 0
    cch = top.customize(weight)
    assert_equals_dijkstra(cch, n, tail, head, weight, seed=1)
    rng = np.random.default_rng(3)
    for round_ in range(4):
        changed = rng.choice(len(weight), 40, replace=False)
        new = weight.copy()
        new[changed[:15]] = np.inf  # closures
        new[changed[15:]] = rng.uniform(0.5, 60.0, 25)
        partial = cch.updated(new, changed)
        full = top.customize(new)
        np.testing.assert_array_equal(partial.up_w, full.up_w)
        np.testing.assert_array_equal(partial.dn_w, full.dn_w)
        assert_equals_dijkstra(partial, n, tail, head, new, seed=10 + round_)
        assert_equals_dijkstra(cch, n, tail, head, weight, seed=20 + round_, pairs=100)
        cch, weight = partial, new


def test_unreachable_multi_target_and_bad_input() -> None:
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [9.0, 9.0]])
    top = CCHTopology.build(4, np.array([0, 1, 2]), np.array([1, 2, 0]), xy)
    cch = top.customize(np.array([1.0, 2.0, 4.0]))
    assert cch.query(0, 3) == (np.inf, pytest.approx(np.zeros(0)))
    assert cch.query(1, 0)[0] == pytest.approx(6.0)
    dist, arcs = cch.query(0, np.array([2, 1]))
    assert dist == pytest.approx(1.0) and arcs.tolist() == [0]
    closed = cch.updated(np.array([1.0, np.inf, 4.0]), np.array([1]))
    assert closed.query(0, 2)[0] == np.inf
    assert cch.query(0, 2)[0] == pytest.approx(3.0), "the old metric is unchanged"
    with pytest.raises(ValueError):
        cch.query(0, 4)
    with pytest.raises(ValueError):
        top.customize(np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError):
        top.customize(np.array([1.0, 1.0]))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    n = 200
    xy, tail, head, weight = random_graph(n, 450, seed=4)
    top = CCHTopology.build(n, tail, head, xy)
    cch = top.customize(weight, fingerprint="w1")
    loaded_top = CCHTopology.load(top.save(tmp_path / "topology.npz"))
    loaded = CustomizedCCH.load(cch.save(tmp_path / "metric.npz"), loaded_top)
    assert loaded.fingerprint == "w1" and loaded_top.fingerprint == top.fingerprint
    for s, t in ((0, n - 1), (n - 1, 0), (17, 99)):
        assert loaded.query(s, t)[0] == cch.query(s, t)[0]
        assert loaded.query(s, t)[1].tolist() == cch.query(s, t)[1].tolist()
    other = CCHTopology.build(n, head, tail, xy)
    with pytest.raises(ValueError, match="another topology"):
        CustomizedCCH.load(tmp_path / "metric.npz", other)
    np.savez(tmp_path / "junk.npz", rank=np.arange(3))
    with pytest.raises(ValueError):
        CCHTopology.load(tmp_path / "junk.npz")


@pytest.fixture(scope="module")
def network(city: City) -> RoadNetwork:
    return RoadNetwork.from_layers(city.graph, city.layers["signals"].data)


def engine_matches_dijkstra(engine: PathEngine, seed: int, sources: int = 25) -> int:
    """Routes equal Dijkstra on the turn graph; returns how many pairs were unreachable."""
    turns = engine.network.turn_graph
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, engine.network.n_nodes, sources)
    full = turns.fold(dijkstra(engine.matrix, indices=nodes))
    unreachable = 0
    for i, s in enumerate(nodes):
        for t in rng.integers(0, engine.network.n_nodes, 20):
            if not np.isfinite(full[i, t]):
                with pytest.raises(Unreachable):
                    engine.route(int(s), int(t))
                unreachable += 1
                continue
            path = engine.route(int(s), int(t))
            assert path.duration_s == pytest.approx(full[i, t], rel=1e-9)
            assert np.isfinite(engine.weights[path.edges]).all()
    return unreachable


def test_engine_on_the_fixture_city_before_and_after_closures(network: RoadNetwork) -> None:
    engine = PathEngine(network, Profile.car(8))
    engine_matches_dijkstra(engine, seed=5)
    topology = engine.topology
    rng = np.random.default_rng(6)
    closed = rng.choice(len(network.edge_u), 60, replace=False)
    saved = network.closed.copy()
    try:
        network.closed[closed] = True
        engine.refresh()
        assert engine.topology is topology, "re-customized, not re-ordered"
        assert engine.customize_seconds > 0
        engine_matches_dijkstra(engine, seed=7)
    finally:
        network.closed[:] = saved
        engine.refresh()
    engine_matches_dijkstra(engine, seed=8, sources=5)


def test_with_weights_leaves_the_original_engine_alone(network: RoadNetwork) -> None:
    engine = PathEngine(network, Profile.emergency("fire"))
    s, t = (int(i) for i in network._routable_idx[[0, -1]])
    before = engine.route(s, t)
    weights = engine.weights.copy()
    weights[before.edges] = np.inf  # close the whole route
    rng = np.random.default_rng(9)
    weights *= rng.uniform(1.0, 2.0, len(weights))
    what_if = engine.with_weights(weights)
    assert what_if.topology is engine.topology
    try:
        detour = what_if.route(s, t)
        assert not set(detour.edges) & set(before.edges)
        assert detour.duration_s > before.duration_s
    except Unreachable:
        pass
    engine_matches_dijkstra(what_if, seed=10, sources=10)
    after = engine.route(s, t)
    assert after.edges == before.edges and after.duration_s == before.duration_s
    np.testing.assert_array_equal(engine.weights, network.edge_times(engine.profile))
    with pytest.raises(InvalidRequest):
        engine.with_weights(weights[:-1])
    with pytest.raises(InvalidRequest):
        engine.with_weights(-weights)


def test_queries_from_threads_while_refreshing(network: RoadNetwork) -> None:
    engine = PathEngine(network, Profile.car())
    rng = np.random.default_rng(12)
    pairs = rng.choice(network._routable_idx, size=(200, 2))
    expected = [engine.route(int(a), int(b)).duration_s for a, b in pairs]
    what_if = engine.with_weights(engine.weights * 2.0)
    errors: list[str] = []

    def ask() -> None:
        for (a, b), want in zip(pairs, expected, strict=True):
            got = engine.route(int(a), int(b)).duration_s
            if got != pytest.approx(want, rel=1e-9):
                errors.append(f"{a}->{b}: {got} != {want}")

    def customize_meanwhile() -> None:
        for k in range(20):
            engine.with_weights(engine.weights * (1.0 + k / 10))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    threads.append(threading.Thread(target=customize_meanwhile))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    for (a, b), want in list(zip(pairs, expected, strict=True))[:20]:
        assert what_if.route(int(a), int(b)).duration_s == pytest.approx(2.0 * want, rel=1e-9)


def test_turn_restrictions_are_honoured() -> None:
    import networkx as nx

    # a 3 x 3 grid of two-way streets; no left turn 3 -> 4 -> 1 at the centre
    g = nx.MultiDiGraph()
    for i in range(9):
        g.add_node(i, x=121.40 + 0.001 * (i % 3), y=31.20 + 0.001 * (i // 3))
    for i in range(9):
        for j in (i + 1, i + 3):
            if j < 9 and not (j == i + 1 and i % 3 == 2):
                for u, v in ((i, j), (j, i)):
                    g.add_edge(u, v, length=100.0, speed_kph=36.0, highway="residential")
    plain = PathEngine(RoadNetwork(g, restrictions=[]), Profile.car())
    restricted = PathEngine(RoadNetwork(g, restrictions=[(3, 4, 1, "no_left_turn")]),
                            Profile.car())
    net = restricted.network
    a, via, b = net.index(3), net.index(4), net.index(1)
    assert plain.route(a, b).duration_s == pytest.approx(restricted.route(a, b).duration_s)
    path = restricted.route(a, b)
    for x, y, z in zip(path.nodes, path.nodes[1:], path.nodes[2:], strict=False):
        assert (x, y, z) != (a, via, b)
    # forced through the junction: 3 -> 4 must then not turn left to 1
    closed = restricted.weights.copy()
    for e in range(len(net.edge_u)):
        if {int(net.edge_u[e]), int(net.edge_v[e])} in ({net.index(0), net.index(1)},
                                                        {net.index(1), net.index(2)}):
            closed[e] = np.inf
    forced = restricted.with_weights(closed)
    route = forced.route(a, b)
    nodes = route.nodes
    assert all((x, y, z) != (a, via, b) for x, y, z in zip(nodes, nodes[1:], nodes[2:], strict=False))
    assert route.duration_s > plain.with_weights(closed).route(a, b).duration_s
