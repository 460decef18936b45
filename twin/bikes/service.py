"""The shared-bike model of a city (共享单车有序骑): demand, quotas, fences, rebalancing.

Where the trips come from decides what every figure means, and every output says it
(``basis``): **real** trips (a Mobike-schema trip file given to the build,
``twin build --trips FILE``) or **simulated** trips (:func:`twin.bikes.trips.generate_trips`
from the city's demand grid: the real Mobike 1 km grid where the city has it, else a
land-use proxy from its roads, :func:`twin.bikes.landuse.land_use_grid`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from twin.bikes.backtest import (
    SPLITS,
    STATUS_QUO_WINDOW,
    held_out_days,
    held_out_grid,
    rolling_quotas,
    status_quo_supply,
)
from twin.bikes.calendar import day_off, day_table, trip_calendar
from twin.bikes.demand import cell_polygon, check_res, disaggregate
from twin.bikes.errors import InvalidHour, InvalidPeriod, InvalidTrips
from twin.bikes.forecast import VolumeModel, day_quota, forecast_day
from twin.bikes.landuse import land_use_grid
from twin.bikes.model import TOLERANCE, TURNOVER, Flows, daily_needs, hourly_flows
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

__all__ = ["BikeService", "DEFAULTS", "DEFAULT_FLEET", "PROXY_TRIPS_PER_ROAD_KM", "GOALS"]

#: Synthetic demand: three weeks of trips; the last ``held_out`` days are forecast one at a
#: time from the days before them. The daily volume of the synthetic trips and the fleet
#: are assumptions (a dense central area). ``grid_splits``: random splits averaged in the
#: grid hold-out; ``window``: days of drop-offs the status quo follows; ``fit_days``
#: (default: all days but the held-out ones) overrides ``held_out``.
DEFAULTS = {"days": 21, "held_out": 7, "fit_days": None, "trips_per_day": 60_000,
            "fleet": None, "seed": 7, "start_date": "2016-08-01", "bay_share": BAY_SHARE,
            "grid_splits": SPLITS, "window": STATUS_QUO_WINDOW}
#: Fleet when not given: one bike per synthetic daily trip; for real trips, the distinct
#: ``bikeid`` seen.
DEFAULT_FLEET = 60_000
#: Synthetic trips a day per km of the roads layer (directed drivable edges) in a city
#: with a land-use proxy grid: the embedded central Shanghai's 60,000 a day on ~5,200 km
#: of the Mobike grid's OSM roads (~11.5 per road-km), whose drivable directed edges
#: measure ~0.45 of that in the core (an assumption of the same density as central
#: Shanghai, not a measurement of the city).
PROXY_TRIPS_PER_ROAD_KM = 25.0
#: The product goals the figures are compared with.
GOALS = {"precise_deployment_rate": 0.9, "disorderly_parking_reduction": 0.5}
FENCE_HALF_WIDTH_M = 2.0
#: Kerb metres per fenced bike (perpendicular parking).
FENCE_M_PER_BIKE = 0.65
FENCE_MIN_LENGTH_M = 6.0
#: Road search radius for a fence around a cell centre, metres.
FENCE_MAX_DISTANCE_M = 300.0
_CALENDAR_COLUMNS = ("day_off", "rain", "rain_forecast")


@dataclass
class _Model:
    cells: pd.DataFrame
    days: pd.DataFrame  # the calendar of the flows' days (date, day_off, rain, rain_forecast)
    flows: Flows
    needs: np.ndarray  # (n_days, n_cells)
    fit_days: int
    volume: VolumeModel  # day volume model of the fitting days
    expected: np.ndarray  # expected pick-ups on a dry working day (fitting days)
    sd: float  # log sd of that day's volume
    quota: np.ndarray  # quota on a dry working day
    capacity: np.ndarray
    inflow: np.ndarray
    hourly: np.ndarray  # (24, n_cells) mean pick-ups per hour over the fitting days
    hourly_drop: np.ndarray


def _capacity_by_cell(fences: gpd.GeoDataFrame | None) -> dict[str, float]:
    """Total fence capacity per H3 cell."""
    if fences is None or not len(fences):
        return {}
    caps = pd.to_numeric(fences["capacity"], errors="coerce").fillna(0.0)
    return caps.groupby(fences["h3"].astype(str)).sum().to_dict()


def _empty_points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)


class BikeService:
    """Bike demand and quotas on H3 cells for one city.

    Parameters
    ----------
    grid : geopandas.GeoDataFrame, optional
        Grid cells with ``start_count``, ``end_count`` and the covariates: the real Mobike
        sample, or (default, and labelled ``source = "synthetic"``) the land-use proxy of
        :func:`twin.bikes.landuse.land_use_grid` from ``roads`` and ``pois``.
    pois, roads : geopandas.GeoDataFrame
        Shops (optional: a city built from OSM alone has none) and the road network
        (covariates; roads carry the fences).
    trips : pandas.DataFrame, optional
        Real trips in the Mobike schema (GCJ-02): every figure is then ``basis = "real"``.
        Default: synthetic trips generated from the grid's demand (``"simulated"``).
    calendar : pandas.DataFrame, optional
        ``date`` and optionally ``day_off``, ``rain`` (observed), ``rain_forecast`` (issued
        the evening before) per day. Default: for real trips, day types from the dates
        (weekends and PRC holidays) and no weather; for synthetic trips, the generator's
        :func:`twin.bikes.calendar.day_table`.
    **options
        Overrides of :data:`DEFAULTS`. Without a real grid the synthetic daily volume is
        :data:`PROXY_TRIPS_PER_ROAD_KM` × the grid's road km; the fleet defaults to the
        distinct bikes of real trips, else one bike per synthetic daily trip.

    Examples
    --------
    >>> from twin import City
    >>> bikes = City.load().bikes  # doctest: +SKIP
    >>> bikes.metrics(res=9)["figures"]["precise_deployment_rate"]["basis"]  # doctest: +SKIP
    'simulated'
    """

    def __init__(self, grid: gpd.GeoDataFrame | None, pois: gpd.GeoDataFrame | None,
                 roads: gpd.GeoDataFrame, *, trips: pd.DataFrame | None = None,
                 calendar: pd.DataFrame | None = None, **options: Any) -> None:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown bike options: {', '.join(sorted(unknown))}")
        self.pois = _empty_points() if pois is None else pois
        self.roads = roads
        self.grid = land_use_grid(roads, self.pois) if grid is None else grid
        source = self.grid["source"] if "source" in self.grid.columns else pd.Series(dtype=str)
        #: "real" (the Mobike grid's trip counts) or "synthetic" (the land-use proxy).
        self.demand_basis = "synthetic" if (source == "synthetic").any() else "real"
        #: "real" (a trip file) or "simulated" (generated trips): the basis of the figures.
        self.basis = "real" if trips is not None else "simulated"
        self.options = {**DEFAULTS, **options}
        if self.demand_basis == "synthetic" and "trips_per_day" not in options:
            road_km = float(self.grid["road_length"].sum()) / 1000 if len(self.grid) else 0.0
            self.options["trips_per_day"] = max(100, round(PROXY_TRIPS_PER_ROAD_KM * road_km))
        if self.options["fleet"] is None:
            if trips is not None and "bikeid" in trips.columns and trips["bikeid"].nunique():
                self.options["fleet"] = int(trips["bikeid"].nunique())
            elif self.demand_basis == "synthetic":
                self.options["fleet"] = int(self.options["trips_per_day"])
            else:
                self.options["fleet"] = DEFAULT_FLEET
        self._raw_trips, self._calendar = trips, calendar
        self._models: dict[int, _Model] = {}
        self._fences: dict[int, gpd.GeoDataFrame] = {}
        self._trip_cache: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._metrics: dict[int, dict[str, Any]] = {}
        self._grid_holdout: dict[str, Any] | None = None
        self.versions: dict[str, int] = {}
        self._fence_layer: gpd.GeoDataFrame | None = None
        self._fence_baseline: dict[str, float] = {}

    def with_fences(self, fences: gpd.GeoDataFrame | None, *,
                    versions: dict[str, int] | None = None,
                    baseline: bool = False) -> BikeService:
        """This model with the parking fences of a ``bike_fences`` layer (``h3``,
        ``capacity``), sharing the fitted demand; this model is left unchanged.

        A cell whose fences lost capacity (a fence shrunk or removed) against the baseline
        loses as much of its quota: the bikes it could park there are gone. Added capacity
        does not raise a quota (the quota follows demand).

        Parameters
        ----------
        fences : geopandas.GeoDataFrame or None
            The fences now (None: no fence layer).
        versions : dict, optional
            The layer versions the answers name.
        baseline : bool
            Take ``fences`` as the baseline capacities (the fences as built).

        Returns
        -------
        BikeService
        """
        twin = copy.copy(self)
        twin.versions = dict(versions or {})
        twin._fence_layer = fences
        if baseline:
            twin._fence_baseline = _capacity_by_cell(fences)
        return twin

    def _fence_cut(self, cells: pd.Series, res: int) -> np.ndarray:
        """Quota lost per cell to fence capacity removed since the baseline."""
        if self._fence_layer is None or not self._fence_baseline:
            return np.zeros(len(cells))
        if h3.get_resolution(next(iter(self._fence_baseline))) != res:
            return np.zeros(len(cells))
        now = _capacity_by_cell(self._fence_layer)
        lost = {c: cap - now.get(c, 0.0) for c, cap in self._fence_baseline.items()}
        return np.array([max(0.0, lost.get(c, 0.0)) for c in cells])

    @property
    def source(self) -> str:
        """Where the trips come from, in words."""
        if self.basis == "real":
            return "real trips (Mobike-schema trip file)"
        demand = ("the real Mobike 1 km grid" if self.demand_basis == "real"
                  else "a land-use proxy of the road network (synthetic)")
        return f"simulated trips from the demand of {demand}"

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
            try:
                dates = pd.to_datetime(self._raw_trips["start_time"]).dt.normalize().unique()
            except KeyError:
                raise InvalidTrips("trips lack Mobike columns: start_time") from None
            except (ValueError, TypeError) as exc:
                raise InvalidTrips(f"start_time is not a time: {exc}") from None
            if not len(dates):
                raise InvalidTrips("the trip table is empty")
            calendar = trip_calendar(pd.DatetimeIndex(dates)) if self._calendar is None \
                else self._calendar
            return self._raw_trips, calendar
        if self._calendar is not None:
            calendar = self._calendar
        else:
            calendar = day_table(o["days"], o["start_date"], np.random.default_rng(o["seed"]))
        return generate_trips(self.generator_cells(), calendar, trips_per_day=o["trips_per_day"],
                              seed=o["seed"]), calendar

    def generator_cells(self) -> pd.DataFrame:
        """Res-9 cells with the ``start_weight`` / ``end_weight`` of the synthetic trips.

        A cell's activity is the mean of its grid starts and ends (+0.05 so that every cell
        can see a trip), split into homes (morning origins) and work places by
        ``home_share``.
        """
        base = disaggregate(self.grid, self.pois, self.roads, res=9)
        demand = (base["starts"] + base["ends"]) / 2 + 0.05
        return base.assign(start_weight=demand * base["home_share"],
                           end_weight=demand * (1 - base["home_share"]))

    def _calendar_of(self, calendar: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
        """The calendar of the flows' days; day types from the dates where not given."""
        if "date" not in calendar.columns:
            raise InvalidTrips("the calendar has no date column")
        table = calendar.set_index(pd.DatetimeIndex(calendar["date"]).normalize())
        table = table[~table.index.duplicated()]
        missing = days.difference(table.index)
        if len(missing):
            raise InvalidTrips(f"the calendar lacks {len(missing)} day(s) of the trips, "
                               f"e.g. {missing[0].date()}")
        table = table.reindex(days)
        if "day_off" not in table.columns:
            table["day_off"] = day_off(days)
        for column in ("rain", "rain_forecast"):
            if column not in table.columns:
                table[column] = False
        table["weekend"] = days.day_of_week >= 5
        return table.drop(columns="date").rename_axis("date").reset_index()

    def _fit(self, res: int) -> _Model:
        cells = disaggregate(self.grid, self.pois, self.roads, res=res)
        raw, calendar = self._trips()
        flows = hourly_flows(ingest_trips(raw, res=res), cells["cell"].to_numpy())
        return self.fit_flows(cells, flows, calendar, trips=len(raw))

    def fit_flows(self, cells: pd.DataFrame, flows: Flows, calendar: pd.DataFrame, *,
                  trips: int) -> _Model:
        """Fit the quota model on hourly flows, however they were counted (from this
        service's trip table, or partition by partition on a cluster).

        Parameters
        ----------
        cells : pandas.DataFrame
            The H3 cells (:func:`twin.bikes.demand.disaggregate`).
        flows : Flows
            Pick-ups and drop-offs per (day, hour, cell).
        calendar : pandas.DataFrame
            The days of the trips (day off, rain, rain forecast).
        trips : int
            How many trips were counted (for the error message).

        Returns
        -------
        _Model

        Raises
        ------
        InvalidTrips
            Real trips that start nowhere in the city, or too few days to fit on.
        """
        o = self.options
        if self.basis == "real" and not flows.pickups.sum():
            raise InvalidTrips(f"none of the {trips:,} trips starts inside the city's cells "
                               "(wrong city or coordinates not GCJ-02 lon/lat?)")
        days = self._calendar_of(calendar, flows.days)
        n = len(days)
        fit = o["fit_days"] if o["fit_days"] is not None else n - min(o["held_out"], n // 2)
        if not 0 < fit <= n:
            raise InvalidTrips(f"cannot fit on {fit} of {n} days of trips")
        needs = daily_needs(flows)
        capacity = parking_capacity(cells)
        pickups = flows.pickups.sum(axis=1)
        expected, sd, volume = forecast_day(pickups[:fit], days.iloc[:fit][list(_CALENDAR_COLUMNS)],
                                            day_off=False, rain_forecast=False)
        quota = day_quota(expected, 1.0, capacity, sd=sd, fleet=o["fleet"])
        fitting = flows.select(slice(0, fit))
        hourly, hourly_drop = fitting.mean_hourly()
        return _Model(cells, days, flows, needs, fit, volume, expected, sd, quota, capacity,
                      peak_inflow(fitting), hourly, hourly_drop)

    def quotas(self, *, res: int = 9, hour: int | None = None) -> gpd.GeoDataFrame:
        """H3 cells with ``h3`` (str), ``quota`` (a dry working day, forecast from the fitting
        days), demand at ``hour`` (or per day; means over the fitting days), ``basis``
        (``"real"`` or ``"simulated"`` trips) and ``source``."""
        m = self.model(res)
        if hour is not None and (not isinstance(hour, int | np.integer) or not 0 <= hour <= 23):
            raise InvalidHour(f"hour must be 0 to 23, got {hour!r}")
        pick = m.hourly[hour] if hour is not None else m.hourly.sum(axis=0)
        drop = m.hourly_drop[hour] if hour is not None else m.hourly_drop.sum(axis=0)
        active = (m.quota > 0) | (pick > 0) | (drop > 0)
        cells = m.cells[active]
        quota = np.maximum(0, m.quota[active] - self._fence_cut(cells["h3"], res))
        return gpd.GeoDataFrame({
            "h3": cells["h3"].to_numpy(), "quota": quota.astype(int),
            "pickups": np.round(pick[active], 2), "dropoffs": np.round(drop[active], 2),
            "net_flow": np.round(drop[active] - pick[active], 2),
            "parking_capacity": np.round(m.capacity[active], 1),
            "hour": -1 if hour is None else int(hour), "basis": self.basis, "source": self.source},
            geometry=[cell_polygon(c) for c in cells["h3"]], crs=4326)

    def fences(self, *, res: int = 9, max_fences: int = 2000) -> gpd.GeoDataFrame:
        """Parking fences (电子围栏): a strip on the road nearest each busy cell's centre.

        Each cell with a quota near the street network gets a fence sized for its quota
        plus the expected peak accumulation less the painted bays
        (:func:`twin.bikes.parking.fence_capacity`), ``FENCE_M_PER_BIKE`` kerb metres a
        bike, centred on the point of the nearest road closest to the cell centre.
        """
        res = check_res(res)
        if self._fence_layer is not None and self._fence_baseline and \
                h3.get_resolution(next(iter(self._fence_baseline))) == res:
            return self._fence_layer
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
        """精准投放率 (ours and the status quo, held-out days; held-out real grid cells),
        乱停乱放率 (ours and the status quo), bikes moved.

        Returns
        -------
        dict
            ``figures``: each figure as ``{"value", "basis", "what"}``, ``basis`` being
            ``"simulated"`` or ``"real"`` (trips; the grid hold-out: the real Mobike grid),
            ``value`` None where a figure cannot be computed in this city (with ``why``);
            ``trips`` (basis, source, days), ``days`` (per held-out day), ``volume_model``,
            ``grid_holdout`` (None without a real grid), ``goals`` and ``how`` (every
            computation in words). Computed once per resolution.

        Raises
        ------
        InvalidTrips
            Fewer than two days of trips (nothing to hold out).
        """
        res = check_res(res)
        if res not in self._metrics:
            self._metrics[res] = self._compute_metrics(res)
        return copy.deepcopy(self._metrics[res])

    def _figure(self, value: Any, what: str, *, basis: str | None = None,
                goal: float | None = None) -> dict[str, Any]:
        out = {"value": value, "basis": basis or self.basis, "what": what}
        if goal is not None:
            out |= {"goal": goal, "goal_met": bool(value is not None and value >= goal)}
        return out

    def _compute_metrics(self, res: int) -> dict[str, Any]:
        m = self.model(res)
        o = self.options
        if m.fit_days >= len(m.days):
            raise InvalidTrips(f"metrics need at least one held-out day: {len(m.days)} day(s) of "
                               f"trips, {m.fit_days} used to fit")
        pickups, dropoffs = m.flows.pickups.sum(axis=1), m.flows.dropoffs.sum(axis=1)
        quotas, forecasts = rolling_quotas(pickups, m.days, m.fit_days, m.capacity, o["fleet"])
        days = held_out_days(pickups, dropoffs, m.days, m.fit_days, m.capacity, o["fleet"],
                             window=o["window"])
        if self._grid_holdout is None and self.demand_basis == "real":  # same at every res
            self._grid_holdout = held_out_grid(self.grid, o["trips_per_day"], seed=o["seed"],
                                               splits=o["grid_splits"])
        grid = copy.deepcopy(self._grid_holdout)
        parking = self._parking(m, res, quotas, dropoffs)
        moved = {p: int(self.rebalancing(period=p, res=res)["bikes"].sum()) for p in ("am", "pm")}

        def mean(col: str) -> float:
            return round(float(days[col].mean()), 4)

        held = f"{len(days)} held-out days"
        band = f"±{TOLERANCE:.0%} of the day's need"
        figures = {
            "precise_deployment_rate": self._figure(
                mean("rate"), f"ours, {held}, {band} or ±1 bike",
                goal=GOALS["precise_deployment_rate"]),
            "precise_deployment_rate_no_floor": self._figure(
                mean("rate_no_floor"), f"ours, {held}, {band} (no one-bike floor)",
                goal=GOALS["precise_deployment_rate"]),
            "precise_deployment_rate_status_quo": self._figure(
                mean("status_quo"), f"status quo (whole fleet spread like last week's drop-offs), "
                f"{held}, {band} or ±1 bike"),
            "precise_deployment_rate_status_quo_no_floor": self._figure(
                mean("status_quo_no_floor"), f"status quo, {held}, {band} (no floor)"),
            "precise_deployment_rate_status_quo_same_total": self._figure(
                mean("status_quo_same_total"), "status quo allocation scaled to our quotas' "
                f"total, {held}, {band} or ±1 bike"),
            "precise_deployment_rate_status_quo_same_total_no_floor": self._figure(
                mean("status_quo_same_total_no_floor"), f"the same, {band} (no floor)"),
            "precise_deployment_rate_grid_holdout": (
                self._figure(grid["precise_rate"], "held-out real Mobike 1 km grid cells "
                             "(spatial prediction, the real sample's starts; daily volume "
                             "assumed)", basis="real", goal=GOALS["precise_deployment_rate"])
                if grid is not None else
                {**self._figure(None, "held-out real grid cells", basis="none"),
                 "why": "this city has no real demand grid (land-use proxy)"}),
            "disorderly_parking_rate_status_quo": self._figure(
                parking["status_quo"], f"share of drop-offs with no orderly place, {held}: "
                "status quo (bays only, whole fleet where last week's riders left it)"),
            "disorderly_parking_rate_with": self._figure(
                parking["with"], f"the same with fences and our quotas, {held}"),
            "disorderly_parking_rate_quotas_only": self._figure(
                parking["quotas_only"], "our quotas, bays only"),
            "disorderly_parking_rate_fences_only": self._figure(
                parking["fences_only"], "status quo stock, bays + fences"),
            "disorderly_parking_reduction": self._figure(
                parking["reduction"], "1 - with / status quo",
                goal=GOALS["disorderly_parking_reduction"]),
            "bikes_on_street_status_quo": self._figure(int(o["fleet"]), "the whole fleet"),
            "bikes_on_street_with": self._figure(parking["deployed"],
                                                 "mean of our held-out days' quota totals"),
            "bikes_moved_by_rebalancing": self._figure(
                moved["am"] + moved["pm"], "am + pm moves of the min-cost plan (fitting days)"),
            "bikes_moved_am": self._figure(moved["am"], "before 07:00"),
            "bikes_moved_pm": self._figure(moved["pm"], "before 17:00"),
        }
        raw, _ = self._trips()
        return {
            "res": res,
            "basis": self.basis,
            "trips": {"basis": self.basis, "source": self.source, "trips": int(len(raw)),
                      "demand_basis": self.demand_basis, "days": len(m.days),
                      "fit_days": m.fit_days, "held_out_days": len(days),
                      "first_day": str(m.days["date"].iat[0].date()),
                      "last_day": str(m.days["date"].iat[-1].date())},
            "figures": figures,
            "goals": dict(GOALS),
            "days": [{**{k: (str(v.date()) if k == "date" else
                             (bool(v) if isinstance(v, np.bool_ | bool) else
                              round(float(v), 4))) for k, v in row.items()}}
                     for row in days.to_dict("records")],
            "volume_model": {k: (int(v) if k == "days" else float(v))
                             for k, v in forecasts.iloc[-1].items()},
            "parking_cells_counted": parking["counted"], "fenced_cells": parking["fenced"],
            "grid_holdout": grid,
            "how": self._how(len(days)),
        }

    def _parking(self, m: _Model, res: int, quotas: np.ndarray,
                 dropoffs: np.ndarray) -> dict[str, Any]:
        """The parking simulation on every held-out day, mean rates (see twin.bikes.parking)."""
        o = self.options
        fenced = m.cells["h3"].isin(self.fences(res=res)["h3"]).to_numpy()
        bays = o["bay_share"] * m.capacity
        fences = np.where(fenced, fence_capacity(m.quota, m.inflow, m.capacity,
                                                 bay_share=o["bay_share"]), 0.0)
        ring = neighbours_of(m.cells["h3"])
        counted = m.cells["core_road_m"].to_numpy() > 0
        rates: dict[str, list[float]] = {"status_quo": [], "with": [], "quotas_only": [],
                                         "fences_only": []}
        for k, d in enumerate(range(m.fit_days, len(m.days))):
            quota = quotas[k]
            status_quo = status_quo_supply(dropoffs[max(0, d - o["window"]):d], o["fleet"])
            pick, drop = m.flows.pickups[d], m.flows.dropoffs[d]
            for name, start, places, ring_ in (("status_quo", status_quo, bays, None),
                                               ("with", quota, bays + fences, ring),
                                               ("quotas_only", quota, bays, None),
                                               ("fences_only", status_quo, bays + fences, ring)):
                rates[name].append(simulate_parking(pick, drop, start, places, neighbours=ring_,
                                                    counted=counted))
        mean = {k: round(float(np.mean(v)), 4) for k, v in rates.items()}
        a, b = mean["status_quo"], mean["with"]
        return {**mean, "reduction": round(1 - b / a, 4) if a else None,
                "counted": int(counted.sum()), "fenced": int(fenced.sum()),
                "deployed": int(round(float(quotas.sum(axis=1).mean())))}

    def _how(self, held: int) -> dict[str, str]:
        o = self.options
        return {
            "basis": "every figure says whether it was measured on real trips (a Mobike-schema "
            "trip file given to the build) or on simulated trips (generated from the city's "
            "demand grid: the real Mobike 1 km grid where the city has it, else a land-use proxy "
            "of its roads). Figures on simulated trips measure the method against a known "
            "generator, not the city",
            "need": f"bikes a cell needs on a day = ceil(pick-ups that day / turnover {TURNOVER:g}) "
            "(the turnover rule); the tidal peak deficits are left to the rebalancing plan",
            "quota": "deployed supply of a cell for a day, set the evening before from what the "
            "operator knows then: the trips of every earlier day, whether each earlier day was a "
            "day off and whether it rained, and of the day itself only its type (working day / "
            "weekend or PRC holiday) and the rain forecast. The day volume is a regression of the "
            "past days' log volume on day off and rain; the rain forecast is wrong with the rate "
            "seen on the past days (its error widens the forecast); a cell's expected pick-ups = "
            "its share of the past pick-ups × the forecast volume; the quota is the integer most "
            "likely to be within tolerance of ceil(pick-ups / turnover), capped by sidewalk "
            f"parking capacity and the {o['fleet']}-bike fleet. The generator's realised day "
            "factors are never an input",
            "precise_deployment_rate": f"{held} held-out days after the first fitting days, each "
            "forecast from the days before it (rolling origin): share of active H3 cells (need or "
            "quota > 0) with |supply - need| <= max(20% of need, 1 bike), need from that day's "
            "realised pick-ups. *_no_floor: the same without the one-bike floor (|supply - need| "
            "<= 20% of need); below ~5 bikes the floor alone decides",
            "status_quo": "a city without quotas: bikes stand where riders left them. Supply of a "
            f"cell = the whole {o['fleet']}-bike fleet × the cell's share of the drop-offs of the "
            f"{o['window']} days before the day, no fences, no total control. *_same_total: the "
            "same allocation scaled to our quotas' total (the allocation alone, not the fleet size)",
            "precise_deployment_rate_grid_holdout": "basis real: real Mobike 1 km grid cells split "
            "at random, 20% held out; Poisson regressions of the real starts fitted on the other "
            "80% (covariates, spatial lag, both: the reported rate); a held-out cell's need "
            "(ceil(its share of the starts × trips a day / turnover), the daily volume an "
            "assumption) is predicted and compared, same tolerance with the floor. Absent in a "
            "city without the real grid",
            "disorderly_parking": "hour-by-hour simulation of each held-out day (mean) over the "
            "cells of the street network: a drop-off is disorderly when the orderly places of its "
            "cell are full at that moment. Status quo: painted bays "
            f"({o['bay_share']:.0%} of sidewalk capacity), the whole fleet where last week's "
            "riders left it. With: bays + fences (each sized for its quota + the 90th-percentile "
            "peak accumulation of the fitting days), our forecast quotas deployed, full "
            "destinations redirected to a fence with room in a neighbouring cell. Only "
            "capacity-driven disorder is simulated; reduction = 1 - with / status quo",
            "rebalancing": "exact min-cost max-flow (bike-metres, OR-Tools) from surplus to "
            "deficit cells, each surplus cell linked to its 25 nearest deficit cells: before "
            "07:00 restore the quotas after the night, before 17:00 cover the evening deficits "
            "from the midday surplus; mean hourly flows of the fitting days",
            "trips": self.source,
        }
