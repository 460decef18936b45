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
* **holidays**: PRC statutory holidays (:data:`CN_HOLIDAYS`) are days off like weekends,
  and the make-up working days (调休, :data:`CN_MAKEUP_WORKDAYS`) are working days.
* an **unforecast shock** of the whole day, ``exp(N(0, SHOCK_SD))`` (events), multiplies
  the day type × weather factor (``factor``) into the ``actual`` expected volume that
  generates the trips.
* the **rain forecast** issued the evening before (``rain_forecast``) is the day's rain
  flag, wrong with probability :data:`RAIN_FORECAST_ERROR` (a stated forecast skill).
* on top of that, each trip is a random event: cell counts are Poisson around their
  expectation.

What an operator knows (:data:`KNOWN_THE_EVENING_BEFORE`, :data:`KNOWN_AFTER_THE_DAY`):
the evening before a day, its date, whether it is a day off and the rain forecast; once a
day is over, also whether it rained (and its trips). ``factor`` and ``actual`` are the
generator's realised day factors (:data:`GENERATOR_ONLY`): no forecast ever reads them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["WEEKDAY_PROFILE", "WEEKEND_PROFILE", "WEEKEND_VOLUME", "WEEKEND_TIDE",
           "WEATHER_SD", "RAIN_PROBABILITY", "RAIN_VOLUME", "SHOCK_SD", "RAIN_FORECAST_ERROR",
           "CN_HOLIDAYS", "CN_MAKEUP_WORKDAYS", "KNOWN_THE_EVENING_BEFORE", "KNOWN_AFTER_THE_DAY",
           "GENERATOR_ONLY", "day_off", "day_table", "trip_calendar", "profile"]

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
#: Probability that the evening-before rain forecast flag is wrong (stated forecast skill).
RAIN_FORECAST_ERROR = 0.15
#: Columns of a day known the evening before it.
KNOWN_THE_EVENING_BEFORE = ("date", "day_off", "rain_forecast")
#: Columns of a day known once it is over (besides its trips).
KNOWN_AFTER_THE_DAY = ("rain",)
#: The generator's realised day factors: never an input of a forecast.
GENERATOR_ONLY = ("factor", "actual")


def _days(spec: str) -> frozenset[pd.Timestamp]:
    out = set()
    for part in spec.split():
        first, _, last = part.partition("/")
        out.update(pd.date_range(first, last or first, freq="D"))
    return frozenset(out)


#: PRC statutory holidays (国务院办公厅 notices) of 2016-2017, the Mobike sample's years;
#: pass ``holidays=`` for other years.
CN_HOLIDAYS = _days(
    "2016-01-01/2016-01-03 2016-02-07/2016-02-13 2016-04-02/2016-04-04 2016-04-30/2016-05-02 "
    "2016-06-09/2016-06-11 2016-09-15/2016-09-17 2016-10-01/2016-10-07 "
    "2016-12-31/2017-01-02 2017-01-27/2017-02-02 2017-04-02/2017-04-04 2017-04-29/2017-05-01 "
    "2017-05-28/2017-05-30 2017-10-01/2017-10-08")
#: Weekend days that are working days (调休) in the same years.
CN_MAKEUP_WORKDAYS = _days(
    "2016-02-06 2016-02-14 2016-06-12 2016-09-18 2016-10-08 2016-10-09 "
    "2017-01-22 2017-02-04 2017-04-01 2017-05-27 2017-09-30")


def day_off(dates: pd.DatetimeIndex, *, holidays: frozenset | None = None,
            workdays: frozenset | None = None) -> np.ndarray:
    """Whether each date is a day off: a weekend or a holiday, and not a make-up workday.

    Examples
    --------
    >>> day_off(pd.DatetimeIndex(["2016-08-05", "2016-08-06", "2016-10-03", "2016-10-08"])).tolist()
    [False, True, True, False]
    """
    dates = pd.DatetimeIndex(dates).normalize()
    holidays = CN_HOLIDAYS if holidays is None else frozenset(pd.DatetimeIndex(list(holidays)))
    workdays = CN_MAKEUP_WORKDAYS if workdays is None else frozenset(
        pd.DatetimeIndex(list(workdays)))
    weekend = dates.day_of_week.to_numpy() >= 5
    return (weekend | dates.isin(list(holidays))) & ~dates.isin(list(workdays))


def day_table(days: int, start_date: str, rng: np.random.Generator) -> pd.DataFrame:
    """The generator's days: ``date``, ``weekend``, ``day_off``, ``rain``, ``rain_forecast``,
    ``factor``, ``actual``.

    ``factor`` is the day's volume relative to a dry working day (day type × weather,
    weather noise included), ``actual`` the expected volume the trips are drawn from
    (× the unforecast shock); both are realised values that only the generator knows.
    ``rain_forecast`` is ``rain`` flipped with probability :data:`RAIN_FORECAST_ERROR`.
    """
    dates = pd.date_range(start_date, periods=days, freq="D")
    weekend = dates.day_of_week.to_numpy() >= 5
    off = day_off(dates)
    rain = rng.random(days) < RAIN_PROBABILITY
    weather = np.exp(rng.normal(0.0, WEATHER_SD, days)) * np.where(rain, RAIN_VOLUME, 1.0)
    factor = np.where(off, WEEKEND_VOLUME, 1.0) * weather
    actual = factor * np.exp(rng.normal(0.0, SHOCK_SD, days))
    wrong = rng.random(days) < RAIN_FORECAST_ERROR
    return pd.DataFrame({"date": dates, "weekend": weekend, "day_off": off, "rain": rain,
                         "rain_forecast": rain ^ wrong, "factor": factor, "actual": actual})


def trip_calendar(dates: pd.DatetimeIndex, *, holidays: frozenset | None = None,
                  workdays: frozenset | None = None) -> pd.DataFrame:
    """The calendar of real trips without weather: ``date``, ``weekend``, ``day_off``,
    ``rain`` and ``rain_forecast`` (both False: unknown weather is not forecast)."""
    dates = pd.DatetimeIndex(sorted(pd.DatetimeIndex(dates).normalize().unique()))
    return pd.DataFrame({"date": dates, "weekend": dates.day_of_week.to_numpy() >= 5,
                         "day_off": day_off(dates, holidays=holidays, workdays=workdays),
                         "rain": False, "rain_forecast": False})


def profile(weekend: bool) -> np.ndarray:
    """The hourly start profile of a day type (``weekend``: a day off; sums to 1)."""
    return WEEKEND_PROFILE if weekend else WEEKDAY_PROFILE
