"""Shared-bike model: disaggregation, trips ingest, quotas, fences, rebalancing, metrics."""

from __future__ import annotations

import h3
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from address.crs import from_wgs84, gcj02_to_wgs84
from api import create_app
from layers.tiles import TMS
from twin import City, Settings
from twin.bikes.calendar import WEEKEND_VOLUME
from twin.bikes.coords import gcj02_to_wgs84_many
from twin.bikes.demand import disaggregate
from twin.bikes.errors import InvalidHour, InvalidPeriod, InvalidResolution, InvalidTrips
from twin.bikes.model import daily_needs, hourly_flows, precise_rate
from twin.bikes.parking import neighbours_of, simulate_parking
from twin.bikes.rebalance import rebalance
from twin.bikes.service import BikeService
from twin.bikes.trips import MOBIKE_COLUMNS, generate_trips, ingest_trips


def test_disaggregation_conserves_real_demand(city: City) -> None:
    grid = city.layers["bike_grid"].data
    for res in (7, 8, 9):
        cells = disaggregate(grid, city.layers["pois"].data, city.layers["roads"].data, res=res)
        assert cells["h3"].is_unique
        assert (cells["h3"].map(h3.get_resolution) == res).all()
        assert cells["starts"].sum() == pytest.approx(grid["start_count"].sum(), rel=0.02)
        assert cells["road_m"].sum() == pytest.approx(grid["road_length"].sum(), rel=0.02)
        assert (cells["weight"] >= 1).all() and cells["home_share"].between(0, 1).all()
    # grid covariates reach the cells far outside the street-network core
    outside = cells[cells["core_road_m"] == 0]
    assert len(outside) > len(cells) / 2 and (outside["road_m"] > 0).mean() > 0.95
    with pytest.raises(InvalidResolution):
        disaggregate(grid, city.layers["pois"].data, city.layers["roads"].data, res=12)


def test_trips_schema_gcj02_and_vectorized_h3(city: City) -> None:
    cells = pd.DataFrame({"lon": [121.47, 121.48, 121.49], "lat": [31.23, 31.235, 31.24],
                          "start_weight": [1.0, 2.0, 1.0], "end_weight": [1.0, 1.0, 3.0]})
    trips = generate_trips(cells, days=2, trips_per_day=500, seed=1)
    assert list(trips.columns[:10]) == MOBIKE_COLUMNS and (trips["source"] == "synthetic").all()
    assert (trips["end_time"] > trips["start_time"]).all()
    again = generate_trips(cells, days=2, trips_per_day=500, seed=1)
    pd.testing.assert_frame_equal(trips, again)  # reproducible
    ingested = ingest_trips(trips, res=9)
    # a GCJ-02 point is converted back to WGS84 before indexing
    glon, glat = from_wgs84(121.47, 31.23, "gcj02")
    one = trips.head(1).assign(start_location_x=glon, start_location_y=glat)
    cell = ingest_trips(one, res=9)["start_cell"].iat[0]
    assert h3.int_to_str(int(cell)) == h3.latlng_to_cell(31.23, 121.47, 9)
    assert len(ingested) == len(trips)
    with pytest.raises(InvalidTrips):
        ingest_trips(trips.drop(columns=["end_time"]))


def test_bulk_gcj02_inverse_matches_the_exact_one() -> None:
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(121.2, 121.8, 20_000), rng.uniform(30.9, 31.5, 20_000)
    glon, glat = from_wgs84(lon, lat, "gcj02")
    wlon, wlat = gcj02_to_wgs84_many(glon, glat)
    elon, elat = gcj02_to_wgs84(glon, glat)
    assert np.abs(wlon - elon).max() < 1e-7 and np.abs(wlat - elat).max() < 1e-7
    assert np.abs(wlon - lon).max() < 1e-7
    # outside China and missing values pass through
    out = gcj02_to_wgs84_many(np.array([2.35, np.nan]), np.array([48.85, 31.0]))
    assert out[0][0] == 2.35 and np.isnan(out[0][1])


