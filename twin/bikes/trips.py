"""Trips in the Mobike schema: reproducible synthetic generation and vectorized ingest.

Schema (the public Mobike Shanghai sample): ``orderid, bikeid, userid, start_time,
start_location_x, start_location_y, end_time, end_location_x, end_location_y, track``,
coordinates in GCJ-02 (as the sample is believed to be). Ingest converts to WGS84 and
indexes both ends on H3 with a vectorized kernel (h3ronpy), no per-row Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from h3ronpy import vector
from scipy.spatial import cKDTree

from address.crs import from_wgs84, to_wgs84
from twin.bikes.errors import InvalidTrips

__all__ = ["MOBIKE_COLUMNS", "HOURLY_PROFILE", "generate_trips", "ingest_trips"]

MOBIKE_COLUMNS = ["orderid", "bikeid", "userid", "start_time", "start_location_x",
                  "start_location_y", "end_time", "end_location_x", "end_location_y", "track"]
#: Share of a day's trips starting in each hour (a two-peak commuting profile).
HOURLY_PROFILE = np.array([0.4, 0.2, 0.1, 0.1, 0.2, 0.8, 2.5, 7.5, 10.0, 6.0, 4.0, 4.0, 5.0, 4.5,
                           4.0, 4.5, 6.0, 9.5, 10.0, 6.0, 4.0, 3.0, 2.0, 1.0])
HOURLY_PROFILE = HOURLY_PROFILE / HOURLY_PROFILE.sum()


def generate_trips(cells: pd.DataFrame, *, days: int = 7, trips_per_day: int = 20_000,
                   start_date: str = "2016-08-01", seed: int = 7) -> pd.DataFrame:
    """Synthetic trips between cells (labelled ``source = "synthetic"``), GCJ-02.

    Parameters
    ----------
    cells : pandas.DataFrame
        ``lon``, ``lat`` (WGS84 cell centres), ``start_weight``, ``end_weight``.
    days, trips_per_day : int
        Volume.
    start_date : str
        First day.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Mobike columns + ``source``. Morning trips flow towards cells with more
        destinations (``end_weight``), evening trips back (a tidal pattern); trip length
        decays with distance (gravity model, 1.5 km scale).
    """
    rng = np.random.default_rng(seed)
    xy = cells[["lon", "lat"]].to_numpy()
    w_start = cells["start_weight"].to_numpy(float)
    w_end = cells["end_weight"].to_numpy(float)
    n = days * trips_per_day
    day = rng.integers(0, days, n)
    hour = rng.choice(24, size=n, p=HOURLY_PROFILE)
    morning = hour < 12
    origins = np.where(morning, rng.choice(len(xy), n, p=w_start / w_start.sum()),
                       rng.choice(len(xy), n, p=w_end / w_end.sum()))
    # gravity: sample destinations among the 60 nearest cells of the origin
    scale = np.array([111_320 * np.cos(np.radians(xy[:, 1].mean())), 110_540.0])
    tree = cKDTree(xy * scale)
    k = min(60, len(xy))
    dist, near = tree.query(xy * scale, k=k)
    dests = np.empty(n, dtype=np.int64)
    for o in np.unique(origins):
        idx = np.flatnonzero(origins == o)
        attract = np.where(morning[idx][:, None], w_end[near[o]][None, :], w_start[near[o]][None, :])
        weight = attract * np.exp(-dist[o] / 1500.0)[None, :]
        weight[:, 0] *= 0.3  # few trips stay in their cell
        cum = np.cumsum(weight, axis=1)
        pick = (cum < rng.random(len(idx))[:, None] * cum[:, -1:]).sum(axis=1)
        dests[idx] = near[o][np.minimum(pick, k - 1)]
    jitter = rng.normal(0, 0.0007, size=(n, 4))
    slon, slat = xy[origins, 0] + jitter[:, 0], xy[origins, 1] + jitter[:, 1]
    elon, elat = xy[dests, 0] + jitter[:, 2], xy[dests, 1] + jitter[:, 3]
    glon_s, glat_s = from_wgs84(slon, slat, "gcj02")
    glon_e, glat_e = from_wgs84(elon, elat, "gcj02")
    start = (pd.Timestamp(start_date) + pd.to_timedelta(day, "D") + pd.to_timedelta(hour, "h")
             + pd.to_timedelta(rng.integers(0, 3600, n), "s"))
    minutes = np.clip(np.hypot((elon - slon) * scale[0], (elat - slat) * scale[1]) / 180.0
                      + rng.exponential(3, n), 2, 90)
    order = np.argsort(start.to_numpy())
    frame = pd.DataFrame({
        "orderid": np.arange(n), "bikeid": rng.integers(0, n // 5 + 1, n),
        "userid": rng.integers(0, n // 3 + 1, n), "start_time": start,
        "start_location_x": glon_s, "start_location_y": glat_s,
        "end_time": start + pd.to_timedelta(minutes, "min"),
        "end_location_x": glon_e, "end_location_y": glat_e, "track": "", "source": "synthetic",
    }).iloc[order].reset_index(drop=True)
    frame["orderid"] = np.arange(n)
    return frame


def ingest_trips(trips: pd.DataFrame, *, res: int = 9, crs: str = "gcj02") -> pd.DataFrame:
    """WGS84 coordinates and H3 cells (uint64) of both ends, vectorized.

    Raises
    ------
    InvalidTrips
        Missing columns or unparseable times.
    """
    missing = set(MOBIKE_COLUMNS[:9]) - set(trips.columns)
    if missing:
        raise InvalidTrips(f"trips lack Mobike columns: {', '.join(sorted(missing))}")
    try:
        start = pd.to_datetime(trips["start_time"])
    except (ValueError, TypeError) as exc:
        raise InvalidTrips(f"start_time is not a time: {exc}") from None
    slon, slat = to_wgs84(trips["start_location_x"].to_numpy(float),
                          trips["start_location_y"].to_numpy(float), crs)
    elon, elat = to_wgs84(trips["end_location_x"].to_numpy(float),
                          trips["end_location_y"].to_numpy(float), crs)
    ok = np.isfinite(slon) & np.isfinite(slat) & np.isfinite(elon) & np.isfinite(elat)
    return pd.DataFrame({
        "start_cell": np.asarray(vector.coordinates_to_cells(slat[ok], slon[ok], res)),
        "end_cell": np.asarray(vector.coordinates_to_cells(elat[ok], elon[ok], res)),
        "start_hour": start.dt.hour.to_numpy()[ok], "end_hour": pd.to_datetime(
            trips["end_time"]).dt.hour.to_numpy()[ok],
        "day": start.dt.normalize().to_numpy()[ok],
    })
