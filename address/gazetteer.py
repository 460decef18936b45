"""The gazetteer: divisions, roads (with geometry), door addresses, name indexes.

Built from a city's layers by :func:`build_gazetteer`; deduplicated so that one door
number on one road is one address, however many POIs sit there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pypinyin import lazy_pinyin
from scipy.spatial import cKDTree

from address.model import make_code
from address.normalize import normalize

__all__ = ["Gazetteer", "build_gazetteer", "road_pinyin", "parse_door", "SHANGHAI_CODE"]

SHANGHAI_CODE = "310000"
_DOOR = re.compile(r"^(\d+)(?:号)?(?:[-之](\w+))?")
_ROAD_SUFFIX = re.compile(r"(路|街|大道|公路|道|巷|弄|支路|大街)$")
#: English / pinyin words of road names, to pinyin syllables
_EN_WORDS = {"road": "lu", "rd": "lu", "street": "jie", "st": "jie", "avenue": "dadao",
             "ave": "dadao", "highway": "gonglu", "middle": "zhong", "central": "zhong",
             "east": "dong", "west": "xi", "north": "bei", "south": "nan", "lane": "xiang"}


def road_pinyin(name: str) -> str:
    """Toneless pinyin of a road name, no spaces (``淮海中路`` -> ``huaihaizhonglu``)."""
    return "".join(lazy_pinyin(name))


def latin_key(text: str) -> str:
    """Pinyin key of an English / pinyin road name (``Huaihai Road (M.)`` -> ``huaihaizhonglu``)."""
    words = re.findall(r"[a-z]+", text.lower())
    if "m" in words:
        words = [w for w in words if w != "m"]
        words.insert(-1 if words and words[-1] in _EN_WORDS else len(words), "middle")
    direction = [w for w in words if w in {"east", "west", "north", "south", "middle", "central"}]
    core = [w for w in words if w not in direction and w not in _EN_WORDS]
    kind = [_EN_WORDS[w] for w in words if w in _EN_WORDS and w not in direction]
    return "".join(core + [_EN_WORDS[d] for d in direction] + (kind[-1:] or ["lu"]))


def parse_door(text: str) -> tuple[int, str | None] | None:
    """``"705号101B"`` -> (705, "101B"), ``"72-2"`` -> (72, "2"), ``"3918号"`` -> (3918, None)."""
    m = _DOOR.match(normalize(str(text)) if text else "")
    if not m:
        return None
    return int(m.group(1)), m.group(2)


@dataclass
class Road:
    """A named road: geometry (may be None outside the network), district, pinyin."""

    name: str
    district_code: str | None
    geometry: shapely.Geometry | None
    pinyin: str
    code: str


class Gazetteer:
    """Lookup structures over the standard addresses of a city.

    Parameters
    ----------
    districts, streets, communities : pandas.DataFrame
        ``code``, ``name``, ``parent_code``.
    roads : geopandas.GeoDataFrame
        ``name``, ``district_code``, ``code``, geometry (may be empty).
    doors : pandas.DataFrame
        ``code``, ``road``, ``number``, ``sub_number``, ``lon``, ``lat``, ``district_code``,
        ``names``.
    """

    def __init__(self, districts: pd.DataFrame, streets: pd.DataFrame,
                 communities: pd.DataFrame, roads: gpd.GeoDataFrame, doors: pd.DataFrame) -> None:
        self.districts = districts
        self.streets = streets
        self.communities = communities
        self.district_by_name: dict[str, str] = {}
        for code, name in zip(districts["code"], districts["name"], strict=True):
            self.district_by_name[name] = code
            short = re.sub(r"(新区|区)$", "", name)
            if len(short) >= 2:
                self.district_by_name[short] = code
        self.district_name = dict(zip(districts["code"], districts["name"], strict=True))
        self.street_by_name = dict(zip(streets["name"], streets["code"], strict=True))
        self.community_by_name: dict[str, list[str]] = defaultdict(list)
        for code, name in zip(communities["code"], communities["name"], strict=True):
            self.community_by_name[name].append(code)
        self.roads: dict[str, Road] = {}
        for row in roads.itertuples():
            geom = row.geometry if row.geometry is not None and not row.geometry.is_empty else None
            self.roads[row.name] = Road(row.name, row.district_code if isinstance(
                row.district_code, str) else None, geom, road_pinyin(row.name), row.code)
        self.roads_by_pinyin: dict[str, list[str]] = defaultdict(list)
        for road in self.roads.values():
            self.roads_by_pinyin[road.pinyin].append(road.name)
        self.road_names_by_length = sorted(self.roads, key=len, reverse=True)
        self.road_regex = re.compile("|".join(map(re.escape, self.road_names_by_length))
                                     or r"(?!x)x")
        self.doors = doors.reset_index(drop=True)
        self._index_doors()

    def _index_doors(self) -> None:
        d = self.doors
        self.door_records: list[dict] = d.to_dict("records")
        self.door_index: dict[tuple[str, int], int] = {}
        for i, (road, number, status) in enumerate(zip(d["road"], d["number"], d["status"],
                                                       strict=True)):
            if status == "active" and (road, int(number)) not in self.door_index:
                self.door_index[(road, int(number))] = i
        self.doors_by_road: dict[str, list[int]] = defaultdict(list)
        for (road, _), i in self.door_index.items():
            self.doors_by_road[road].append(i)
        self.by_code = {c: i for i, c in enumerate(d["code"])}
        active = d["status"].to_numpy() == "active"
        self._active_rows = np.flatnonzero(active)
        xy = d.loc[active, ["lon", "lat"]].to_numpy(dtype=float)
        self._scale = np.array([111_320 * np.cos(np.radians(31.2)), 110_540.0])
        self._door_tree = cKDTree(xy * self._scale) if len(xy) else None
        geoms = [r.geometry for r in self.roads.values() if r.geometry is not None]
        self._road_list = [r for r in self.roads.values() if r.geometry is not None]
        self._road_tree = shapely.STRtree(geoms) if geoms else None

    def replace_doors(self, doors: pd.DataFrame) -> None:
        """Swap in a new door table (after lifecycle edits) and rebuild the indexes."""
        self.doors = doors.reset_index(drop=True)
        self._index_doors()

    def nearest_door(self, lon: float, lat: float) -> tuple[int, float] | None:
        """Row of the nearest active door and its distance in metres."""
        if self._door_tree is None:
            return None
        dist, pos = self._door_tree.query(np.array([lon, lat]) * self._scale)
        return int(self._active_rows[pos]), float(dist)

    def nearest_road(self, lon: float, lat: float) -> tuple[Road, float] | None:
        """Nearest road with geometry and its distance in metres."""
        if self._road_tree is None:
            return None
        point = shapely.Point(lon, lat)
        idx = self._road_tree.nearest(point)
        road = self._road_list[int(idx)]
        near = shapely.ops.nearest_points(road.geometry, point)[0]
        dx = (near.x - lon) * self._scale[0]
        dy = (near.y - lat) * self._scale[1]
        return road, float(np.hypot(dx, dy))

    # -- persistence ------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the gazetteer tables as Parquet."""
        directory.mkdir(parents=True, exist_ok=True)
        roads = gpd.GeoDataFrame(
            {"name": [r.name for r in self.roads.values()],
             "district_code": [r.district_code for r in self.roads.values()],
             "code": [r.code for r in self.roads.values()]},
            geometry=[r.geometry for r in self.roads.values()], crs=4326)
        roads.to_parquet(directory / "roads.parquet")
        self.doors.to_parquet(directory / "doors.parquet")
        for name in ("districts", "streets", "communities"):
            getattr(self, name).to_parquet(directory / f"{name}.parquet")

    @classmethod
    def load(cls, directory: Path) -> Gazetteer:
        """Read a gazetteer written by :meth:`save`."""
        return cls(*(pd.read_parquet(directory / f"{n}.parquet")
                     for n in ("districts", "streets", "communities")),
                   gpd.read_parquet(directory / "roads.parquet"),
                   pd.read_parquet(directory / "doors.parquet"))


