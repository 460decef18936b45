"""Where a city lies: China's administrative divisions and the time zone of an extent.

:func:`locate` places a road network (its bounds, or better its node coordinates) in the
kept division dataset ``data/divisions`` (provenance in its README): the county-level
division whose centroid is nearest each point votes, the majority wins, and points
farther than :data:`MAX_DISTANCE_KM` from every centroid count as abroad. The result, a
:class:`CityDivision`, names the province, city and districts with their codes, and the
time zone; the build stores it as ``<bundle>/division.json`` (``City.division``).

:func:`division_tables` gives a located Chinese city its ``districts`` and ``streets``
(乡镇街道) name tables, in the schema of the embedded city's official tables.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from address.model import Locality
from twin.settings import REPO_ROOT

if TYPE_CHECKING:
    from twin.city import City

__all__ = [
    "CityDivision",
    "District",
    "locate",
    "division_tables",
    "address_prefix",
    "read_division",
    "write_division",
    "city_division",
    "DIVISIONS_DIR",
    "DIVISION_FILE",
    "DIVISIONS_ATTRIBUTION",
    "MAX_DISTANCE_KM",
    "CHINA_TZ",
]

logger = logging.getLogger(__name__)

#: The kept division dataset (``divisions.csv.gz``, ``towns.csv.gz``).
DIVISIONS_DIR = REPO_ROOT / "data" / "divisions"
#: Where a bundle keeps its division.
DIVISION_FILE = "division.json"
DIVISIONS_ATTRIBUTION = "Division names and codes: jionlp (Apache-2.0); centroids: cpca (MIT)"
#: A point farther than this from every county centroid is not in any Chinese county.
MAX_DISTANCE_KM = 30.0
#: Mainland China keeps one time zone.
CHINA_TZ = "Asia/Shanghai"
#: Time-zone areas of mainland China in the tz database: a border check, since a point
#: within ``MAX_DISTANCE_KM`` of a county centroid may lie across a border (Hong Kong).
_CHINA_ZONES = (CHINA_TZ, "Asia/Urumqi")
#: Regions whose county rows in the source share one code and one centroid (Taiwan,
#: Hong Kong, Macao): no division code can place an address there, so they are not located.
_UNCODED_PROVINCES = ("710000", "810000", "820000")
_MAX_POINTS = 20_000
#: Placeholder rows of the source (市直辖行政区划, 省直辖行政区划): not a real level.
_PSEUDO = "直辖"
_EARTH_KM = 6371.0088


@dataclass(frozen=True)
class District:
    """A county-level division (区 / 县 / 县级市) a city's extent covers.

    Attributes
    ----------
    code : str
        6-digit division code (``440304``).
    name : str
        Full name (``福田区``).
    lon, lat : float or None
        Centroid, where the dataset has one.
    share : float
        Share of the extent's located points nearest this district (0 for districts
        listed without points).
    """

    code: str
    name: str
    lon: float | None = None
    lat: float | None = None
    share: float = 0.0


@dataclass(frozen=True)
class CityDivision:
    """Where a city lies.

    Attributes
    ----------
    country : str or None
        ``"CN"`` inside a Chinese division, None elsewhere (no division is known).
    province, province_code : str or None
        ``广东省``, ``440000``; a municipality's province is the city itself.
    city, city_code : str or None
        ``深圳市``, ``440300`` (6 digits); for a municipality ``上海市``, ``310000``.
    districts : tuple of District
        County-level divisions the extent covers, largest share first.
    timezone : str
        IANA time zone (``Asia/Shanghai`` in mainland China).
    province_short, city_short : str or None
        Short names as people write them (``广东``, ``深圳``).
    """

    country: str | None
    province: str | None = None
    province_code: str | None = None
    city: str | None = None
    city_code: str | None = None
    districts: tuple[District, ...] = field(default_factory=tuple)
    timezone: str = "UTC"
    province_short: str | None = None
    city_short: str | None = None

    @property
    def available(self) -> bool:
        """Whether the city lies in a known Chinese division (standard addresses work)."""
        return self.country == "CN" and self.city_code is not None

    @property
    def municipality(self) -> bool:
        """A municipality (直辖市): province and city are one (上海市, 北京市 ...)."""
        return self.available and self.province == self.city

    @property
    def name(self) -> str:
        """The division as addresses start: ``广东省深圳市``, ``上海市``; ``""`` abroad."""
        locality = self.locality()
        return locality.prefix if locality is not None else ""

    @property
    def district(self) -> District | None:
        """The district with the largest share of the extent."""
        return self.districts[0] if self.districts else None

    def locality(self) -> Locality | None:
        """The address-service context (names and default code), None abroad."""
        if not self.available:
            return None
        return Locality(province=self.province, city=self.city, city_code=self.city_code,
                        province_short=self.province_short, city_short=self.city_short)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (read back by :meth:`from_dict`)."""
        out = asdict(self)
        out["districts"] = [asdict(d) for d in self.districts]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CityDivision:
        """The inverse of :meth:`to_dict`."""
        data = dict(data)
        districts = tuple(District(**d) for d in data.pop("districts", []) or [])
        known = {f for f in cls.__dataclass_fields__}
        return cls(districts=districts, **{k: v for k, v in data.items() if k in known})


