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
_LAZY_COLUMNS = ("sub_number", "names", "district_code", "status", "version", "source",
                 "merged_into")
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
        self._road = d["road"].to_numpy(dtype=object)
        self._number = d["number"].to_numpy(dtype=np.int64)
        self._lon = d["lon"].to_numpy(dtype=float)
        self._lat = d["lat"].to_numpy(dtype=float)
        self._code = d["code"].to_numpy(dtype=object)
        self._code_pos = pd.Index(self._code)
        active = (d["status"].to_numpy(dtype=object) == "active")
        rows = np.flatnonzero(active)[::-1]  # reversed: the first door of a key wins
        self.door_index: dict[tuple[str, int], str] = dict(zip(
            zip(self._road[rows], self._number[rows].tolist(), strict=True),
            self._code[rows], strict=True))
        self.road_door_codes: dict[str, list[str]] = defaultdict(list)
        for (road, _), code in self.door_index.items():
            self.road_door_codes[road].append(code)
        self.overlay: dict[str, dict] = {}
        self._overlay_points: dict[str, tuple[float, float]] = {}
        self._scale = np.array([111_320 * np.cos(np.radians(31.2)), 110_540.0])
        self._tree_codes = self._code[active]
        xy = np.column_stack([self._lon[active], self._lat[active]])
        self._door_tree = cKDTree(xy * self._scale) if len(xy) else None
        self._max_seq: dict[str, int] = {}  # filled per prefix on first use
        tagged = d[d["district_code"].notna()]
        self.district_points: dict[str, tuple[float, float]] = {
            str(k): (float(g["lon"].median()), float(g["lat"].median()))
            for k, g in tagged.groupby("district_code")}
        geoms = [r.geometry for r in self.roads.values() if r.geometry is not None]
        self._road_list = [r for r in self.roads.values() if r.geometry is not None]
        self._road_tree = shapely.STRtree(geoms) if geoms else None

    # -- doors --------------------------------------------------------------------------
    def door(self, code: str) -> dict | None:
        """The current record of a door code (edits included), or None."""
        if code in self.overlay:
            return self.overlay[code]
        try:
            i = int(self._code_pos.get_loc(code))
        except (KeyError, TypeError):
            return None
        d = self.doors
        rec = {c: d.iat[i, j] for j, c in enumerate(d.columns) if c in _LAZY_COLUMNS}
        rec.update(road=self._road[i], number=int(self._number[i]), lon=float(self._lon[i]),
                   lat=float(self._lat[i]), code=code)
        return {k: (None if (v is None or v is pd.NA or (isinstance(v, float) and v != v))
                    else (v.item() if hasattr(v, "item") else v)) for k, v in rec.items()}

    def door_point(self, code: str) -> tuple[int, float, float] | None:
        """``(number, lon, lat)`` of a door code — the fast path of the geocoder."""
        rec = self.overlay.get(code)
        if rec is not None:
            return int(rec["number"]), float(rec["lon"]), float(rec["lat"])
        try:
            i = int(self._code_pos.get_loc(code))
        except (KeyError, TypeError):
            return None
        return int(self._number[i]), float(self._lon[i]), float(self._lat[i])

    def door_code(self, road: str, number: int) -> str | None:
        """Code of the active door ``number`` on ``road``, or None."""
        return self.door_index.get((road, int(number)))

    def road_doors(self, road: str) -> list[tuple[str, int, float, float]]:
        """Active doors on a road: ``(code, number, lon, lat)``."""
        out = []
        for code in self.road_door_codes.get(road, []):
            point = self.door_point(code)
            if point is not None:
                out.append((code, *point))
        return out

    def codes(self) -> list[str]:
        """Every door code (all statuses)."""
        return list(dict.fromkeys([*self._code.tolist(), *self.overlay]))

    def next_code(self, prefix: str) -> int:
        """Next free sequence number for a 13-character code prefix."""
        if prefix not in self._max_seq:
            used = [int(c[13:]) for c in self._code if c.startswith(prefix)]
            self._max_seq[prefix] = max([0, *used, *(int(c[13:]) for c in self.overlay
                                                      if c.startswith(prefix))])
        return self._max_seq[prefix] + 1

    def upsert_door(self, record: dict) -> None:
        """Apply a created or edited door record to the indexes (no full rebuild)."""
        code = record["code"]
        old = self.door(code)
        if old is not None and old.get("status") == "active":
            key = (old["road"], int(old["number"]))
            if self.door_index.get(key) == code:
                del self.door_index[key]
                self.road_door_codes[old["road"]].remove(code)
        self.overlay[code] = dict(record)
        self._overlay_points.pop(code, None)
        if record.get("status") == "active":
            self.door_index[(record["road"], int(record["number"]))] = code
            self.road_door_codes[record["road"]].append(code)
            self._overlay_points[code] = (float(record["lon"]), float(record["lat"]))
        prefix, seq = code[:13], int(code[13:])
        if prefix in self._max_seq:
            self._max_seq[prefix] = max(self._max_seq[prefix], seq)

    def nearest_door(self, lon: float, lat: float) -> tuple[dict, float] | None:
        """The nearest active door record and its distance in metres."""
        best: tuple[str, float] | None = None
        target = np.array([lon, lat]) * self._scale
        if self._door_tree is not None:
            k = min(16, len(self._tree_codes))
            dist, pos = self._door_tree.query(target, k=k)
            for dd, pp in zip(np.atleast_1d(dist), np.atleast_1d(pos), strict=True):
                code = self._tree_codes[int(pp)]
                if code not in self.overlay:
                    best = (code, float(dd))
                    break
        for code, (x, y) in self._overlay_points.items():
            dd = float(np.hypot(*(np.array([x, y]) * self._scale - target)))
            if best is None or dd < best[1]:
                best = (code, dd)
        if best is None:
            return None
        return self.door(best[0]), best[1]

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
