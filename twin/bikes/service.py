"""The shared-bike model of a city (共享单车有序骑): demand, quotas, fences, rebalancing."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.bikes.backtest import SPLITS, held_out_days, held_out_grid, held_out_period
from twin.bikes.calendar import WEEKEND_VOLUME, day_table
from twin.bikes.demand import cell_polygon, check_res, disaggregate
from twin.bikes.errors import InvalidHour, InvalidPeriod, InvalidTrips
from twin.bikes.forecast import day_quota, pickup_rate, shock_sd
from twin.bikes.model import TURNOVER, Flows, daily_needs, hourly_flows
from twin.bikes.parking import (
    BAY_SHARE,
    fence_capacity,
    neighbours_of,
    parking_capacity,
    peak_inflow,
    simulate_parking,
)
from twin.bikes.rebalance import rebalance
from twin.bikes.trips import generate_trips, ingest_trips

__all__ = ["BikeService", "DEFAULTS"]

#: Synthetic demand: two weeks of trips, ten days to fit, four held out. The sample's real
#: trips give the spatial shares only; the daily volume is an assumption (a dense central
#: area), as is the citywide fleet bound. ``grid_splits``: random splits averaged in the
#: grid hold-out.
DEFAULTS = {"days": 14, "fit_days": 10, "trips_per_day": 60_000, "fleet": 60_000, "seed": 7,
            "start_date": "2016-08-01", "bay_share": BAY_SHARE, "grid_splits": SPLITS}
FENCE_HALF_WIDTH_M = 2.0
#: Kerb metres per fenced bike (perpendicular parking).
FENCE_M_PER_BIKE = 0.65
FENCE_MIN_LENGTH_M = 6.0
#: Road search radius for a fence around a cell centre, metres.
FENCE_MAX_DISTANCE_M = 300.0


@dataclass
class _Model:
    cells: pd.DataFrame
    days: pd.DataFrame  # date, weekend, rain, factor per day of the flows
    flows: Flows
    needs: np.ndarray  # (n_days, n_cells)
    rate: np.ndarray  # expected pick-ups on a factor-1 day (fitting days)
    shock_sd: float  # log sd of the unforecast day volume (fitting days)
    quota: np.ndarray  # quota on a dry weekday
    capacity: np.ndarray
    inflow: np.ndarray
    hourly: np.ndarray  # (24, n_cells) mean pick-ups per hour over the fitting days
    hourly_drop: np.ndarray


class BikeService:
    """Bike demand and quotas on H3 cells for one city.

    Parameters
    ----------
    grid : geopandas.GeoDataFrame
        Real grid cells with ``start_count``, ``end_count`` and the covariates (the Mobike
        sample).
    pois, roads : geopandas.GeoDataFrame
        Covariates for disaggregation; roads carry the fences.
    trips : pandas.DataFrame, optional
        A real trip file in the Mobike schema (GCJ-02). Default: synthetic trips generated
        from the disaggregated real demand (labelled synthetic).
    calendar : pandas.DataFrame, optional
        ``date``, ``weekend``, ``rain``, ``factor`` per day of ``trips`` (the weather
        forecast); by default weekends get the weekend factor and every day is dry.
    **options
        Overrides of :data:`DEFAULTS`.
    """

    def __init__(self, grid: gpd.GeoDataFrame, pois: gpd.GeoDataFrame, roads: gpd.GeoDataFrame,
                 *, trips: pd.DataFrame | None = None, calendar: pd.DataFrame | None = None,
                 **options: Any) -> None:
        self.grid, self.pois, self.roads = grid, pois, roads
        self.options = {**DEFAULTS, **options}
        self._raw_trips, self._calendar = trips, calendar
        self._models: dict[int, _Model] = {}
        self._fences: dict[int, gpd.GeoDataFrame] = {}
        self._trip_cache: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._metrics: dict[int, dict[str, Any]] = {}
        self._grid_holdout: dict[str, Any] | None = None

    def model(self, res: int = 9) -> _Model:
        """The fitted model at an H3 resolution (cached)."""
        res = check_res(res)
        if res not in self._models:
            self._models[res] = self._fit(res)
        return self._models[res]

    def _trips(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Raw trips and their calendar (synthetic unless a trip file was given), cached."""
        if self._trip_cache is None:
            self._trip_cache = self._make_trips()
        return self._trip_cache

    def _make_trips(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        o = self.options
        if self._raw_trips is not None:
            dates = pd.to_datetime(self._raw_trips["start_time"]).dt.normalize().unique()
            calendar = self._calendar
            if calendar is None:
                dates = pd.DatetimeIndex(sorted(dates))
                weekend = dates.day_of_week >= 5
                calendar = pd.DataFrame({"date": dates, "weekend": weekend, "rain": False,
                                         "factor": np.where(weekend, WEEKEND_VOLUME, 1.0)})
            return self._raw_trips, calendar
        if self._calendar is not None:
            calendar = self._calendar
        else:
            calendar = day_table(o["days"], o["start_date"], np.random.default_rng(o["seed"]))
        return generate_trips(self.generator_cells(), calendar, trips_per_day=o["trips_per_day"],
                              seed=o["seed"]), calendar

    def generator_cells(self) -> pd.DataFrame:
        """Res-9 cells with the ``start_weight`` / ``end_weight`` of the synthetic trips.

        A cell's activity is the mean of its real starts and ends (+0.05 so that every cell
        can see a trip), split into homes (morning origins) and work places by
        ``home_share``.
        """
        base = disaggregate(self.grid, self.pois, self.roads, res=9)
        demand = (base["starts"] + base["ends"]) / 2 + 0.05
        return base.assign(start_weight=demand * base["home_share"],
                           end_weight=demand * (1 - base["home_share"]))

    def _fit(self, res: int) -> _Model:
        o = self.options
        cells = disaggregate(self.grid, self.pois, self.roads, res=res)
        raw, calendar = self._trips()
        flows = hourly_flows(ingest_trips(raw, res=res), cells["cell"].to_numpy())
        days = calendar.set_index(pd.DatetimeIndex(calendar["date"]).normalize()).reindex(flows.days)
        if days["factor"].isna().any():
            raise InvalidTrips("the calendar lacks days of the trips")
        days = days.reset_index(drop=True).assign(date=flows.days)
        if not 0 < o["fit_days"] < len(days):
            raise InvalidTrips(f"need more than {o['fit_days']} days of trips, got {len(days)}")
        needs = daily_needs(flows)
        fit = slice(0, o["fit_days"])
        factors = days["factor"].to_numpy(float)
        capacity = parking_capacity(cells)
        pickups = flows.pickups[fit].sum(axis=1)
        rate, sd = pickup_rate(pickups, factors[fit]), shock_sd(pickups, factors[fit])
        quota = day_quota(rate, 1.0, capacity, sd=sd, fleet=o["fleet"])
        inflow = peak_inflow(flows.select(fit), factors[fit])
        hourly, hourly_drop = flows.select(fit).mean_hourly()
        return _Model(cells, days, flows, needs, rate, sd, quota, capacity, inflow, hourly,
                      hourly_drop)

    def day_quota(self, factor: float, *, res: int = 9) -> np.ndarray:
        """Quota per cell (aligned with ``model(res).cells``) for a day of forecast ``factor``."""
        m = self.model(res)
        return day_quota(m.rate, factor, m.capacity, sd=m.shock_sd, fleet=self.options["fleet"])

    # -- outputs -------------------------------------------------------------------------
    def quotas(self, *, res: int = 9, hour: int | None = None) -> gpd.GeoDataFrame:
        """H3 cells with ``h3`` (str), ``quota``, demand at ``hour`` (or per day)."""
        m = self.model(res)
        if hour is not None and (not isinstance(hour, int | np.integer) or not 0 <= hour <= 23):
            raise InvalidHour(f"hour must be 0 to 23, got {hour!r}")
        pick = m.hourly[hour] if hour is not None else m.hourly.sum(axis=0)
        drop = m.hourly_drop[hour] if hour is not None else m.hourly_drop.sum(axis=0)
        active = (m.quota > 0) | (pick > 0) | (drop > 0)
        cells = m.cells[active]
        return gpd.GeoDataFrame({
            "h3": cells["h3"].to_numpy(), "quota": m.quota[active].astype(int),
            "pickups": np.round(pick[active], 2), "dropoffs": np.round(drop[active], 2),
            "net_flow": np.round(drop[active] - pick[active], 2),
            "parking_capacity": np.round(m.capacity[active], 1),
            "hour": -1 if hour is None else int(hour), "source": "synthetic trips on real demand"},
            geometry=[cell_polygon(c) for c in cells["h3"]], crs=4326)

    def fences(self, *, res: int = 9, max_fences: int = 2000) -> gpd.GeoDataFrame:
        """Parking fences (电子围栏): a strip on the road nearest each busy cell's centre.

        Each cell with a quota near the street network gets a fence sized for its quota
        plus the expected peak accumulation less the painted bays
        (:func:`twin.bikes.parking.fence_capacity`), ``FENCE_M_PER_BIKE`` kerb metres a
        bike, centred on the point of the nearest road closest to the cell centre.
        """
        res = check_res(res)
        if res not in self._fences:
            self._fences[res] = self._draw_fences(self.model(res), max_fences)
        return self._fences[res]

    def _draw_fences(self, m: _Model, max_fences: int) -> gpd.GeoDataFrame:
        size = fence_capacity(m.quota, m.inflow, m.capacity, bay_share=self.options["bay_share"])
        order = np.argsort(-m.quota, kind="stable")[:max_fences]
        order = order[(m.quota[order] > 0) & (size[order] > 0)]
        roads = self.roads.to_crs(self.roads.estimate_utm_crs())
        tree = shapely.STRtree(roads.geometry.to_numpy())
        centres = gpd.GeoSeries(gpd.points_from_xy(m.cells["lon"].to_numpy()[order],
                                                   m.cells["lat"].to_numpy()[order]), crs=4326)
        centres = centres.to_crs(roads.crs).to_numpy()
        nearest = tree.nearest(centres)
        rows = []
        for i, pt, r in zip(order, centres, nearest, strict=True):
            line = roads.geometry.iat[int(r)]
            if line.distance(pt) > FENCE_MAX_DISTANCE_M:
                continue
            half = max(size[i] * FENCE_M_PER_BIKE, FENCE_MIN_LENGTH_M) / 2
            d = line.project(pt)
            seg = shapely.ops.substring(line, max(0, d - half), min(line.length, d + half))
            rows.append({"h3": m.cells["h3"].iat[i], "capacity": int(size[i]),
                         "quota": int(m.quota[i]),
                         "geometry": seg.buffer(FENCE_HALF_WIDTH_M, cap_style="flat")})
        frame = gpd.GeoDataFrame(rows, columns=["h3", "capacity", "quota", "geometry"],
                                 geometry="geometry", crs=roads.crs).to_crs(4326)
        frame.insert(0, "fence_id", [f"FENCE{i:04d}" for i in range(len(frame))])
        return frame

    def rebalancing(self, *, period: str = "am", res: int = 9) -> pd.DataFrame:
        """Moves before the peak: am (07:00) restores quotas after the night; pm (17:00)
        covers the evening deficits from the midday surplus."""
        if period not in ("am", "pm"):
            raise InvalidPeriod(f"period must be am or pm, got {period!r}")
        m = self.model(res)
        if period == "am":
            expected = m.quota + m.hourly_drop[:7].sum(axis=0) - m.hourly[:7].sum(axis=0)
            target = m.quota
        else:
            expected = m.quota + m.hourly_drop[:17].sum(axis=0) - m.hourly[:17].sum(axis=0)
            target = np.ceil(np.maximum(m.hourly[17:20].sum(axis=0) - m.hourly_drop[17:20].sum(
                axis=0), m.hourly[17:20].sum(axis=0) / TURNOVER))
        surplus = np.round(expected - target).astype(np.int64)
        return rebalance(surplus, m.cells)

    def metrics(self, *, res: int = 9) -> dict[str, Any]:
        """精准投放率 (both backtests), 乱停乱放率 with / without, bikes moved.

        Returns
        -------
        dict
            Fractions, per-day details and a ``how`` entry explaining every computation
            (computed once per resolution).
        """
        res = check_res(res)
        if res not in self._metrics:
            self._metrics[res] = self._compute_metrics(res)
        return copy.deepcopy(self._metrics[res])

    def _compute_metrics(self, res: int) -> dict[str, Any]:
        m = self.model(res)
        o = self.options
        pickups = m.flows.pickups.sum(axis=1)
        days = held_out_days(pickups, m.days, o["fit_days"], m.capacity, o["fleet"])
        period = held_out_period(pickups, m.days["factor"].to_numpy(), o["fit_days"], m.capacity,
                                 o["fleet"])
        if self._grid_holdout is None:  # the same for every resolution
            self._grid_holdout = held_out_grid(self.grid, o["trips_per_day"], seed=o["seed"],
                                               splits=o["grid_splits"])
        grid = copy.deepcopy(self._grid_holdout)
        parking = self._parking(m, res)
        moved = {p: int(self.rebalancing(period=p, res=res)["bikes"].sum()) for p in ("am", "pm")}
        rate = float(days["precise_rate"].mean())
        return {
            "res": res,
            "precise_deployment_rate": round(rate, 4),
            "precise_deployment_rate_days": [
                {"date": str(r.date.date()), "weekend": bool(r.weekend), "rain": bool(r.rain),
                 "precise_rate": round(r.precise_rate, 4),
                 "mean_rule_rate": round(r.mean_rule_rate, 4),
                 "below_need_share": round(r.below_need_share, 4)}
                for r in days.itertuples()],
            "precise_deployment_rate_mean_rule": round(float(days["mean_rule_rate"].mean()), 4),
            "precise_deployment_rate_period": round(period, 4),
            "precise_deployment_rate_grid_holdout": grid["precise_rate"],
            "grid_holdout": grid,
            "goal_precise_deployment_rate": 0.9,
            "goal_met_held_out_days": bool(rate >= 0.9),
            "goal_met_grid_holdout": bool(grid["precise_rate"] >= 0.9),
            **parking,
            "goal_met_disorderly_parking": bool((parking["disorderly_parking_reduction"] or 0) >= 0.5),
            "bikes_moved_by_rebalancing": moved["am"] + moved["pm"],
            "bikes_moved_am": moved["am"], "bikes_moved_pm": moved["pm"],
            "how": self._how(len(days)),
        }

    def _parking(self, m: _Model, res: int) -> dict[str, Any]:
        """The parking simulation on every held-out day, mean rates (see twin.bikes.parking)."""
        o = self.options
        fenced = m.cells["h3"].isin(self.fences(res=res)["h3"]).to_numpy()
        bays = o["bay_share"] * m.capacity
        fences = np.where(fenced, fence_capacity(m.quota, m.inflow, m.capacity,
                                                 bay_share=o["bay_share"]), 0.0)
        ring = neighbours_of(m.cells["h3"])
        counted = m.cells["core_road_m"].to_numpy() > 0
        rates: dict[str, list[float]] = {"without": [], "with": [], "quotas_only": [],
                                         "fences_only": []}
        for d in range(o["fit_days"], len(m.days)):
            quota = self.day_quota(float(m.days["factor"].iat[d]), res=res)
            even = np.full(len(quota), o["fleet"] / len(quota))
            pick, drop = m.flows.pickups[d], m.flows.dropoffs[d]
            for name, start, places, ring_ in (("without", even, bays, None),
                                               ("with", quota, bays + fences, ring),
                                               ("quotas_only", quota, bays, None),
                                               ("fences_only", even, bays + fences, ring)):
                rates[name].append(simulate_parking(pick, drop, start, places, neighbours=ring_,
                                                    counted=counted))
        mean = {k: round(float(np.mean(v)), 4) for k, v in rates.items()}
        deployed = np.mean([self.day_quota(float(f), res=res).sum()
                            for f in m.days["factor"].iloc[o["fit_days"]:]])
        a, b = mean["without"], mean["with"]
        return {"disorderly_parking_rate_without": a, "disorderly_parking_rate_with": b,
                "disorderly_parking_reduction": round(1 - b / a, 4) if a else None,
                "disorderly_parking_rate_quotas_only": mean["quotas_only"],
                "disorderly_parking_rate_fences_only": mean["fences_only"],
                "parking_cells_counted": int(counted.sum()), "fenced_cells": int(fenced.sum()),
                "bikes_on_street_without": int(o["fleet"]), "bikes_on_street_with": int(round(deployed))}

    def _how(self, held: int) -> dict[str, str]:
        o = self.options
        return {
            "need": f"bikes a cell needs on a day = ceil(pick-ups that day / turnover {TURNOVER}) "
            "(the turnover rule: the stock that serves the day's pick-ups when a bike makes "
            f"{TURNOVER:g} trips a day); the tidal peak deficits are left to the rebalancing plan "
            "(as a need they vary several times more from day to day)",
            "quota": "deployed supply of a cell for a day, set the evening before from the fitting "
            "days only: rate = the cell's pick-ups on the fitting days / the sum of their day "
            "factors (expected pick-ups on a dry weekday), shock = log sd of the citywide day "
            "volume around its forecast on the fitting days; the day's pick-ups are forecast as "
            "Poisson(rate × the day's factor (weekday/weekend × weather forecast) × a log-normal "
            "shock), and the quota is the integer with the highest probability of being within "
            "tolerance of ceil(pick-ups / turnover); capped by sidewalk parking capacity (10% of "
            f"road length × 1.5 bikes/m + 2 per shop) and the {o['fleet']}-bike fleet",
            "precise_deployment_rate": f"held-out days: quotas fitted on the first {o['fit_days']} "
            f"days, evaluated on each of the {held} later days (mean): share of active H3 cells "
            "(need or quota > 0) with |quota - need| <= max(20% of need, 1 bike), need from that "
            "day's realised pick-ups; the goal is judged on this strict per-day rate. "
            "precise_deployment_rate_mean_rule: the same for the reference rule round(mean over "
            "the fitting days of need / day factor × the day's factor)",
            "precise_deployment_rate_period": "the quota of a dry weekday against the mean need "
            "(divided by each day's factor) of the held-out days as a whole",
            "precise_deployment_rate_grid_holdout": "real Mobike 1 km grid cells split at random, "
            "20% held out; Poisson regressions of the real starts fitted on the other 80% only "
            "(bandwidth and ridge by 5-fold cross-validation on them): covariates (land use, "
            "roads, stations, shops, distance to the centre), spatial lag (Gaussian-kernel means "
            "of the known neighbours' log starts), and both (the reported rate); a held-out "
            "cell's need (ceil(its share of the starts × trips a day / turnover)) is predicted "
            "from its covariates and known neighbours, same tolerance. grid_holdout gives each "
            "model at ±20/30/50% and the median absolute error, the mean over 10 random "
            "splits, and ceilings: in-sample fits, the need from each cell's own trip ends vs "
            "from its starts, two random halves of the starts, and the Poisson ceiling of a "
            "perfect model",
            "disorderly_parking": "hour-by-hour simulation of each held-out day (mean) over the "
            "cells of the street network, where fences are drawn: a drop-off is disorderly when "
            "the orderly places of its cell are full at that moment. Without: painted bays "
            f"({o['bay_share']:.0%} of sidewalk capacity) and the whole {o['fleet']}-bike fleet "
            "spread evenly (no quotas, no total control). With: bays + fences (each sized for "
            "its quota + the 90th-percentile peak accumulation of the fitting days), the quotas "
            "deployed, full destinations redirected to a fence with room in a neighbouring "
            "cell. quotas_only / fences_only switch on one measure at a time; bikes_on_street_* "
            "give the stock each scenario deploys (total control keeps the rest in depots). Only "
            "capacity-driven disorder is simulated (no deliberate mis-parking); reduction = "
            "1 - with / without",
            "rebalancing": "exact min-cost max-flow (bike-metres, OR-Tools) from surplus to "
            "deficit cells, each surplus cell linked to its 25 nearest deficit cells: before "
            "07:00 restore the quotas after the night, before 17:00 cover the evening deficits "
            "from the midday surplus; bikes_moved_by_rebalancing = am + pm",
            "trips": "synthetic trips (Mobike schema, GCJ-02) from the real grid demand with "
            "weekday/weekend and weather variation, unless a real trip file is given",
        }
