"""Grid demand models: the spatial lag never sees a cell's own or unknown demand."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from twin.bikes.backtest import HEADLINE_MODEL, agreement, held_out_grid
from twin.bikes.gridmodel import GRID_FEATURES, MODELS, cell_metres, predict_cells, spatial_lag


def _grid(n: int = 14, seed: int = 0) -> gpd.GeoDataFrame:
    """``n × n`` 1 km-ish cells; demand is a smooth field, the covariates are noise."""
    rng = np.random.default_rng(seed)
    step = 0.009
    boxes, field = [], []
    for i in range(n):
        for j in range(n):
            x, y = 121.40 + i * step, 31.18 + j * step
            boxes.append(shapely.box(x, y, x + step, y + step))
            field.append(3.0 * np.exp(-((i - n / 2) ** 2 + (j - n / 3) ** 2) / 30.0))
    frame = gpd.GeoDataFrame({c: rng.random(n * n) * 100 for c in GRID_FEATURES},
                             geometry=boxes, crs=4326)
    frame["start_count"] = rng.poisson(20.0 * np.exp(np.array(field)))
    frame["end_count"] = rng.poisson(frame["start_count"].to_numpy() + 1.0)
    return frame


def test_spatial_lag_reads_only_known_other_cells() -> None:
    grid = _grid(5)
    xy = cell_metres(grid)
    distances = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    y = grid["start_count"].to_numpy(float)
    known = np.arange(len(y)) % 3 != 0
    lag = spatial_lag(distances, y, known, 900.0)
    assert lag.shape == (len(y), 4) and np.isfinite(lag).all()
    for cell in (0, 1, 7):  # an unknown cell, known cells
        changed = y.copy()
        changed[cell] *= 50
        moved = ~np.isclose(spatial_lag(distances, changed, known, 900.0), lag).all(axis=1)
        assert not moved[cell]  # never its own demand
        assert moved.any() == bool(known[cell])  # unknown demand is never read


def test_held_out_predictions_do_not_depend_on_held_out_demand() -> None:
    grid = _grid()
    test = np.random.default_rng(1).random(len(grid)) < 0.2
    leaked = grid.copy()
    leaked.loc[test, "start_count"] = leaked.loc[test, "start_count"] * 7 + 3
    for model in MODELS:
        a = predict_cells(grid, ~test, model).expected
        b = predict_cells(leaked, ~test, model).expected
        np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="model must be one of"):
        predict_cells(grid, ~test, "kriging")


def test_neighbours_predict_a_smooth_field_better_than_noise_covariates() -> None:
    grid = _grid()
    test = np.random.default_rng(2).random(len(grid)) < 0.2
    y = grid["start_count"].to_numpy(float)
    error = {}
    for model in ("covariates", "spatial lag"):
        fitted = predict_cells(grid, ~test, model)
        error[model] = np.median(np.abs(np.log(fitted.expected[test] / y[test])))
        assert fitted.ridge > 0 and (fitted.bandwidth_m is None) == (model == "covariates")
    assert error["spatial lag"] < 0.6 * error["covariates"]


def test_grid_holdout_report() -> None:
    assert agreement(np.array([10.0, 13.0, 20.0]), np.full(3, 10.0)) == {
        "within_20": pytest.approx(1 / 3, abs=1e-4), "within_30": pytest.approx(2 / 3, abs=1e-4),
        "within_50": pytest.approx(2 / 3, abs=1e-4), "median_abs_error": pytest.approx(0.3)}
    report = held_out_grid(_grid(), 5000, seed=3, splits=2)
    assert set(report["models"]) == set(MODELS) and report["model"] == HEADLINE_MODEL
    assert report["precise_rate"] == report["models"][HEADLINE_MODEL]["within_20"]
    assert report["cells_fit"] + report["cells_held_out"] == len(_grid())
    for r in report["models"].values():
        assert 0 <= r["within_20"] <= r["within_30"] <= r["within_50"] <= 1
    c = report["ceilings"]
    # ends are starts + Poisson noise here: they agree with the starts far better than a model
    assert c["ends_vs_starts"]["within_20"] > report["precise_rate"]
    assert 0 < c["split_half"]["within_20"] <= 1 and 0 < c["poisson"] <= 1
