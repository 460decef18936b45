"""Quotas that maximise the chance of meeting a day's need (the 精准投放 decision).

A cell's realised need on a day, ``ceil(pick-ups / TURNOVER)``
(:func:`twin.bikes.model.need_from_pickups`), is a random quantity: riders arrive one by
one (Poisson) around an expectation that the whole day shares (the day volume, itself
uncertain the evening before). The quota is a decision taken the evening before, from
what the operator knows then (:data:`twin.bikes.calendar.KNOWN_THE_EVENING_BEFORE`):

* **day volume** (:func:`volume_model`, :func:`forecast_day`): a regression of the log
  of each past day's observed pick-ups (the whole area) on whether it was a day off and
  whether it rained (observed once the day is over); a term is dropped when the past
  days do not vary in it (no rainy day yet: rain is not forecast). The day's volume is
  forecast from its day type and the **rain forecast**, which is wrong with a probability
  estimated from the past days (forecast flag vs observed rain, Laplace-smoothed); the
  forecast's log variance is the regression's residual variance plus the variance the
  forecast error adds (``e (1 - e) × rain effect²``). The generator's realised day
  factors are never an input;
* **cell share**: a cell's share of the past days' pick-ups (Poisson maximum likelihood
  given the observed day volumes); the cell's expected pick-ups = share × volume;
* **quota**: :func:`best_quota`, the integer with the highest predictive probability of
  being within the tolerance of the realised need (:func:`hit_probability`: Poisson
  pick-ups around the expectation × a log-normal day shock, 7-point Gauss-Hermite
  quadrature). The tolerance band ``[q/1.2, q/0.8]`` of need that a quota ``q`` accepts
  is wider above ``q`` than below, and need is a rounded-up count, so the hit-maximising
  quota is not the rounded mean need;
* :func:`day_quota`: that quota, capped by parking capacity and the fleet
  (:func:`twin.bikes.model.cap_quota`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import pdtr

from twin.bikes.model import MIN_TOLERANCE, TOLERANCE, TURNOVER, cap_quota

__all__ = ["CANDIDATES", "VolumeModel", "volume_model", "cell_shares", "forecast_day",
           "hit_probability", "best_quota", "day_quota"]

#: Most candidate quotas tried per cell (:func:`best_quota`).
CANDIDATES = 50
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(7)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_EPS = 1e-9


@dataclass(frozen=True)
class VolumeModel:
    """Log day volume of the past days: ``log V = const + day_off × off + rain × rain``.

    Attributes
    ----------
    const, day_off, rain : float
        Coefficients (0 for a term the past days do not vary in).
    residual_sd : float
        Residual standard deviation of the log volume (0 with too few days).
    rain_forecast_error : float
        Share of past days whose rain forecast was wrong, Laplace-smoothed
        (``(wrong + 1) / (days + 2)``).
    days : int
        Past days with trips.
    """

    const: float
    day_off: float
    rain: float
    residual_sd: float
    rain_forecast_error: float
    days: int

    def forecast(self, *, day_off: bool, rain_forecast: bool) -> tuple[float, float]:
        """Mean day volume and its log standard deviation for a day known by its type and
        rain forecast (see the module docstring)."""
        e = self.rain_forecast_error
        rain = (1 - e) * float(rain_forecast) + e * (1 - float(rain_forecast))
        mu = self.const + self.day_off * float(day_off) + self.rain * rain
        var = self.residual_sd ** 2 + e * (1 - e) * self.rain ** 2
        return float(np.exp(mu + var / 2)), float(np.sqrt(var))

    def as_dict(self) -> dict[str, Any]:
        """Rounded coefficients, for the metrics."""
        return {"volume_dry_working_day": round(float(np.exp(self.const)), 1),
                "day_off_effect": round(float(np.exp(self.day_off)), 4),
                "rain_effect": round(float(np.exp(self.rain)), 4),
                "residual_log_sd": round(self.residual_sd, 4),
                "rain_forecast_error": round(self.rain_forecast_error, 4), "days": int(self.days)}


def volume_model(volumes: np.ndarray, past: pd.DataFrame) -> VolumeModel:
    """Fit :class:`VolumeModel` on past days.

    Parameters
    ----------
    volumes : numpy.ndarray
        Observed pick-ups of each past day (the whole area).
    past : pandas.DataFrame
        ``day_off``, ``rain`` (observed) and optionally ``rain_forecast`` of the same days.
        Any other column is ignored.

    Examples
    --------
    >>> past = pd.DataFrame({"day_off": [False, False, True, False], "rain": [False, True, False, False]})
    >>> m = volume_model(np.array([1000.0, 600.0, 800.0, 1000.0]), past)
    >>> round(float(np.exp(m.const))), round(float(np.exp(m.rain)), 2), round(float(np.exp(m.day_off)), 2)
    (1000, 0.6, 0.8)
    """
    volumes = np.asarray(volumes, float)
    ok = volumes > 0
    y = np.log(volumes[ok])
    off = past["day_off"].to_numpy(bool)[ok]
    rain = past["rain"].to_numpy(bool)[ok]
    n = len(y)
    if n == 0:
        return VolumeModel(0.0, 0.0, 0.0, 0.0, 0.5, 0)
    terms = [t for t in (off, rain) if 0 < t.sum() < n]
    x = np.column_stack([np.ones(n), *terms]).astype(float)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = n - x.shape[1]
    sd = float(np.sqrt(np.sum((y - x @ coef) ** 2) / dof)) if dof >= 2 else 0.0
    it = iter(coef[1:])
    b_off = float(next(it)) if 0 < off.sum() < n else 0.0
    b_rain = float(next(it)) if 0 < rain.sum() < n else 0.0
    if "rain_forecast" in past.columns:
        wrong = int((past["rain_forecast"].to_numpy(bool)[ok] != rain).sum())
    else:
        wrong = n // 2  # no forecast history: an uninformative forecast
    return VolumeModel(float(coef[0]), b_off, b_rain, sd, (wrong + 1) / (n + 2), n)


def cell_shares(pickups: np.ndarray) -> np.ndarray:
    """Each cell's share of the past days' pick-ups (``(n_days, n_cells)`` in)."""
    pickups = np.asarray(pickups, float)
    total = pickups.sum()
    return pickups.sum(axis=0) / total if total > 0 else np.zeros(pickups.shape[1])


def forecast_day(pickups: np.ndarray, past: pd.DataFrame, *, day_off: bool,
                 rain_forecast: bool) -> tuple[np.ndarray, float, VolumeModel]:
    """Expected pick-ups per cell on a day, from the past days and the day's known facts.

    Parameters
    ----------
    pickups : numpy.ndarray
        ``(n_past, n_cells)`` observed pick-ups of the past days.
    past : pandas.DataFrame
        ``day_off``, ``rain`` (observed), ``rain_forecast`` of the past days.
    day_off, rain_forecast : bool
        What is known of the day the evening before.

    Returns
    -------
    expected : numpy.ndarray
        Mean pick-ups per cell.
    sd : float
        Log standard deviation of the day volume around the forecast.
    model : VolumeModel
        The fitted day-volume model.
    """
    pickups = np.asarray(pickups, float)
    model = volume_model(pickups.sum(axis=1), past)
    volume, sd = model.forecast(day_off=day_off, rain_forecast=rain_forecast)
    return cell_shares(pickups) * volume, sd, model


def _band(quota: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest need a quota is within tolerance of."""
    q = np.asarray(quota, float)
    low = np.ceil(np.minimum(q - MIN_TOLERANCE, q / (1 + TOLERANCE)) - _EPS).clip(min=0)
    high = np.floor(np.maximum(q + MIN_TOLERANCE, q / (1 - TOLERANCE)) + _EPS)
    return low, high


