"""The school-district service (学位信息一键查): assignment, districts, lookup, shortfall."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from twin.schools.assign import Assignment, assign
from twin.schools.districts import district_cells, district_polygons
from twin.schools.errors import HomeNotFound, InvalidLevel, InvalidSchoolInput
from twin.schools.official import CommitteeIndex
from twin.schools.walking import WalkNetwork

__all__ = ["LEVELS", "SchoolService", "LevelResult", "FORECAST"]

LEVELS = ("kindergarten", "primary", "middle")
_DEMAND = {"kindergarten": "children_kindergarten", "primary": "children_primary",
           "middle": "children_middle"}
#: Cohort model of the forecast (documented assumptions, not data): each year one third
#: (kindergarten, middle) / one sixth (primary) of the pupils leave, and a new cohort
#: enters whose size is the leaving cohort times (1 + trend); the trend follows
#: Shanghai's falling births (steepest for the youngest).
FORECAST = {"years": 5, "trend": {"kindergarten": -0.08, "primary": -0.04, "middle": 0.02},
            "grades": {"kindergarten": 3, "primary": 6, "middle": 3}}
MAX_SNAP_M = 500.0
#: Geocoding levels that place a home; coarser ones only count with a named committee.
PRECISE_LEVELS = ("door", "poi", "interpolated", "road")


@dataclass
class LevelResult:
    """Assignment of one level."""

    schools: gpd.GeoDataFrame
    assignment: Assignment
    distance: np.ndarray
    home_nodes: np.ndarray
    home_snap_m: np.ndarray
    districts: gpd.GeoDataFrame
    cells: pd.DataFrame


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise InvalidLevel(f"unknown level {level!r}; use {', '.join(LEVELS)}")
    return level


class SchoolService:
    """School districts of a city.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        Road graph (walking distances).
    schools : geopandas.GeoDataFrame
        ``id``, ``name``, ``level``, ``capacity``, points; optionally
        ``catchment_committees`` (the official 对口 committees, ``"、"``-joined).
    homes : geopandas.GeoDataFrame
        Points with the pupils of each level the schools have (``children_kindergarten``,
        ``children_primary``, ``children_middle``).
    geocoder : callable, optional
        ``text -> list of candidates`` (the address service) for lookups by address.
    committees : CommitteeIndex, optional
        The residents' committees, to show the official school of an address that names
        its committee.
    walk : WalkNetwork, optional
        The walking network of ``graph`` when already built (shared between derivations).
    versions : dict, optional
        The versions of the layers the service reads; answers name them.
    """

    def __init__(self, graph: nx.MultiDiGraph, schools: gpd.GeoDataFrame,
                 homes: gpd.GeoDataFrame, *, geocoder: Callable[[str], list[dict]] | None = None,
                 committees: CommitteeIndex | None = None, walk: WalkNetwork | None = None,
                 versions: dict[str, int] | None = None):
        missing = {"id", "name", "level", "capacity"} - set(schools.columns)
        if missing:
            raise InvalidSchoolInput(f"schools need columns {', '.join(sorted(missing))}")
        bad = set(schools["level"]) - set(LEVELS)
        if bad:
            raise InvalidSchoolInput(f"unknown school level(s) {sorted(bad)}; use {', '.join(LEVELS)}")
        need = {_DEMAND[lv] for lv in set(schools["level"])} | {_DEMAND["primary"],
                                                                 _DEMAND["middle"]}
        if not need <= set(homes.columns):
            raise InvalidSchoolInput(f"homes need {', '.join(sorted(need))}")
        self.walk = walk if walk is not None else WalkNetwork(graph)
        self.versions = dict(versions or {})
        self.schools = schools.reset_index(drop=True)
        self.homes = homes.reset_index(drop=True)
        self.geocoder = geocoder
        self.committees = committees or CommitteeIndex()
        if "catchment_committees" not in self.schools:
            self.schools["catchment_committees"] = None
        self.schools["catchment_district"] = [
            self.committees.district_of(c.split("、")) if isinstance(c, str) else None
            for c in self.schools["catchment_committees"]]
        self._levels: dict[str, LevelResult] = {}

    def level(self, level: str) -> LevelResult:
        """The (cached) assignment and districts of a level."""
        level = _check_level(level)
        if level not in self._levels:
            self._levels[level] = self._solve(level)
        return self._levels[level]

    def _solve(self, level: str) -> LevelResult:
        schools = self.schools[self.schools["level"] == level].reset_index(drop=True)
        if not len(schools):
            raise InvalidLevel(f"this city has no {level} schools")
        demand = self.homes[_DEMAND[level]].to_numpy(dtype=np.int64)
        hx, hy = self.homes.geometry.x.to_numpy(), self.homes.geometry.y.to_numpy()
        home_nodes, home_snap = self.walk.snap(hx, hy)
        school_nodes, school_snap = self.walk.snap(schools.geometry.x, schools.geometry.y)
        dist = self.walk.distances(school_nodes)[:, home_nodes].T
        dist = dist + home_snap[:, None] + school_snap[None, :]
        result = assign(demand, schools["capacity"].to_numpy(dtype=np.int64), dist)
        cells = district_cells(hx, hy, demand, result.main_school)
        polys = district_polygons(cells)
        polys["school_id"] = schools["id"].to_numpy()[polys["school"]]
        polys["name"] = schools["name"].to_numpy()[polys["school"]]
        polys["level"] = level
        return LevelResult(schools, result, dist, home_nodes, home_snap, polys, cells)

    # -- outputs ----------------------------------------------------------------------
    def schools_table(self, level: str) -> gpd.GeoDataFrame:
        """Schools of a level with ``capacity``, ``assigned`` and ``utilisation``."""
        r = self.level(level)
        out = r.schools.copy()
        out["assigned"] = r.assignment.flows.sum(axis=0)
        out["utilisation"] = (out["assigned"] / out["capacity"]).round(3)
        return out

    def districts(self, level: str) -> gpd.GeoDataFrame:
        """District polygons (one per school) with contiguity (``parts``)."""
        return self.level(level).districts

    def metrics(self, level: str) -> dict[str, Any]:
        """Capacity violations, share assigned, walking distances vs the nearest-school baseline."""
        r = self.level(level)
        flows, dist = r.assignment.flows, r.distance
        demand = self.homes[_DEMAND[level]].to_numpy(dtype=np.int64)
        capacity = r.schools["capacity"].to_numpy()
        assigned_d = np.repeat(dist[flows > 0], flows[flows > 0])
        nearest = dist.min(axis=1)
        nearest_d = np.repeat(nearest, demand)
        nearest_school = dist.argmin(axis=1)
        over = np.bincount(nearest_school, weights=demand, minlength=len(capacity)) - capacity
        return {
            "level": level, "pupils": int(demand.sum()), "places": int(capacity.sum()),
            "capacity_violations": int((flows.sum(axis=0) > capacity).sum()),
            "share_assigned": round(float(flows.sum() / max(demand.sum(), 1)), 4),
            "mean_walk_m": round(float(assigned_d.mean()), 1) if len(assigned_d) else None,
            "p95_walk_m": round(float(np.percentile(assigned_d, 95)), 1) if len(assigned_d) else None,
            "baseline_nearest_school": {
                "mean_walk_m": round(float(nearest_d.mean()), 1) if len(nearest_d) else None,
                "p95_walk_m": round(float(np.percentile(nearest_d, 95)), 1) if len(nearest_d) else None,
                "schools_over_capacity": int((over > 0).sum()),
                "pupils_over_capacity": int(np.clip(over, 0, None).sum()),
            },
            "districts_contiguous": int((r.districts["parts"] == 1).sum()),
            "districts": len(r.districts),
            "method": "exact min-cost flow (OR-Tools) on walking distances; pupils of a block "
                      "may be split between schools",
        }

    def shortfall(self, level: str) -> dict[str, Any]:
        """Places missing per district now, and a cohort forecast of the total gap."""
        r = self.level(level)
        demand = self.homes[_DEMAND[level]].to_numpy(dtype=np.int64)
        by_school = np.bincount(np.maximum(r.assignment.main_school, 0),
                                weights=r.assignment.unassigned, minlength=len(r.schools))
        districts = [
            {"school_id": sid, "name": name, "capacity": int(cap),
             "unplaced_pupils": int(short)}
            for sid, name, cap, short in zip(r.schools["id"], r.schools["name"],
                                             r.schools["capacity"], by_school, strict=True)]
        grades, trend = FORECAST["grades"][level], FORECAST["trend"][level]
        pupils, places = float(demand.sum()), float(r.schools["capacity"].sum())
        forecast = []
        cohort = pupils / grades
        for year in range(1, FORECAST["years"] + 1):
            cohort *= 1 + trend
            pupils = pupils - pupils / grades + cohort
            forecast.append({"year": year, "pupils": round(pupils),
                             "gap": round(max(0.0, pupils - places))})
        return {"level": level, "pupils": int(demand.sum()), "places": int(places),
                "gap_now": int(r.assignment.unassigned.sum()), "districts": districts,
                "forecast": forecast, "forecast_assumptions": FORECAST}

    # -- lookup -----------------------------------------------------------------------
    def lookup(self, *, address: str | None = None, lon: float | None = None,
               lat: float | None = None, level: str = "primary") -> dict[str, Any]:
        """Which school serves an address or point: district, school, walk, capacity status.

        When the address names its residents' committee (居委会) and a school's official
        catchment list (对口) names that committee, ``official`` shows that school and the
        committee beside the model's assignment; otherwise ``official`` is None (the
        committee of a bare address or point is not guessed: the committees have no
        boundaries in the data).

        Raises
        ------
        HomeNotFound
            Unknown address or a point far from any home.
        """
        r = self.level(level)
        resolved = None
        if address is not None:
            if self.geocoder is None:
                raise HomeNotFound("address lookups need the address service")
            try:
                candidates = self.geocoder(address)
            except LookupError as exc:
                raise HomeNotFound(f"unknown address {address!r}",
                                   candidates=getattr(exc, "candidates", [])) from None
            resolved = candidates[0]
            precise = resolved.get("level") in PRECISE_LEVELS
            found = self.committees.resolve(resolved.get("components") or {},
                                            resolved.get("inferred"))
            if not precise and found is None:
                # a district's or the city's centre is not the home: refuse, don't guess
                raise HomeNotFound(f"{address!r} is only known at {resolved.get('level')} level "
                                   f"({resolved.get('address')}); give a door or a road")
            lon, lat = resolved["lon"], resolved["lat"]
        if lon is None or lat is None:
            raise HomeNotFound("give an address or lon and lat")
        point = shapely.Point(lon, lat)
        inside = r.districts[r.districts.contains(point)]
        node, snap = self.walk.snap([lon], [lat])
        if snap[0] > MAX_SNAP_M:
            raise HomeNotFound(f"({lon}, {lat}) is {snap[0]:.0f} m from the road network")
        if len(inside):
            school = int(inside["school"].iloc[0])
            how = "district"
        else:
            hx, hy = self.homes.geometry.x.to_numpy(), self.homes.geometry.y.to_numpy()
            near = int(np.argmin((hx - lon) ** 2 + (hy - lat) ** 2))
            school = int(r.assignment.main_school[near])
            how = "nearest home"
            if school < 0:
                raise HomeNotFound("no school has a place for this area (shortfall)")
        row = r.schools.iloc[school]
        s_node, s_snap = self.walk.snap([row.geometry.x], [row.geometry.y])
        path = self.walk.path(int(node[0]), int(s_node[0]))
        coords = [tuple(self.walk.xy[i]) for i in path]
        length = float(sum(np.hypot(*((np.array(a) - np.array(b)) * self.walk._scale))
                           for a, b in zip(coords[:-1], coords[1:], strict=True)))
        assigned = int(r.assignment.flows[:, school].sum())
        committee = (self.committees.resolve(resolved.get("components") or {},
                                             resolved.get("inferred"))
                     if resolved is not None else None)
        official = None
        if committee is not None:
            matches = self.committees.official(r.schools, committee)
            if matches:
                o = r.schools.iloc[matches[0]]
                official = {"school": {"id": o["id"], "name": o["name"],
                                       "source": o.get("source"), "address": o.get("address")},
                            "committee": committee["name"], "community_code": committee["code"],
                            "same_as_model": bool(o["id"] == row["id"])}
        return {
            "level": level, "address": resolved, "district": {"school_id": row["id"], "how": how},
            "school": {"id": row["id"], "name": row["name"], "capacity": int(row["capacity"]),
                       "assigned": assigned, "lon": row.geometry.x, "lat": row.geometry.y,
                       "source": row.get("source"), "capacity_source": row.get("capacity_source")},
            "committee": committee, "official": official,
            "walk_m": round(length + float(snap[0]) + float(s_snap[0]), 1),
            "route": {"type": "LineString", "coordinates": [list(c) for c in coords]
                      if len(coords) > 1 else [[lon, lat], [row.geometry.x, row.geometry.y]]},
            "capacity_status": "full" if assigned >= int(row["capacity"]) else "places available",
        }
