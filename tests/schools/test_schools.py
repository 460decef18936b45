"""School-district matching: exact capacity-constrained assignment, districts, lookup."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import sparse
from scipy.optimize import linprog

from api import create_app
from twin import City, Settings
from twin.schools.assign import assign
from twin.schools.districts import district_cells, district_polygons
from twin.schools.errors import InvalidLevel


def lp_bound(demand: np.ndarray, capacity: np.ndarray, dist: np.ndarray) -> float:
    n, m = dist.shape
    c = np.concatenate([dist.ravel(), np.full(n, 1e6)])
    a_eq = sparse.hstack([sparse.kron(sparse.eye(n), np.ones((1, m))), sparse.eye(n)])
    a_ub = sparse.hstack([sparse.kron(np.ones((1, n)), sparse.eye(m)), sparse.csr_matrix((m, n))])
    res = linprog(c, A_ub=a_ub, b_ub=capacity, A_eq=a_eq, b_eq=demand, method="highs")
    return float(res.fun)


def test_assignment_is_optimal_and_respects_capacity() -> None:
    rng = np.random.default_rng(3)
    dist = np.round(rng.random((300, 8)) * 2000)
    demand = rng.integers(0, 12, 300)
    capacity = np.full(8, int(demand.sum() * 0.11))
    result = assign(demand, capacity, dist)
    assert (result.flows.sum(axis=0) <= capacity).all()
    assert (result.flows.sum(axis=1) + result.unassigned == demand).all()
    total = result.cost_m + 1e6 * result.unassigned.sum()
    assert total == pytest.approx(lp_bound(demand, capacity, dist), rel=1e-9)


def test_greedy_nearest_is_not_optimal_here() -> None:
    # two homes, two schools of capacity 1: nearest-first would send both to school 0
    dist = np.array([[10.0, 20.0], [15.0, 100.0]])
    result = assign(np.array([1, 1]), np.array([1, 1]), dist)
    assert result.flows.tolist() == [[0, 1], [1, 0]] and result.cost_m == 35.0


def test_embedded_city_metrics(city: City) -> None:
    for level in ("kindergarten", "primary", "middle"):
        m = city.schools.metrics(level)
        assert m["capacity_violations"] == 0
        assert m["share_assigned"] == pytest.approx(min(1.0, m["places"] / m["pupils"]), abs=1e-3)
        assert m["mean_walk_m"] >= m["baseline_nearest_school"]["mean_walk_m"]
        # real schools sit where they are, not at k-means centres: most districts are
        # contiguous, not necessarily all
        assert m["districts_contiguous"] >= 0.7 * m["districts"]
    # the nearest-school baseline overfills schools that the exact assignment does not
    primary = city.schools.metrics("primary")
    assert primary["baseline_nearest_school"]["schools_over_capacity"] > 0


def test_districts_are_stable_under_small_demand_changes(city: City) -> None:
    svc = city.schools
    r = svc.level("primary")
    homes = svc.homes
    lon, lat = homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()
    demand = homes["children_primary"].to_numpy().copy()
    rng = np.random.default_rng(1)
    pick = rng.choice(len(demand), size=len(demand) // 20, replace=False)
    demand[pick] = np.maximum(0, demand[pick] + rng.choice([-1, 1], size=len(pick)))
    again = assign(demand, r.schools["capacity"].to_numpy(), r.distance)
    before = r.cells.set_index("h3")["school"]
    after = district_cells(lon, lat, demand, again.main_school).set_index("h3")["school"]
    common = before.index.intersection(after.index)
    changed = float((before[common] != after[common]).mean())
    assert changed < 0.1
    assert len(district_polygons(r.cells)) == len(r.schools)


def test_shortfall_and_forecast(city: City) -> None:
    for level in ("kindergarten", "primary", "middle"):
        s = city.schools.shortfall(level)
        assert s["gap_now"] == max(0, s["pupils"] - s["places"])
        assert s["gap_now"] == sum(d["unplaced_pupils"] for d in s["districts"])
    assert len(s["forecast"]) == 5 and all(f["gap"] >= 0 for f in s["forecast"])
    with pytest.raises(InvalidLevel):
        city.schools.shortfall("university")


def test_lookup_by_address_and_point(city: City) -> None:
    res = city.schools.lookup(address="南京东路635号")
    assert res["school"]["id"].startswith("S") and res["walk_m"] > 0
    assert res["route"]["type"] == "LineString"
    assert res["capacity_status"] in {"full", "places available"}
    district = city.schools.districts("primary")
    poly = district[district["school_id"] == res["school"]["id"]].geometry.iloc[0]
    import shapely

    assert poly.contains(shapely.Point(res["address"]["lon"], res["address"]["lat"]))


@pytest.fixture(scope="module")
def client(city: City) -> TestClient:
    with TestClient(create_app(Settings(), city=city)) as c:
        yield c


def test_http(client: TestClient) -> None:
    schools = client.get("/schools", params={"level": "middle"}).json()
    props = schools["features"][0]["properties"]
    assert {"capacity", "assigned"} <= set(props) and props["level"] == "middle"
    districts = client.get("/schools/districts").json()
    assert districts["features"][0]["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    look = client.get("/schools/lookup", params={"address": "南京东路635号"}).json()
    assert {"school", "district", "walk_m", "route", "capacity_status"} <= set(look)
    assert client.get("/schools/shortfall").json()["forecast"]
    assert client.get("/schools", params={"level": "college"}).status_code == 400
    missing = client.get("/schools/lookup", params={"address": "火星基地一号"})
    assert missing.status_code == 404 and "candidates" in missing.json()
    assert client.get("/schools/lookup").status_code == 404