@lru_cache(maxsize=1)
def _divisions(directory: Path = DIVISIONS_DIR) -> pd.DataFrame:
    path = directory / "divisions.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"the division dataset is missing: {path}")
    return pd.read_csv(path, dtype={"code": str, "parent_code": str, "level": str,
                                    "name": str, "short": str})


@lru_cache(maxsize=1)
def _towns(directory: Path = DIVISIONS_DIR) -> pd.DataFrame:
    return pd.read_csv(directory / "towns.csv.gz", dtype=str)


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r),
                            np.sin(lat_r)])


@lru_cache(maxsize=1)
def _county_index() -> tuple[cKDTree, pd.DataFrame]:
    table = _divisions()
    counties = table[(table["level"] == "county") & table["lon"].notna()
                     & ~table["code"].str[:2].isin([p[:2] for p in _UNCODED_PROVINCES])]
    counties = counties.reset_index(drop=True)
    tree = cKDTree(_unit_vectors(counties["lon"].to_numpy(float), counties["lat"].to_numpy(float)))
    return tree, counties


def _points(extent: Any) -> np.ndarray:
    """``(N, 2)`` lon/lat from bounds ``(minx, miny, maxx, maxy)`` or points."""
    arr = np.asarray(extent, dtype=float)
    if arr.ndim == 1 and arr.shape[0] == 4:
        minx, miny, maxx, maxy = arr
        xs, ys = np.meshgrid(np.linspace(minx, maxx, 7), np.linspace(miny, maxy, 7))
        arr = np.column_stack([xs.ravel(), ys.ravel()])
    if arr.ndim != 2 or arr.shape[1] != 2 or not len(arr):
        raise ValueError("extent must be bounds (minx, miny, maxx, maxy) or (N, 2) lon/lat points")
    arr = arr[np.isfinite(arr).all(axis=1)]
    if not len(arr):
        raise ValueError("extent has no finite coordinates")
    if len(arr) > _MAX_POINTS:  # deterministic thinning
        arr = arr[np.linspace(0, len(arr) - 1, _MAX_POINTS).astype(int)]
    return arr


def _timezone(lon: float, lat: float) -> str:
    from timezonefinder import TimezoneFinder

    name = TimezoneFinder().timezone_at(lng=float(lon), lat=float(lat))
    return name or "UTC"


def locate(extent: Any, *, max_distance_km: float = MAX_DISTANCE_KM) -> CityDivision:
    """Locate an extent among China's divisions.

    Parameters
    ----------
    extent : tuple or array-like
        Bounds ``(minx, miny, maxx, maxy)`` (sampled on a 7 × 7 grid) or ``(N, 2)``
        WGS84 lon/lat points (the road network's nodes, best).
    max_distance_km : float
        Points farther than this from every county centroid are outside China.

    Returns
    -------
    CityDivision
        ``country`` None (and a time zone from ``timezonefinder``, offline) when fewer
        than half of the points are near a county of mainland China, or the extent's
        centre lies in a time-zone area outside it (Hong Kong); else the majority
        city, its province, the districts of that city nearest the points, and
        ``Asia/Shanghai``. Hong Kong, Macao and Taiwan have no per-district codes in the
        dataset and are located as no division.

    Raises
    ------
    ValueError
        The extent is empty or malformed.

    Examples
    --------
    >>> locate((114.03, 22.52, 114.08, 22.56)).city   # doctest: +SKIP
    '深圳市'
    """
    pts = _points(extent)
    tree, counties = _county_index()
    chord, idx = tree.query(_unit_vectors(pts[:, 0], pts[:, 1]))
    dist_km = 2 * _EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
    near = dist_km <= max_distance_km
    centre = pts.mean(axis=0)
    tz = _timezone(*centre)
    if near.sum() * 2 < len(pts) or tz not in _CHINA_ZONES:
        logger.info("extent around %.4f, %.4f is not in a division of mainland China", *centre)
        return CityDivision(country=None, timezone=tz)
    hits = counties.iloc[idx[near]]
    city_code = hits["parent_code"].mode().iat[0]
    table = _divisions()
    city = table[(table["code"] == city_code) & (table["level"] == "city")].iloc[0]
    province = table[(table["code"] == city["parent_code"]) & (table["level"] == "province")].iloc[0]
    hits = hits[hits["parent_code"] == city_code]
    if _PSEUDO in city["name"]:  # 省直辖县级行政区划: the county (仙桃市 ...) is the city
        code = hits["code"].mode().iat[0]
        city = counties[counties["code"] == code].iloc[0]
        hits = hits.iloc[:0]
    share = hits["code"].value_counts(normalize=True)
    districts = []
    for code, frac in share.items():
        row = counties[counties["code"] == code].iloc[0]
        if _PSEUDO in row["name"]:  # 东莞市 市直辖行政区划: no district level
            continue
        districts.append(District(code=str(code), name=row["name"], lon=float(row["lon"]),
                                  lat=float(row["lat"]), share=round(float(frac), 4)))
    return CityDivision(
        country="CN", province=province["name"], province_code=province["code"],
        city=city["name"], city_code=city["code"], districts=tuple(districts), timezone=CHINA_TZ,
        province_short=province["short"], city_short=city["short"])


