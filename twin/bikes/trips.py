"""Trips in the Mobike schema: reproducible synthetic generation and vectorized ingest.

Schema (the public Mobike Shanghai sample): ``orderid, bikeid, userid, start_time,
start_location_x, start_location_y, end_time, end_location_x, end_location_y, track``,
coordinates in GCJ-02 (as the sample is believed to be). Ingest converts to WGS84 and
indexes both ends on H3 with a vectorized kernel (h3ronpy), no per-row Python.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from h3ronpy import vector
from scipy.spatial import cKDTree

from address.crs import from_wgs84, to_wgs84
from twin.bikes.calendar import WEEKEND_TIDE, day_table, profile
from twin.bikes.coords import gcj02_to_wgs84_many
from twin.bikes.errors import InvalidTrips

__all__ = ["MOBIKE_COLUMNS", "coerce_trips", "generate_trips", "ingest_trips", "read_trips"]

MOBIKE_COLUMNS = ["orderid", "bikeid", "userid", "start_time", "start_location_x",
                  "start_location_y", "end_time", "end_location_x", "end_location_y", "track"]


def read_trips(path: str | Path) -> pd.DataFrame:
    """Read a trip file in the Mobike schema (CSV, or Parquet by its suffix).

    Raises
    ------
    InvalidTrips
        Unreadable file, missing columns, unparseable times or no trip.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"track": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InvalidTrips(f"cannot read trips from {path.name}: {exc}") from None
    frame = coerce_trips(frame, source=path.name)
    if not len(frame):
        raise InvalidTrips(f"{path.name} has no trips")
    return frame


def _check_columns(frame: pd.DataFrame, source: str) -> None:
    missing = set(MOBIKE_COLUMNS[:9]) - set(frame.columns)
    if missing:
        raise InvalidTrips(f"Mobike columns missing from {source}: {', '.join(sorted(missing))}")


