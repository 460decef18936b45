"""Quotas that maximise the chance of meeting a day's need (the 精准投放 decision).

A cell's realised need on a day, ``ceil(pick-ups / TURNOVER)``
(:func:`twin.bikes.model.need_from_pickups`), is a random quantity: riders arrive one by
one (Poisson) around an expectation that the whole day shares (an unforecast citywide
shock). The quota is a decision taken the evening before on that forecast, so it is chosen
as the integer that maximises the predictive probability of landing within the tolerance
of the realised need (:func:`twin.bikes.model.within_tolerance`), not as the rounded mean:

* **rate**: the expected pick-ups of a cell on a day of factor 1 (a dry weekday), the
  Poisson maximum-likelihood estimate over the fitting days with known day factors,
  ``sum(pick-ups) / sum(factors)`` (:func:`pickup_rate`);
* **shock**: the log standard deviation of the citywide day volume around its forecast,
  measured on the fitting days (:func:`shock_sd`); a day's pick-ups in a cell are then
  Poisson(rate × factor × shock), the shock log-normal (7-point Gauss-Hermite quadrature);
* **quota**: :func:`best_quota`. The tolerance band ``[q/1.2, q/0.8]`` of need that a
  quota ``q`` accepts is wider above ``q`` than below, and need is a rounded-up count, so
  the hit-maximising quota is not the rounded mean need;
* :func:`day_quota`: that quota for a day of a given factor, capped by parking capacity
  and the fleet (:func:`twin.bikes.model.cap_quota`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import pdtr

from twin.bikes.model import MIN_TOLERANCE, TOLERANCE, TURNOVER, cap_quota

__all__ = ["CANDIDATES", "pickup_rate", "shock_sd", "hit_probability", "best_quota", "day_quota"]

#: Most candidate quotas tried per cell (:func:`best_quota`).
CANDIDATES = 50
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(7)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_EPS = 1e-9


def pickup_rate(pickups: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Expected pick-ups per cell on a day of factor 1.

    Parameters
    ----------
    pickups : numpy.ndarray
        ``(n_days, n_cells)`` pick-ups of the fitting days.
    factors : numpy.ndarray
        Each day's forecast factor (day type × weather, :mod:`twin.bikes.calendar`).

    Returns
    -------
    numpy.ndarray
        ``sum(pick-ups) / sum(factors)`` per cell (Poisson MLE with known day factors).

    Examples
    --------
    >>> pickup_rate(np.array([[10.0, 0.0], [4.0, 2.0]]), np.array([1.0, 0.4])).tolist()
    [10.0, 1.4285714285714286]
    """
    return np.asarray(pickups, float).sum(axis=0) / float(np.sum(factors))


def shock_sd(pickups: np.ndarray, factors: np.ndarray) -> float:
    """Log standard deviation of the citywide day volume around its forecast.

    The ratio of each fitting day's total pick-ups to its factor, in logs, less the Poisson
    part of that spread (negligible for a city's total); 0 with fewer than 3 days.
    """
    totals = np.asarray(pickups, float).sum(axis=1)
    factors = np.asarray(factors, float)
    if len(totals) < 3 or totals.min() <= 0:
        return 0.0
    var = np.var(np.log(totals / factors), ddof=1) - np.mean(1.0 / totals)
    return float(np.sqrt(max(var, 0.0)))


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
    """Quota per cell for a day of forecast ``factor``: :func:`best_quota`, capped.

    Parameters
    ----------
    rate : numpy.ndarray
        :func:`pickup_rate` of the fitting days.
    factor : float
        The day's forecast factor.
    capacity : numpy.ndarray
        Parking capacity per cell.
    sd : float
        :func:`shock_sd` of the fitting days.
    fleet : int, optional
        Citywide fleet.
    """
    return cap_quota(best_quota(np.asarray(rate, float) * factor, sd=sd), capacity, fleet=fleet)
