"""Contraction hierarchies equal a reference Dijkstra; unpacked paths are real paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from routing.ch import ContractionHierarchy
from routing.engine import PathEngine, cheapest_csr
from routing.errors import Unreachable
from routing.network import RoadNetwork
from routing.profiles import Profile
from twin import City


def grid(side: int, seed: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """A street grid with one-way rows (every third), parallel edges and random weights."""
    rng = np.random.default_rng(seed)
    tail, head = [], []
    for i in range(side):
        for j in range(side):
            a = i * side + j
            if j + 1 < side:
                tail.append(a)
                head.append(a + 1)
                if i % 3:
                    tail.append(a + 1)
                    head.append(a)
            if i + 1 < side:
                tail += [a, a + side]
                head += [a + side, a]
    tail += tail[:10]  # parallel edges (the cheaper one must win)
    head += head[:10]
    weight = rng.uniform(1.0, 20.0, len(tail))
    return side * side, np.array(tail), np.array(head), weight


def check_path(tail, head, weight, edges, s, t, dist) -> None:  # noqa: ANN001
    """The edges form a connected s -> t path whose weights sum to ``dist``."""
    if s == t:
        assert len(edges) == 0 and dist == 0
        return
    assert tail[edges[0]] == s and head[edges[-1]] == t
    assert (head[edges[:-1]] == tail[edges[1:]]).all(), "the path is not connected"
    assert weight[edges].sum() == pytest.approx(dist, rel=1e-9)


def test_ch_equals_dijkstra_on_a_synthetic_grid() -> None:
    n, tail, head, weight = grid(25, seed=3)
    ch = ContractionHierarchy.build(n, tail, head, weight)
    assert ch.n_shortcuts > 0
    ref = cheapest_csr(n, tail, head, weight)
    rng = np.random.default_rng(0)
    sources = rng.integers(0, n, 40)
    full = dijkstra(ref, indices=sources)
    for i, s in enumerate(sources):
        for t in rng.integers(0, n, 25):
            dist, edges = ch.query(int(s), int(t))
            assert dist == pytest.approx(full[i, t], rel=1e-9)
            check_path(tail, head, weight, edges, s, t, dist)


def test_unreachable_and_multi_target() -> None:
    # 0 -> 1 -> 2, 3 isolated; 2 -> 0 back
    tail, head = np.array([0, 1, 2]), np.array([1, 2, 0])
    ch = ContractionHierarchy.build(4, tail, head, np.array([1.0, 2.0, 4.0]))
    assert ch.query(0, 3)[0] == np.inf and len(ch.query(0, 3)[1]) == 0
    assert ch.query(1, 0)[0] == pytest.approx(6.0)
    dist, edges = ch.query(0, np.array([2, 1]))
    assert dist == pytest.approx(1.0) and edges.tolist() == [0]
    with pytest.raises(ValueError):
        ch.query(0, 4)
    with pytest.raises(ValueError):
        ContractionHierarchy.build(2, np.array([0]), np.array([1]), np.array([-1.0]))


def test_closed_edges_are_left_out() -> None:
    tail, head = np.array([0, 1, 0]), np.array([1, 2, 2])
    ch = ContractionHierarchy.build(3, tail, head, np.array([1.0, 1.0, np.inf]))
    dist, edges = ch.query(0, 2)
    assert dist == pytest.approx(2.0) and edges.tolist() == [0, 1]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    n, tail, head, weight = grid(12, seed=5)
    ch = ContractionHierarchy.build(n, tail, head, weight)
    loaded = ContractionHierarchy.load(ch.save(tmp_path / "ch.npz"))
    for s, t in ((0, n - 1), (n - 1, 0), (17, 99)):
        assert loaded.query(s, t)[0] == ch.query(s, t)[0]
        assert loaded.query(s, t)[1].tolist() == ch.query(s, t)[1].tolist()
    np.savez(tmp_path / "other.npz", rank=np.arange(3))
    with pytest.raises(ValueError, match="missing"):
        ContractionHierarchy.load(tmp_path / "other.npz")


@pytest.mark.parametrize("profile", [Profile.car(8), Profile.emergency("ambulance", green_wave=False)],
                         ids=["car-peak", "ambulance"])
def test_engine_routes_equal_dijkstra_on_the_embedded_city(city: City, profile: Profile) -> None:
    network = RoadNetwork.from_layers(city.graph, city.layers["signals"].data)
    engine = PathEngine(network, profile)
    ref = sparse.csr_matrix(engine.matrix)
    rng = np.random.default_rng(11)
    nodes = rng.integers(0, network.n_nodes, 60)
    full = dijkstra(ref, indices=nodes)
    oneway_used = 0
    for i, s in enumerate(nodes):
        for j, t in enumerate(nodes):
            expected = full[i, t]
            if not np.isfinite(expected):
                continue
            path = engine.route(int(s), int(t))
            assert path.duration_s == pytest.approx(expected, rel=1e-9)
            if np.isfinite(full[j, s]):
                assert engine.route(int(t), int(s)).duration_s == pytest.approx(full[j, s], rel=1e-9)
            else:
                with pytest.raises(Unreachable):
                    engine.route(int(t), int(s))
            check_path(network.edge_u, network.edge_v, engine.weights, np.array(path.edges),
                       s, t, path.duration_s)
            assert path.times[-1] == pytest.approx(engine.weights[path.edges].sum())
            oneway_used += sum(not network.edges_between(int(network.edge_v[e]), int(network.edge_u[e]))
                               for e in path.edges)
    assert oneway_used > 0, "the sample exercises one-way streets"


def test_closing_a_road_rebuilds_the_hierarchy(city: City) -> None:
    network = RoadNetwork.from_layers(city.graph, city.layers["signals"].data)
    engine = PathEngine(network, Profile.car())
    s, t = int(network._routable_idx[0]), int(network._routable_idx[-1])
    before = engine.route(s, t)
    middle = before.edges[len(before.edges) // 2]
    network.closed[middle] = True
    try:
        engine.refresh()
        after = engine.route(s, t)
        assert middle not in after.edges
        assert after.duration_s >= before.duration_s
    finally:
        network.closed[middle] = False
        engine.refresh()
