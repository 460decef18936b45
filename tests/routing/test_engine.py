"""The CSR path engine equals a reference Dijkstra; one-way streets are respected."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from routing.engine import PathEngine
from routing.errors import InvalidRequest, PointTooFar, Unreachable
from routing.network import RoadNetwork
from routing.profiles import Profile
from twin import City


@pytest.fixture(scope="module")
def network(city: City) -> RoadNetwork:
    return RoadNetwork.from_layers(city.graph, city.layers["signals"].data)


def reference_graph(engine: PathEngine) -> nx.DiGraph:
    g = nx.DiGraph()
    net = engine.network
    for e, w in enumerate(engine.weights):
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        if np.isfinite(w) and (not g.has_edge(u, v) or g[u][v]["w"] > w):
            g.add_edge(u, v, w=float(w))
    return g


@pytest.mark.parametrize("profile", [Profile.car(8), Profile.car(11), Profile.emergency("fire")],
                         ids=["car-peak", "car-offpeak", "fire"])
def test_equals_reference_dijkstra_on_random_pairs(network: RoadNetwork, profile: Profile) -> None:
    engine = PathEngine(network, profile)
    ref = reference_graph(engine)
    rng = np.random.default_rng(7)
    pairs = rng.integers(0, network.n_nodes, size=(300, 2))
    for a, b in pairs:
        for s, t in ((a, b), (b, a)):
            expected = nx.dijkstra_path_length(ref, int(s), int(t), weight="w") if nx.has_path(
                ref, int(s), int(t)) else np.inf
            got = engine.one_to_many(int(s))[t]
            assert got == pytest.approx(expected, rel=1e-9) if np.isfinite(expected) else not np.isfinite(got)
            if np.isfinite(expected) and s != t:
                path = engine.route(int(s), int(t))
                assert path.duration_s == pytest.approx(expected, rel=1e-9)
                assert path.nodes[0] == s and path.nodes[-1] == t


def test_routes_follow_one_way_streets(network: RoadNetwork) -> None:
    engine = PathEngine(network, Profile.car())
    oneway = [e for e in range(len(network.edge_u))
              if not network.edges_between(int(network.edge_v[e]), int(network.edge_u[e]))]
    assert len(oneway) > 50
    for e in oneway[:100]:
        u, v = int(network.edge_u[e]), int(network.edge_v[e])
        path = engine.route(u, v)
        for a, b in zip(path.nodes[:-1], path.nodes[1:], strict=True):
            assert network.edges_between(a, b), "the path uses an edge that does not exist"
        # going back against the one-way edge must take a detour
        try:
            back = engine.route(v, u)
        except Unreachable:
            continue
        assert len(back.nodes) > 2


def test_matrix_and_multi_source_agree(network: RoadNetwork) -> None:
    engine = PathEngine(network, Profile.car())
    src = np.array([0, 5, 17])
    dst = np.arange(0, network.n_nodes, 7)
    mat = engine.matrix_times(src, dst)
    for i, s in enumerate(src):
        assert np.allclose(mat[i], engine.one_to_many(int(s), dst))
    best = engine.multi_source(src)
    assert np.allclose(best[dst], mat.min(axis=0))
    many_to_one = engine.many_to_one(int(dst[3]), src)
    assert np.allclose(many_to_one, mat[:, 3])


def test_normal_traffic_pays_signal_delay(network: RoadNetwork) -> None:
    car = PathEngine(network, Profile.car())
    assert (car.weights > network.edge_times(Profile("nodelay", car.profile.factors,
                                                     signal_delay=False)) - 1e-9).all()
    signalised = np.array([int(network.node_ids[v]) in network.plans for v in network.edge_v])
    assert (car.weights[signalised] > network.edge_times(
        Profile("nodelay", car.profile.factors, signal_delay=False))[signalised]).all()


def test_peak_is_slower_than_offpeak(network: RoadNetwork) -> None:
    peak, off = PathEngine(network, Profile.car(8)), PathEngine(network, Profile.car(11))
    assert peak.one_to_many(0)[np.isfinite(off.one_to_many(0))].sum() > off.one_to_many(0)[
        np.isfinite(off.one_to_many(0))].sum()


def test_isochrone_grows_with_time(network: RoadNetwork) -> None:
    engine = PathEngine(network, Profile.emergency("fire"))
    small, large = engine.isochrone(100, 60), engine.isochrone(100, 180)
    assert 0 < small.area < large.area
    assert large.intersection(small).area >= 0.97 * small.area
    with pytest.raises(InvalidRequest):
        engine.isochrone(100, 0)


def test_snap_limits(network: RoadNetwork) -> None:
    idx, dist = network.snap(121.4735, 31.2304)
    assert dist < 300
    with pytest.raises(PointTooFar):
        network.snap(121.0, 31.0)
    with pytest.raises(PointTooFar):
        network.snap(500.0, 31.0)
