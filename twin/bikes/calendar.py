"""Day-to-day variation of bike demand: day type, weather and the hourly profiles.

The synthetic trips vary from day to day the way shared-bike use does, with every factor
an explicit, reproducible assumption:

* **day type**: weekends carry :data:`WEEKEND_VOLUME` of a weekday's trips, with a flatter,
  later profile (:data:`WEEKEND_PROFILE`) instead of the two commuting peaks
  (:data:`WEEKDAY_PROFILE`); a weekend also weakens the tidal pattern
  (:data:`WEEKEND_TIDE`).
* **weather**: each day draws a weather factor, ``exp(N(0, WEATHER_SD))`` on a dry day
  and × :data:`RAIN_VOLUME` on a rainy day (probability :data:`RAIN_PROBABILITY`, the
  share of rainy August days in Shanghai is of that order).
  The factor is the *forecast* an operator has the evening before: quotas for a day are
  scaled by it (:func:`twin.bikes.model.quotas`).
* an **unforecast shock** of the whole day, ``exp(N(0, SHOCK_SD))`` (events, forecast
  errors), multiplies the forecast into the ``actual`` expected volume that generates the
  trips; the quotas never see it.
* on top of that, each trip is a random event: cell counts are Poisson around their
  expectation, which is the noise the backtests measure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["WEEKDAY_PROFILE", "WEEKEND_PROFILE", "WEEKEND_VOLUME", "WEEKEND_TIDE",
           "WEATHER_SD", "RAIN_PROBABILITY", "RAIN_VOLUME", "SHOCK_SD", "day_table", "profile"]

_WEEKDAY = np.array([0.4, 0.2, 0.1, 0.1, 0.2, 0.8, 2.5, 7.5, 10.0, 6.0, 4.0, 4.0, 5.0, 4.5,
                     4.0, 4.5, 6.0, 9.5, 10.0, 6.0, 4.0, 3.0, 2.0, 1.0])
_WEEKEND = np.array([0.8, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.5, 4.5, 6.0, 7.0, 7.0, 7.0, 6.5,
                     6.5, 6.5, 7.0, 7.0, 6.5, 5.5, 4.5, 3.5, 2.5, 1.5])
#: Share of a weekday's trips starting in each hour (two commuting peaks).
WEEKDAY_PROFILE = _WEEKDAY / _WEEKDAY.sum()
#: Share of a weekend day's trips starting in each hour (a broad afternoon hump).
WEEKEND_PROFILE = _WEEKEND / _WEEKEND.sum()
WEEKEND_VOLUME = 0.8
WEEKEND_TIDE = 0.5
WEATHER_SD = 0.06
RAIN_PROBABILITY = 0.2
RAIN_VOLUME = 0.65
SHOCK_SD = 0.05


def day_table(days: int, start_date: str, rng: np.random.Generator) -> pd.DataFrame:
    """One row per day: ``date``, ``weekend`` (bool), ``rain`` (bool), ``factor``, ``actual``.

    ``factor`` is the day's forecast volume relative to a dry weekday (day type × weather),
    ``actual`` the expected volume the trips are drawn from (× the unforecast shock).
    """
    dates = pd.date_range(start_date, periods=days, freq="D")
    weekend = dates.day_of_week.to_numpy() >= 5
    rain = rng.random(days) < RAIN_PROBABILITY
    weather = np.exp(rng.normal(0.0, WEATHER_SD, days)) * np.where(rain, RAIN_VOLUME, 1.0)
    factor = np.where(weekend, WEEKEND_VOLUME, 1.0) * weather
    actual = factor * np.exp(rng.normal(0.0, SHOCK_SD, days))
    return pd.DataFrame({"date": dates, "weekend": weekend, "rain": rain, "factor": factor,
                         "actual": actual})


def profile(weekend: bool) -> np.ndarray:
    """The hourly start profile of a day type (sums to 1)."""
    return WEEKEND_PROFILE if weekend else WEEKDAY_PROFILE