def _empty_admin() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": pd.Series(dtype="string"), "name": pd.Series(dtype="string"),
                             "parent_code": pd.Series(dtype="string"),
                             "level": pd.Series(dtype="string"),
                             "source": pd.Series(dtype="string")},
                            geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _admin_frame(rows: pd.DataFrame, level: str) -> gpd.GeoDataFrame:
    out = pd.DataFrame({"code": rows["code"].astype("string"),
                        "name": rows["name"].astype("string"),
                        "parent_code": rows["parent_code"].astype("string")})
    out["level"] = level
    out["source"] = "jionlp"
    gdf = gpd.GeoDataFrame(out.reset_index(drop=True),
                           geometry=gpd.GeoSeries([None] * len(out), crs=4326), crs=4326)
    gdf.index = pd.RangeIndex(len(gdf), name="fid")
    return gdf


def division_tables(division: CityDivision) -> dict[str, gpd.GeoDataFrame]:
    """The ``districts`` and ``streets`` (乡镇街道) tables of a located Chinese city.

    Same schema as the embedded city's official tables (``code``, ``name``,
    ``parent_code``, ``level``, ``source``; no geometry). Every county-level division of
    the city is listed; towns have no code in the source, so ``streets.code`` is empty
    and ``parent_code`` is their county's code.

    Parameters
    ----------
    division : CityDivision
        From :func:`locate`.

    Returns
    -------
    dict
        ``{"districts": ..., "streets": ...}``; empty for a city abroad.
    """
    if not division.available:
        return {}
    table = _divisions()
    counties = table[(table["level"] == "county") & (table["parent_code"] == division.city_code)]
    towns = _towns()
    # towns of the city's counties, or of the city itself when it has no district level
    # (东莞市 -> its 市直辖行政区划 row; 仙桃市, a county directly under its province)
    town_parents = set(counties["code"]) | {division.city_code}
    counties = counties[~counties["name"].str.contains(_PSEUDO)].sort_values("code")
    towns = towns[towns["county_code"].isin(town_parents)].sort_values(
        ["county_code", "name"], kind="stable")
    streets = pd.DataFrame({"code": pd.Series([pd.NA] * len(towns), dtype="string"),
                            "name": towns["name"].to_numpy(),
                            "parent_code": towns["county_code"].to_numpy()})
    return {"districts": _admin_frame(counties, "district") if len(counties) else _empty_admin(),
            "streets": _admin_frame(streets, "street") if len(streets) else _empty_admin()}


def address_prefix(division: CityDivision | None) -> str:
    """How addresses of the city start: ``"上海市"``, ``"广东省深圳市"``; ``""`` abroad.

    Examples
    --------
    >>> address_prefix(CityDivision("CN", "广东省", "440000", "深圳市", "440300"))
    '广东省深圳市'
    """
    return division.name if division is not None else ""


def write_division(division: CityDivision, bundle_dir: Path) -> Path:
    """Write ``<bundle>/division.json``."""
    path = Path(bundle_dir) / DIVISION_FILE
    path.write_text(json.dumps(division.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def read_division(bundle_dir: Path) -> CityDivision | None:
    """Read ``<bundle>/division.json``; None when the bundle has none."""
    path = Path(bundle_dir) / DIVISION_FILE
    if not path.is_file():
        return None
    return CityDivision.from_dict(json.loads(path.read_text(encoding="utf-8")))


def city_division(city: City) -> CityDivision:
    """A city's division: the bundle's ``division.json``, else located from its nodes
    (bundles built before divisions were recorded, twins read from PostGIS)."""
    found = read_division(city.bundle_dir)
    if found is not None:
        return found
    nodes = city.layers["nodes"].data
    return locate(np.column_stack([nodes.geometry.x, nodes.geometry.y]))