def test_synthetic_days_vary_by_type_and_weather() -> None:
    cells = pd.DataFrame({"lon": [121.47, 121.48], "lat": [31.23, 31.235],
                          "start_weight": [3.0, 1.0], "end_weight": [1.0, 3.0]})
    calendar = pd.DataFrame({"date": pd.date_range("2016-08-05", periods=3), "weekend": [False, True, True],
                             "rain": [False, False, True], "factor": [1.0, WEEKEND_VOLUME, 0.4]})
    trips = generate_trips(cells, calendar, trips_per_day=4000, seed=3)
    per_day = trips["start_time"].dt.normalize().value_counts().sort_index().to_numpy()
    assert per_day[1] / per_day[0] == pytest.approx(WEEKEND_VOLUME, abs=0.05)
    assert per_day[2] / per_day[0] == pytest.approx(0.4, abs=0.05)
    hours = trips["start_time"].dt.hour
    weekday = trips["start_time"].dt.day_of_week < 5
    assert hours[weekday].between(7, 9).mean() > hours[~weekday].between(7, 9).mean() + 0.1


def test_flows_needs_and_precise_rate_tolerance() -> None:
    trips = pd.DataFrame({"start_cell": np.array([1, 1, 1, 1, 1, 2], np.uint64),
                          "end_cell": np.array([2, 2, 2, 2, 2, 1], np.uint64),
                          "start_hour": [8, 8, 8, 9, 9, 18], "end_hour": [8, 8, 9, 9, 10, 18],
                          "day": pd.to_datetime(["2016-08-01"] * 6)})
    flows = hourly_flows(trips, np.array([1, 2], np.uint64))
    assert flows.pickups.shape == (1, 24, 2) and flows.pickups[0, 8, 0] == 3
    assert flows.dropoffs[0, :, 1].sum() == 5
    np.testing.assert_array_equal(daily_needs(flows)[0], [2, 1])  # ceil(5/4), ceil(1/4)
    # ±20% of need, at least ±1 bike; cells with neither need nor quota do not count
    assert precise_rate(np.array([12, 9, 3, 0]), np.array([10, 12, 2, 0])) == pytest.approx(2 / 3)


def test_parking_overflow_and_fence_redirection() -> None:
    pick = np.zeros((24, 2))
    drop = np.zeros((24, 2))
    drop[8, 0] = 4
    # bays for 1 more bike in cell 0: 3 of 4 drop-offs are disorderly
    assert simulate_parking(pick, drop, np.array([1, 0]), np.array([2, 5])) == pytest.approx(0.75)
    ring = neighbours_of(pd.Series([h3.latlng_to_cell(31.23, 121.47, 9)] * 1 + [
        h3.grid_ring(h3.latlng_to_cell(31.23, 121.47, 9), 1)[0]]))
    # the neighbouring fence takes the overflow
    assert simulate_parking(pick, drop, np.array([1, 0]), np.array([2, 5]), neighbours=ring) == 0
    assert simulate_parking(pick, drop, np.array([1, 4]), np.array([2, 5]),
                            neighbours=ring) == pytest.approx(0.5)


def test_quotas_fences_rebalancing_and_metrics(city: City) -> None:
    bikes = city.bikes
    q = bikes.quotas(res=9, hour=8)
    assert q["h3"].map(h3.is_valid_cell).all() and (q["quota"] >= 0).all()
    assert (q["quota"] <= np.floor(q["parking_capacity"])).all()
    assert q["quota"].sum() <= bikes.options["fleet"]
    morning, evening = bikes.quotas(hour=8), bikes.quotas(hour=18)
    assert morning["pickups"].sum() > bikes.quotas(hour=3)["pickups"].sum()
    assert not np.allclose(morning.set_index("h3")["net_flow"].reindex(evening["h3"]).fillna(0),
                           evening.set_index("h3")["net_flow"])
    fences = bikes.fences()
    area = fences.to_crs(fences.estimate_utm_crs()).area
    assert len(fences) > 10 and (area > 0).all()
    # a fence is a 4 m wide kerb strip of 0.65 m a bike (at least 6 m long)
    assert (area <= np.maximum(fences["capacity"] * 0.65, 6.0) * 4.0 + 1.0).all()
    assert set(fences["h3"]) <= set(q["h3"])
    assert (fences["capacity"] > 0).all()
    m = bikes.metrics()
    keys = ("precise_deployment_rate", "precise_deployment_rate_period",
            "precise_deployment_rate_grid_holdout")
    for key in (*keys, "disorderly_parking_reduction"):
        assert 0 <= m[key] <= 1
    assert {*keys, "disorderly_parking", "rebalancing"} <= set(m["how"])
    assert m["goal_met_held_out_days"] == (m["precise_deployment_rate"] >= 0.9)
    days = m["precise_deployment_rate_days"]
    assert len(days) == bikes.options["days"] - bikes.options["fit_days"]
    assert m["precise_deployment_rate"] == pytest.approx(np.mean([d["precise_rate"] for d in days]),
                                                         abs=1e-3)
    assert m["disorderly_parking_rate_with"] <= m["disorderly_parking_rate_without"]
    assert 0 <= m["precise_deployment_rate_mean_rule"] <= 1
    grid = m["grid_holdout"]
    assert grid["precise_rate"] == m["precise_deployment_rate_grid_holdout"]
    assert set(grid["models"]) == {"covariates", "spatial lag", "covariates + spatial lag"}
    assert m["goal_met_grid_holdout"] == (grid["precise_rate"] >= 0.9)
    assert m["bikes_moved_by_rebalancing"] == m["bikes_moved_am"] + m["bikes_moved_pm"] > 0
    with pytest.raises(InvalidHour):
        bikes.quotas(hour=24)
    with pytest.raises(InvalidPeriod):
        bikes.rebalancing(period="noon")


