"""Demand of real grid cells from covariates and the observed demand of their neighbours.

Three Poisson regressions (log link, IRLS, ridge) of a cell's real trip starts, each fitted
on the cells whose demand is known only:

* ``covariates``: the grid's land-use covariates (log road, bicycle-lane, land-use areas,
  counts of stations, bus stops, crossroads, shops; :data:`GRID_FEATURES`) and the log
  distance to the city centre :data:`CENTRE`;
* ``spatial lag``: the demand of the neighbours alone (:func:`spatial_lag`: Gaussian-kernel
  means of the known neighbours' log starts at bandwidths h and 2 h, and the log kernel
  weight, i.e. how many known neighbours there are);
* ``covariates + spatial lag``: both.

A cell never sees its own demand: the lag of a known cell leaves the cell out, so the
fitted relation is the one that applies to an unknown cell among known ones. The bandwidth
h and the ridge penalty are chosen by :data:`FOLDS`-fold cross-validation on the known cells
(mean squared log error of the held-out folds, their lags built from the other folds only).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["GRID_FEATURES", "CENTRE", "MODELS", "BANDWIDTHS_M", "RIDGES", "FOLDS",
           "GridPrediction", "cell_metres", "covariates", "poisson_fit", "spatial_lag",
           "predict_cells"]

GRID_FEATURES = ["road_length", "bicycle_lane_length", "residential_area", "commercial_area",
                 "industrial_area", "railway_station_count", "bus_station_count",
                 "crossroad_count", "shop_count"]
#: People's Square (lon, lat), the centre for the distance covariate.
CENTRE = (121.4737, 31.2304)
MODELS = ("covariates", "spatial lag", "covariates + spatial lag")
#: Candidate kernel bandwidths (metres; the 1 km grid's nearest centres are ~0.85 km apart).
BANDWIDTHS_M = (300.0, 450.0, 700.0, 1000.0, 1500.0)
#: Candidate ridge penalties (on standardized features).
RIDGES = (0.3, 3.0, 30.0, 300.0)
FOLDS = 5


@dataclass(frozen=True)
class GridPrediction:
    """Expected starts of every cell from one model fitted on the known cells.

    Attributes
    ----------
    expected : numpy.ndarray
        Predicted starts per cell (known cells included).
    bandwidth_m : float or None
        Chosen kernel bandwidth (None for ``covariates``).
    ridge : float
        Chosen ridge penalty.
    """

    expected: np.ndarray
    bandwidth_m: float | None
    ridge: float


def _centres(grid: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    centres = shapely.centroid(grid.geometry.to_numpy())
    return shapely.get_x(centres), shapely.get_y(centres)


def _metres(lon: np.ndarray | float, lat: np.ndarray | float, lat0: float) -> np.ndarray:
    return np.column_stack([np.asarray(lon) * 111_320 * np.cos(np.radians(lat0)),
                            np.asarray(lat) * 110_540])


def cell_metres(grid: gpd.GeoDataFrame) -> np.ndarray:
    """Cell centroids in local metres (equirectangular at the grid's mean latitude), ``(n, 2)``."""
    lon, lat = _centres(grid)
    return _metres(lon, lat, float(lat.mean()))


def covariates(grid: gpd.GeoDataFrame) -> np.ndarray:
    """Log covariates and the log distance to :data:`CENTRE`, ``(n, 10)`` (not standardized)."""
    x = np.log1p(grid[GRID_FEATURES].fillna(0.0).to_numpy(float))
    lon, lat = _centres(grid)
    offset = _metres(lon, lat, float(lat.mean())) - _metres(*CENTRE, float(lat.mean()))
    return np.column_stack([x, np.log(np.hypot(offset[:, 0], offset[:, 1]) + 500.0)])


def poisson_fit(x: np.ndarray, y: np.ndarray, *, ridge: float = 1.0, iters: int = 50) -> np.ndarray:
    """Poisson regression with a log link by iteratively reweighted least squares.

    ``x`` carries an intercept column first (not penalized).
    """
    beta = np.zeros(x.shape[1])
    beta[0] = np.log(y.mean() + 1e-9)
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iters):
        mu = np.exp(np.clip(x @ beta, -20, 20))
        z = x @ beta + (y - mu) / mu
        step = np.linalg.solve(x.T @ (mu[:, None] * x) + penalty, x.T @ (mu * z))
        if np.allclose(step, beta, atol=1e-8):
            return step
        beta = step
    return beta