def _road_geometries(roads: gpd.GeoDataFrame) -> dict[str, shapely.Geometry]:
    named = roads[roads["name"].notna()]
    out = {}
    for name, group in named.groupby("name"):
        out[str(name)] = shapely.line_merge(shapely.union_all(group.geometry.to_numpy()))
    return out


def _strip_district(road: str, by_name: dict[str, str]) -> str:
    """``浦东新区浦明路`` -> ``浦明路`` (a district written into the street tag)."""
    for name in by_name:
        if name.endswith("区") and road.startswith(name) and _ROAD_SUFFIX.search(road[len(name):]):
            return road[len(name):]
    return road


def _district_code(value: object, by_name: dict[str, str]) -> str | None:
    if not isinstance(value, str):
        return None
    v = normalize(value) if value.strip() else ""
    for name, code in by_name.items():
        if v == name or v.startswith(name):
            return code
    return None


def build_gazetteer(layers: dict[str, gpd.GeoDataFrame]) -> Gazetteer:
    """Build the gazetteer from a city's layers.

    Parameters
    ----------
    layers : dict
        ``districts``, ``streets``, ``communities`` (code tables), ``roads`` (network
        edges with ``name``), ``pois`` (with ``addr_street`` / ``addr_housenumber`` /
        ``addr_district``).

    Returns
    -------
    Gazetteer

    Notes
    -----
    Roads come from the network (with geometry) and from the door addresses where the
    network does not reach (geometry = the line through their doors, or None). A road's
    district is the majority ``addr:district`` of its doors; the data has no district
    polygons, so roads without tagged doors have no district.
    """
    def table(name: str) -> pd.DataFrame:
        if name not in layers:
            return pd.DataFrame({"code": pd.Series(dtype=str), "name": pd.Series(dtype=str),
                                 "parent_code": pd.Series(dtype=str)})
        return pd.DataFrame(layers[name][["code", "name", "parent_code"]]).reset_index(drop=True)

    districts, streets, communities = table("districts"), table("streets"), table("communities")
    by_name = {}
    for code, name in zip(districts["code"], districts["name"], strict=True):
        by_name[name] = code
        short = re.sub(r"(新区|区)$", "", name)
        if len(short) >= 2:
            by_name[short] = code
    geoms = _road_geometries(layers["roads"]) if "roads" in layers else {}
    pois = layers.get("pois")
    rows = []
    if pois is not None and len(pois):
        tagged = pois[pois["addr_street"].notna() & pois["addr_housenumber"].notna()]
        for street, number, district, name, geom in zip(
                tagged["addr_street"], tagged["addr_housenumber"], tagged["addr_district"],
                tagged["name"], tagged.geometry, strict=True):
            try:
                road = normalize(str(street))
            except ValueError:
                continue
            road = _strip_district(road, by_name)
            door = parse_door(str(number))
            if door is None or not _ROAD_SUFFIX.search(road):
                continue
            rows.append({"road": road, "number": door[0], "sub_number": door[1],
                         "lon": geom.x, "lat": geom.y,
                         "district_code": _district_code(district, by_name),
                         "name": name if isinstance(name, str) else None})
    raw = pd.DataFrame(rows, columns=["road", "number", "sub_number", "lon", "lat",
                                      "district_code", "name"])
    doors = (raw.groupby(["road", "number"], sort=True)
             .agg(lon=("lon", "mean"), lat=("lat", "mean"),
                  district_code=("district_code", lambda s: s.dropna().mode().iat[0]
                                 if s.notna().any() else None),
                  names=("name", lambda s: "、".join(sorted({n for n in s if isinstance(n, str)}))[:200]),
                  sub_number=("sub_number", "first"))
             .reset_index())
    road_district = (doors.dropna(subset=["district_code"]).groupby("road")["district_code"]
                     .agg(lambda s: s.mode().iat[0]).to_dict())
    doors["district_code"] = doors["district_code"].fillna(doors["road"].map(road_district))
    names = sorted(set(geoms) | set(doors["road"]))
    road_rows = []
    for name in names:
        geom = geoms.get(name)
        if geom is None:
            pts = doors.loc[doors["road"] == name, ["lon", "lat"]].to_numpy()
            geom = shapely.LineString(pts[np.lexsort(pts.T[::-1])]) if len(pts) >= 2 else None
        road_rows.append({"name": name, "district_code": road_district.get(name),
                          "geometry": geom})
    roads = gpd.GeoDataFrame(road_rows, geometry="geometry", crs=4326)
    roads["code"] = _codes(roads["district_code"], "road")
    doors["code"] = _codes(doors["district_code"], "door")
    doors["status"] = "active"
    doors["version"] = 1
    doors["source"] = "osm"
    return Gazetteer(districts, streets, communities, roads, doors)


def _codes(divisions: pd.Series, kind: str) -> list[str]:
    counters: dict[str, int] = defaultdict(int)
    out = []
    for div in divisions:
        div = div if isinstance(div, str) else SHANGHAI_CODE
        counters[div] += 1
        out.append(make_code(div, kind, counters[div]))
    return out