def test_a_trip_file_goes_through_the_same_pipeline(city: City) -> None:
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    cells = disaggregate(*layers, res=8)
    demand = cells["starts"] + 0.1
    raw = generate_trips(cells.assign(start_weight=demand, end_weight=demand), 6, trips_per_day=3000,
                         seed=2)[MOBIKE_COLUMNS]
    bikes = BikeService(*layers, trips=raw, fit_days=4, grid_splits=1)
    m = bikes.metrics(res=8)
    assert len(m["precise_deployment_rate_days"]) == 2 and 0 <= m["precise_deployment_rate"] <= 1
    assert bikes.quotas(res=8)["quota"].sum() > 0
    with pytest.raises(InvalidTrips):
        BikeService(*layers, trips=raw, fit_days=6).model(8)


def test_rebalancing_is_optimal_on_a_line() -> None:
    cells = pd.DataFrame({"h3": ["a", "b", "c", "d"], "lon": [121.0, 121.01, 121.02, 121.03],
                          "lat": [31.0] * 4})
    moves = rebalance(np.array([2, -1, 0, -1]), cells)
    assert moves["bikes"].sum() == 2
    assert set(zip(moves["from"], moves["to"], strict=True)) == {("a", "b"), ("a", "d")}
    # two givers, two takers: the crossing plan would cost more
    moves = rebalance(np.array([1, -1, 1, -1]), cells)
    assert set(zip(moves["from"], moves["to"], strict=True)) == {("a", "b"), ("c", "d")}


@pytest.fixture(scope="module")
def client(city: City) -> TestClient:
    with TestClient(create_app(Settings(), city=city)) as c:
        yield c


def test_quota_and_fence_layers_are_tiled(city: City, client: TestClient) -> None:
    cells, fences = city.layers["bike_cells"].data, city.layers["bike_fences"].data
    assert {"h3", "quota"} <= set(cells.columns) and {"fence_id", "capacity"} <= set(fences.columns)
    centre = fences.geometry.iloc[0].centroid
    tile = TMS.tile(centre.x, centre.y, 15)
    res = client.get(f"/tiles/bike_cells,bike_fences/{tile.z}/{tile.x}/{tile.y}.mvt")
    assert res.status_code == 200
    decoded = mapbox_vector_tile.decode(res.content)
    assert decoded["bike_fences"]["features"] and decoded["bike_cells"]["features"]
    assert "quota" in decoded["bike_cells"]["features"][0]["properties"]


def test_http(client: TestClient) -> None:
    quotas = client.get("/bikes/quotas", params={"res": 9, "hour": 8}).json()
    props = quotas["features"][0]["properties"]
    assert isinstance(props["h3"], str) and "quota" in props
    metrics = client.get("/bikes/metrics").json()
    assert 0 <= metrics["precise_deployment_rate"] <= 1 and metrics["how"]
    assert client.get("/bikes/fences").json()["features"]
    assert "moves" in client.get("/bikes/rebalancing", params={"period": "pm"}).json()
    for params in ({"res": 3}, {"hour": 30}, {"res": "x"}):
        res = client.get("/bikes/quotas", params=params)
        assert 400 <= res.status_code < 500 and res.json()["detail"]
    for path, params in (("/bikes/rebalancing", {"period": "noon"}), ("/bikes/fences", {"res": 11}),
                         ("/bikes/metrics", {"res": 6}), ("/bikes/quotas", {"hour": -1})):
        res = client.get(path, params=params)
        assert res.status_code == 400 and res.json()["detail"], (path, params)
    pm = client.get("/bikes/rebalancing", params={"period": "pm"}).json()
    assert pm["bikes_moved"] == sum(m["bikes"] for m in pm["moves"]) > 0