def hit_probability(expected: np.ndarray, quota: np.ndarray, *, sd: float = 0.0) -> np.ndarray:
    """Probability that a quota is within tolerance of the day's realised need.

    Parameters
    ----------
    expected : numpy.ndarray
        Expected pick-ups of the day (forecast), broadcastable with ``quota``.
    quota : numpy.ndarray
        Candidate quotas.
    sd : float
        Log standard deviation of the unforecast day shock.

    Returns
    -------
    numpy.ndarray
        ``P(low ≤ ceil(X / TURNOVER) ≤ high)``, X ~ Poisson(expected × shock).
    """
    low, high = _band(quota)
    top = np.floor(TURNOVER * high + _EPS)
    bottom = np.floor(TURNOVER * (low - 1) + _EPS)  # need ≤ low - 1  <=>  X ≤ T (low - 1)
    expected = np.asarray(expected, float)

    def within(lam: np.ndarray) -> np.ndarray:
        return pdtr(top, lam) - np.where(low > 0, pdtr(np.maximum(bottom, 0.0), lam), 0.0)

    if sd <= 0:
        return within(expected)
    return np.sum([w * within(expected * np.exp(sd * z - sd * sd / 2))
                   for z, w in zip(_NODES, _WEIGHTS, strict=True)], axis=0)


def best_quota(expected: np.ndarray, *, sd: float = 0.0) -> np.ndarray:
    """The integer quota per cell with the highest :func:`hit_probability`.

    Candidates run from 0.7 × to 1.15 × the expected need (± 2 bikes), every integer up to
    :data:`CANDIDATES` of them (an expected need of ~100 bikes), evenly spaced beyond
    (where one bike changes the probability by little); ties go to the smaller quota.

    Examples
    --------
    >>> best_quota(np.array([0.0, 2.0, 17.6, 44.0])).tolist()
    [0.0, 1.0, 5.0, 12.0]
    """
    expected = np.asarray(expected, float)
    mean_need = expected / TURNOVER + 0.5
    low = np.floor(0.7 * mean_need - 2).clip(min=0)
    span = np.ceil(0.45 * mean_need) + 5
    count = int(min(CANDIDATES, span.max(initial=1.0)))
    step = np.maximum(1.0, np.ceil(span / count))
    candidates = low[:, None] + step[:, None] * np.arange(count)[None, :]
    prob = hit_probability(expected[:, None], candidates, sd=sd)
    return candidates[np.arange(len(expected)), prob.argmax(axis=1)]


def day_quota(rate: np.ndarray, factor: float, capacity: np.ndarray, *, sd: float = 0.0,
              fleet: int | None = None) -> np.ndarray:
    """Quota per cell for expected pick-ups ``rate × factor``: :func:`best_quota`, capped.

    Parameters
    ----------
    rate : numpy.ndarray
        Expected pick-ups per cell (:func:`forecast_day`), or a rate per unit of ``factor``.
    factor : float
        Multiplier of ``rate`` (1 for a :func:`forecast_day` expectation).
    capacity : numpy.ndarray
        Parking capacity per cell.
    sd : float
        Log standard deviation of the day volume around the forecast.
    fleet : int, optional
        Citywide fleet.
    """
    return cap_quota(best_quota(np.asarray(rate, float) * factor, sd=sd), capacity, fleet=fleet)