def spatial_lag(distances: np.ndarray, y: np.ndarray, known: np.ndarray,
                bandwidth: float) -> np.ndarray:
    """Neighbourhood demand of every cell from the known cells other than itself.

    Parameters
    ----------
    distances : numpy.ndarray
        ``(n, n)`` distances between cell centres, metres.
    y : numpy.ndarray
        Starts per cell (only the known cells' values are read).
    known : numpy.ndarray
        Boolean mask of the cells whose demand may be used.
    bandwidth : float
        Gaussian kernel bandwidth h, metres.

    Returns
    -------
    numpy.ndarray
        ``(n, 4)``: kernel mean of log starts and log kernel weight, at h and at 2 h.
    """
    log_y = np.log(np.where(known, np.maximum(y, 1.0), 1.0))
    columns = []
    for h in (bandwidth, 2 * bandwidth):
        w = np.exp(-0.5 * (distances / h) ** 2) * known[None, :]
        np.fill_diagonal(w, 0.0)
        total = w.sum(axis=1)
        columns += [(w @ log_y) / np.maximum(total, 1e-12), np.log(total + 1e-12)]
    return np.column_stack(columns)


def _design(base: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Standardize on the fitted cells and prepend the intercept."""
    mean, sd = base[fit].mean(axis=0), base[fit].std(axis=0) + 1e-9
    return np.column_stack([np.ones(len(base)), (base - mean) / sd])


def _predict(model: str, x: np.ndarray, distances: np.ndarray, y: np.ndarray, fit: np.ndarray,
             bandwidth: float | None, ridge: float) -> np.ndarray:
    parts = [] if model == "spatial lag" else [x]
    if model != "covariates":
        if bandwidth is None:
            raise ValueError(f"the {model} model needs a bandwidth")
        parts.append(spatial_lag(distances, y, fit, bandwidth))
    design = _design(np.column_stack(parts), fit)
    return np.exp(np.clip(design @ poisson_fit(design[fit], y[fit], ridge=ridge), -20, 20))


def predict_cells(grid: gpd.GeoDataFrame, known: np.ndarray, model: str, *,
                  target: str = "start_count", seed: int = 0) -> GridPrediction:
    """Fit ``model`` (one of :data:`MODELS`) on the known cells, predict every cell.

    Parameters
    ----------
    grid : geopandas.GeoDataFrame
        Real grid cells with ``target`` and the covariates.
    known : numpy.ndarray
        Boolean mask of the cells the model may learn from.
    model : str
        One of :data:`MODELS`.
    target : str
        Column of the demand.
    seed : int
        Seed of the cross-validation folds.

    Returns
    -------
    GridPrediction
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    known = np.asarray(known, bool)
    y = grid[target].to_numpy(float)
    x = covariates(grid)
    xy = cell_metres(grid)
    distances = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    folds = np.random.default_rng(seed).integers(0, FOLDS, len(y))
    bandwidths = (None,) if model == "covariates" else BANDWIDTHS_M
    best: tuple[float, float | None, float] | None = None
    for h in bandwidths:
        for ridge in RIDGES:
            err = 0.0
            for f in range(FOLDS):
                val = known & (folds == f)
                mu = _predict(model, x, distances, y, known & ~val, h, ridge)
                err += float(np.sum((np.log(mu[val]) - np.log(np.maximum(y[val], 1.0))) ** 2))
            if best is None or err < best[0]:
                best = (err, h, ridge)
    assert best is not None
    _, h, ridge = best
    return GridPrediction(_predict(model, x, distances, y, known, h, ridge), h, ridge)