def coerce_trips(frame: pd.DataFrame, *, source: str = "the trips") -> pd.DataFrame:
    """Check the Mobike columns of a trip table and parse its times and coordinates.

    Parameters
    ----------
    frame : pandas.DataFrame
        Trips as read (all of a file, or one partition of it).
    source : str
        What the trips came from, for the error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with datetime ``start_time`` / ``end_time`` and float coordinates
        (unparseable coordinates become NaN and are dropped at ingest).

    Raises
    ------
    InvalidTrips
        Missing columns or unparseable times.
    """
    _check_columns(frame, source)
    frame = frame.copy()
    for column in ("start_time", "end_time"):
        try:
            frame[column] = pd.to_datetime(frame[column])
        except (ValueError, TypeError) as exc:
            raise InvalidTrips(f"{source}: {column} is not a time: {exc}") from None
    for column in ("start_location_x", "start_location_y", "end_location_x", "end_location_y"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def generate_trips(cells: pd.DataFrame, days: pd.DataFrame | int = 7, *, trips_per_day: int = 20_000,
                   start_date: str = "2016-08-01", seed: int = 7) -> pd.DataFrame:
    """Synthetic trips between cells (labelled ``source = "synthetic"``), GCJ-02.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``lon``, ``lat`` (WGS84 cell centres), ``start_weight`` (morning origins: homes),
        ``end_weight`` (morning destinations: work places, stations).
    days : pandas.DataFrame or int
        A :func:`twin.bikes.calendar.day_table` (date, weekend or day_off, factor,
        optionally actual), or a number of days for which one is drawn from ``seed``.
    trips_per_day : int
        Expected trips on a dry weekday; a day's count is Poisson around
        ``trips_per_day × actual`` (else ``× factor``).
    start_date : str
        First day when ``days`` is a number.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Mobike columns + ``source``. Weekday mornings flow from ``start_weight`` towards
        ``end_weight`` cells and evenings back (the tidal pattern), weekends half as
        tidal; trip length decays with distance (gravity model, 1.5 km scale).
    """
    rng = np.random.default_rng(seed)
    table = days if isinstance(days, pd.DataFrame) else day_table(int(days), start_date, rng)
    volume = table["actual"] if "actual" in table.columns else table["factor"]
    counts = rng.poisson(trips_per_day * volume.to_numpy(float))
    day = np.repeat(np.arange(len(table)), counts)
    n = len(day)
    off = "day_off" if "day_off" in table.columns else "weekend"
    weekend = table[off].to_numpy(bool)[day]
    hour = np.empty(n, dtype=np.int64)
    for flag in (False, True):
        sel = weekend == flag
        hour[sel] = rng.choice(24, size=int(sel.sum()), p=profile(flag))
    tide = np.where(weekend, WEEKEND_TIDE, 1.0)
    forward = rng.random(n) < np.where(hour < 12, (1 + tide) / 2, (1 - tide) / 2)
    xy = cells[["lon", "lat"]].to_numpy()
    w_start = cells["start_weight"].to_numpy(float)
    w_end = cells["end_weight"].to_numpy(float)
    origins = np.where(forward, rng.choice(len(xy), n, p=w_start / w_start.sum()),
                       rng.choice(len(xy), n, p=w_end / w_end.sum()))
    dests = _gravity_destinations(xy, origins, forward, w_start, w_end, rng)
    scale = _metres_per_degree(xy)
    jitter = rng.normal(0, 0.0007, size=(n, 4))
    slon, slat = xy[origins, 0] + jitter[:, 0], xy[origins, 1] + jitter[:, 1]
    elon, elat = xy[dests, 0] + jitter[:, 2], xy[dests, 1] + jitter[:, 3]
    glon_s, glat_s = from_wgs84(slon, slat, "gcj02")
    glon_e, glat_e = from_wgs84(elon, elat, "gcj02")
    start = (pd.DatetimeIndex(table["date"].to_numpy()[day]) + pd.to_timedelta(hour, "h")
             + pd.to_timedelta(rng.integers(0, 3600, n), "s"))
    minutes = np.clip(np.hypot((elon - slon) * scale[0], (elat - slat) * scale[1]) / 180.0
                      + rng.exponential(3, n), 2, 90)
    order = np.argsort(start.to_numpy(), kind="stable")
    frame = pd.DataFrame({
        "orderid": np.arange(n), "bikeid": rng.integers(0, n // 5 + 1, n),
        "userid": rng.integers(0, n // 3 + 1, n), "start_time": start,
        "start_location_x": glon_s, "start_location_y": glat_s,
        "end_time": start + pd.to_timedelta(minutes, "min"),
        "end_location_x": glon_e, "end_location_y": glat_e, "track": "", "source": "synthetic",
    }).iloc[order].reset_index(drop=True)
    frame["orderid"] = np.arange(n)
    return frame


def _metres_per_degree(xy: np.ndarray) -> np.ndarray:
    return np.array([111_320 * np.cos(np.radians(xy[:, 1].mean())), 110_540.0])


def _gravity_destinations(xy: np.ndarray, origins: np.ndarray, forward: np.ndarray,
                          w_start: np.ndarray, w_end: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
    """A destination per trip among the 60 nearest cells of its origin (gravity model)."""
    scale = _metres_per_degree(xy)
    tree = cKDTree(xy * scale)
    k = min(60, len(xy))
    dist, near = tree.query(xy * scale, k=k)
    dist, near = dist.reshape(len(xy), k), near.reshape(len(xy), k)
    decay = np.exp(-dist / 1500.0)
    decay[:, 0] *= 0.3  # few trips stay in their cell
    dests = np.empty(len(origins), dtype=np.int64)
    order = np.argsort(origins, kind="stable")
    bounds = np.flatnonzero(np.diff(origins[order])) + 1
    for idx in np.split(order, bounds):
        if not len(idx):
            continue
        o = origins[idx[0]]
        attract = np.where(forward[idx][:, None], w_end[near[o]][None, :], w_start[near[o]][None, :])
        cum = np.cumsum(attract * decay[o][None, :], axis=1)
        pick = (cum < rng.random(len(idx))[:, None] * cum[:, -1:]).sum(axis=1)
        dests[idx] = near[o][np.minimum(pick, k - 1)]
    return dests


def _to_wgs84(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 coordinates (GCJ-02 through the interpolated offset table)."""
    return gcj02_to_wgs84_many(lon, lat) if crs == "gcj02" else to_wgs84(lon, lat, crs)


def ingest_trips(trips: pd.DataFrame, *, res: int = 9, crs: str = "gcj02") -> pd.DataFrame:
    """WGS84 coordinates and H3 cells (uint64) of both ends, vectorized.

    Raises
    ------
    InvalidTrips
        Missing columns or unparseable times.
    """
    _check_columns(trips, "the trips")
    try:
        start = pd.to_datetime(trips["start_time"])
    except (ValueError, TypeError) as exc:
        raise InvalidTrips(f"start_time is not a time: {exc}") from None
    slon, slat = _to_wgs84(trips["start_location_x"].to_numpy(float),
                           trips["start_location_y"].to_numpy(float), crs)
    elon, elat = _to_wgs84(trips["end_location_x"].to_numpy(float),
                           trips["end_location_y"].to_numpy(float), crs)
    ok = np.isfinite(slon) & np.isfinite(slat) & np.isfinite(elon) & np.isfinite(elat)
    return pd.DataFrame({
        "start_cell": np.asarray(vector.coordinates_to_cells(slat[ok], slon[ok], res)),
        "end_cell": np.asarray(vector.coordinates_to_cells(elat[ok], elon[ok], res)),
        "start_hour": start.dt.hour.to_numpy()[ok], "end_hour": pd.to_datetime(
            trips["end_time"]).dt.hour.to_numpy()[ok],
        "day": start.dt.normalize().to_numpy()[ok],
    })
