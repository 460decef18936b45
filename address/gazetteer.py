"""The gazetteer: divisions, roads (with geometry), door addresses, places, name indexes.

Built from a city's layers by :func:`build_gazetteer`; deduplicated so that one door
number on one road is one address, however many POIs sit there. Places are the named
POIs, stations and public-transport stops inside the road network's extent, one per name
and neighbourhood (see :data:`PLACE_COLUMNS`). A gazetteer serves one
city, its :class:`~address.model.Locality` (province, city, city code), which starts the
canonical texts and is the code prefix of addresses whose district is unknown.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pypinyin import lazy_pinyin
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial import cKDTree

from address.model import NO_DIVISION, Locality, make_code
from address.normalize import normalize

__all__ = ["Gazetteer", "build_gazetteer", "road_pinyin", "parse_door", "place_key",
           "LOCALITY_FILE", "PLACE_KINDS", "PLACE_COLUMNS", "PLACE_MERGE_M", "PLACE_MARGIN_DEG"]

#: The gazetteer's city, beside its tables.
LOCALITY_FILE = "locality.json"
#: Kinds of places, highest rank first: where features of several kinds share a name and a
#: neighbourhood, the place takes the highest kind.
PLACE_KINDS = ("station", "poi", "stop")
#: The places table: ``name`` (normalized, bracketed branch names kept: ``星巴克南京东路店``),
#: ``short`` (normalized as a query is, bracketed remarks dropped: ``星巴克``), ``label``
#: (as the source writes it), ``kind`` (:data:`PLACE_KINDS`), ``lon`` / ``lat`` (WGS84),
#: the door all its features carry (``door_code``, ``road``, ``number``; else None),
#: ``district_code`` (None if unknown), ``source``, ``osm_ids`` (``;``-joined) and
#: ``features`` (how many features it stands for).
PLACE_COLUMNS = ("name", "short", "label", "kind", "lon", "lat", "door_code", "road", "number",
                 "district_code", "source", "osm_ids", "features")
#: Features of one name closer than this on average (average linkage, metres) are one place.
PLACE_MERGE_M = 300.0
#: Margin around the road network's bounding box inside which features become places.
PLACE_MARGIN_DEG = 0.005
#: How far a place takes the district of the nearest road, degrees (~150 m).
_PLACE_ROAD_DEG = 0.0015
_BRACKETS = str.maketrans("", "", "()（）[]【】")
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


def place_key(text: str) -> tuple[str, str] | None:
    """``(name, short)`` keys of a place name: normalized with bracketed parts kept, and
    normalized as a query is (bracketed remarks dropped); None if nothing is left.

    Examples
    --------
    >>> place_key("星巴克（南京东路店）")
    ('星巴克南京东路店', '星巴克')
    """
    try:
        name = normalize(text.translate(_BRACKETS))
    except ValueError:
        return None
    try:
        short = normalize(text)
    except ValueError:
        short = name
    return name, short


def _empty_places() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("lon", "lat") else
                                      "Int64" if c in ("number", "features") else object)
                         for c in PLACE_COLUMNS})


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
    locality : Locality, optional
        The city served: its province and city start the canonical texts, and its code
        prefixes the codes of addresses without a district. Without it texts start at the
        district and such codes get :data:`~address.model.NO_DIVISION`.
    places : pandas.DataFrame, optional
        Named POIs, stations and stops (:data:`PLACE_COLUMNS`); none by default.
    """

    def __init__(self, districts: pd.DataFrame, streets: pd.DataFrame,
                 communities: pd.DataFrame, roads: gpd.GeoDataFrame, doors: pd.DataFrame,
                 *, locality: Locality | None = None,
                 places: pd.DataFrame | None = None) -> None:
        self.locality = locality
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
        self.street_by_name = {name: (code if isinstance(code, str) else None)
                               for name, code in zip(streets["name"], streets["code"], strict=True)}
        self.street_name = {code: name for name, code in self.street_by_name.items() if code}
        #: division code -> its parent's (street -> district, community -> street)
        self.parent_code: dict[str, str] = {
            code: parent for table in (streets, communities)
            for code, parent in zip(table["code"], table["parent_code"], strict=True)
            if isinstance(code, str) and isinstance(parent, str)}
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
        #: longest known name per division level, the parser's prefix bound
        self.longest_name = {
            level: max(map(len, table), default=0) for level, table in (
                ("district", self.district_by_name), ("street", self.street_by_name),
                ("community", self.community_by_name))}
        self.doors = doors.reset_index(drop=True)
        self.reference_lat = self._reference_lat()
        self._index_doors()
        self.places = (_empty_places() if places is None
                       else places.reset_index(drop=True))
        self._index_places()

    def _index_places(self) -> None:
        p = self.places
        self._place_records = [
            {k: (None if (v is None or v is pd.NA or (isinstance(v, float) and v != v))
                 else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
            for row in p.to_dict("records")]
        self._places_by_name: dict[str, list[int]] = defaultdict(list)
        self._places_by_short: dict[str, list[int]] = defaultdict(list)
        rank = {k: i for i, k in enumerate(PLACE_KINDS)}
        order = sorted(range(len(p)), key=lambda i: (
            rank.get(self._place_records[i]["kind"], len(rank)),
            -(self._place_records[i]["features"] or 0)))
        for i in order:
            rec = self._place_records[i]
            self._places_by_name[rec["name"]].append(i)
            if rec["short"] != rec["name"]:
                self._places_by_short[rec["short"]].append(i)

    def find_places(self, key: str, *, kinds: tuple[str, ...] = PLACE_KINDS
                    ) -> list[tuple[dict, bool]]:
        """Places whose normalized name is ``key`` exactly, best kind first.

        Parameters
        ----------
        key : str
            Normalized text.
        kinds : tuple of str
            Kinds to consider.

        Returns
        -------
        list of (dict, bool)
            The place records (:data:`PLACE_COLUMNS`) and whether they matched on the
            ``short`` name only (a branch name left out); full-name matches first.
        """
        out = []
        for rows, short in ((self._places_by_name.get(key, ()), False),
                            (self._places_by_short.get(key, ()), True)):
            for i in rows:
                if self._place_records[i]["kind"] in kinds:
                    out.append((self.place(i), short))
        return out

    def place(self, i: int) -> dict:
        """The place record at row ``i`` (missing values as None)."""
        return dict(self._place_records[i])

    @property
    def default_code(self) -> str:
        """Division code of addresses whose district is unknown: the city's, if known."""
        return self.locality.city_code if self.locality is not None else NO_DIVISION

    def _reference_lat(self) -> float:
        """Latitude of the local metric scale: the doors' median, else the roads'."""
        if len(self.doors):
            return float(np.nanmedian(self.doors["lat"].to_numpy(dtype=float)))
        geoms = [r.geometry for r in self.roads.values() if r.geometry is not None]
        if geoms:
            bounds = shapely.total_bounds(np.array(geoms, dtype=object))
            return float((bounds[1] + bounds[3]) / 2)
        return 0.0

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
        self._scale = np.array([111_320 * np.cos(np.radians(self.reference_lat)), 110_540.0])
        self._tree_codes = self._code[active]
        xy = np.column_stack([self._lon[active], self._lat[active]])
        self._door_tree = cKDTree(xy * self._scale) if len(xy) else None
        self._max_seq: dict[str, int] = {}  # filled per prefix on first use
        tagged = d[d["district_code"].notna()]
        self.district_points: dict[str, tuple[float, float]] = {
            str(k): (float(g["lon"].median()), float(g["lat"].median()))
            for k, g in tagged.groupby("district_code")}
        road_points: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in self.roads.values():  # districts without doors: the middle of their roads
            if (r.district_code and r.district_code not in self.district_points
                    and r.geometry is not None):
                p = r.geometry.representative_point()
                road_points[r.district_code].append((p.x, p.y))
        for code, pts in road_points.items():
            arr = np.array(pts)
            self.district_points[code] = (float(np.median(arr[:, 0])), float(np.median(arr[:, 1])))
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
        for name in ("districts", "streets", "communities", "places"):
            getattr(self, name).to_parquet(directory / f"{name}.parquet")
        (directory / LOCALITY_FILE).write_text(json.dumps(
            self.locality.to_dict() if self.locality is not None else None, ensure_ascii=False),
            encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, *, locality: Locality | None = None) -> Gazetteer:
        """Read a gazetteer written by :meth:`save`.

        Parameters
        ----------
        directory : Path
            Where :meth:`save` wrote it.
        locality : Locality, optional
            The city, when the saved gazetteer has none (written by an older version).
        """
        path = directory / LOCALITY_FILE
        saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        places = directory / "places.parquet"  # absent in gazetteers of older versions
        return cls(*(pd.read_parquet(directory / f"{n}.parquet")
                     for n in ("districts", "streets", "communities")),
                   gpd.read_parquet(directory / "roads.parquet"),
                   pd.read_parquet(directory / "doors.parquet"),
                   locality=Locality.from_dict(saved) if saved else locality,
                   places=pd.read_parquet(places) if places.is_file() else None)


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


def build_gazetteer(layers: dict[str, gpd.GeoDataFrame], *, locality: Locality | None = None,
                    district_centroids: dict[str, tuple[float, float]] | None = None
                    ) -> Gazetteer:
    """Build the gazetteer from a city's layers.

    Parameters
    ----------
    layers : dict
        ``districts``, ``streets``, ``communities`` (code tables), ``roads`` (network
        edges with ``name``), ``pois`` (with ``addr_street`` / ``addr_housenumber`` /
        ``addr_district``, ``name``); optional ``stations`` and ``stops`` (named points,
        ``stops`` with a ``kind``: ``stop`` or ``station``), which with the named ``pois``
        inside the roads' extent become the places.
    locality : Locality, optional
        The city served (see :class:`Gazetteer`).
    district_centroids : dict, optional
        District code -> ``(lon, lat)`` centroid. Roads and doors that no tagged door
        places in a district get the district whose centroid is nearest (a road: the
        majority over its vertices), an approximation of the unpublished boundaries.

    Returns
    -------
    Gazetteer

    Notes
    -----
    Roads come from the network (with geometry) and from the door addresses where the
    network does not reach (geometry = the line through their doors, or None). A road's
    district is the majority ``addr:district`` of its doors; the data has no district
    polygons, so roads without tagged doors have no district unless
    ``district_centroids`` is given.
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
    poi_doors: dict[object, tuple[str, int]] = {}
    if pois is not None and len(pois):
        tagged = pois[pois["addr_street"].notna() & pois["addr_housenumber"].notna()]
        for label, street, number, district, name, geom in zip(
                tagged.index, tagged["addr_street"], tagged["addr_housenumber"],
                _column(tagged, "addr_district"), _column(tagged, "name"), tagged.geometry,
                strict=True):
            try:
                road = normalize(str(street))
            except ValueError:
                continue
            road = _strip_district(road, by_name)
            door = parse_door(str(number))
            if door is None or not _ROAD_SUFFIX.search(road):
                continue
            poi_doors[label] = (road, door[0])
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
    if district_centroids:
        _nearest_districts(roads, doors, district_centroids)
    default = locality.city_code if locality is not None else NO_DIVISION
    roads["code"] = _codes(roads["district_code"], "road", default)
    doors["code"] = _codes(doors["district_code"], "door", default)
    doors["status"] = "active"
    doors["version"] = 1
    doors["source"] = "osm"
    places = _build_places(_place_features(layers, poi_doors), roads=roads, doors=doors,
                           by_name=by_name, extent=layers.get("roads"))
    return Gazetteer(districts, streets, communities, roads, doors, locality=locality,
                     places=places)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


def _place_features(layers: dict[str, gpd.GeoDataFrame],
                    poi_doors: dict[object, tuple[str, int]]) -> pd.DataFrame:
    """Named point features that may become places: ``pois`` (kind poi, with the door
    each carries), ``stations`` (station), ``stops`` (its ``kind`` column, else stop) and
    ``schools`` (school)."""
    parts = []
    for layer, default_kind in (("pois", "poi"), ("stations", "station"), ("stops", "stop"),
                                ("schools", "school")):
        gdf = layers.get(layer)
        if gdf is None or not len(gdf) or "name" not in gdf:
            continue
        gdf = gdf[gdf["name"].notna() & gdf.geometry.notna() & ~gdf.geometry.is_empty]
        points = gdf.geometry.representative_point()
        kind = (_column(gdf, "kind").fillna(default_kind) if "kind" in gdf
                else pd.Series(default_kind, index=gdf.index))
        parts.append(pd.DataFrame({
            "label": gdf["name"].astype(str).to_numpy(), "kind": kind.to_numpy(),
            "lon": points.x.to_numpy(dtype=float), "lat": points.y.to_numpy(dtype=float),
            "door": [poi_doors.get(i) if layer == "pois" else None for i in gdf.index],
            "district": _column(gdf, "addr_district").to_numpy(dtype=object),
            "source": _column(gdf, "source").fillna("osm").astype(str).to_numpy(),
            "osm_id": _column(gdf, "osm_id").astype(object).to_numpy()}))
    columns = ["label", "kind", "lon", "lat", "door", "district", "source", "osm_id"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _build_places(features: pd.DataFrame, *, roads: gpd.GeoDataFrame, doors: pd.DataFrame,
                  by_name: dict[str, str], extent: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """One place per name and neighbourhood (see :data:`PLACE_COLUMNS`).

    Features outside the road network's bounding box (plus :data:`PLACE_MARGIN_DEG`) are
    dropped. Features of one name whose pairwise distances stay within
    :data:`PLACE_MERGE_M` on average (average linkage) are one place of the highest kind
    among them, at the centroid of the features of that kind; farther apart, distinct
    places.
    """
    if not len(features):
        return _empty_places()
    if extent is not None and len(extent):
        x0, y0, x1, y1 = extent.total_bounds
        m = PLACE_MARGIN_DEG
        inside = features["lon"].between(x0 - m, x1 + m) & features["lat"].between(y0 - m, y1 + m)
        features = features[inside]
    keys = [place_key(label) for label in features["label"]]
    features = features.assign(name=[k[0] if k else None for k in keys],
                               short=[k[1] if k else None for k in keys])
    features = features[features["name"].notna()].reset_index(drop=True)
    if not len(features):
        return _empty_places()
    rank = {k: i for i, k in enumerate(PLACE_KINDS)}
    keys = zip(doors["road"], doors["number"].astype(int).tolist(), strict=True)
    door_code = dict(zip(keys, doors["code"], strict=True))
    door_district = dict(zip(doors["code"], doors["district_code"], strict=True))
    scale = np.array([111_320 * np.cos(np.radians(float(features["lat"].median()))), 110_540.0])
    rows = []
    for name, group in features.groupby("name", sort=True):
        xy = group[["lon", "lat"]].to_numpy(dtype=float) * scale
        labels = (fcluster(linkage(xy, method="average"), PLACE_MERGE_M, criterion="distance")
                  if len(group) > 1 else np.ones(1, dtype=int))
        for cluster in np.unique(labels):
            members = group[labels == cluster]
            top = min(members["kind"], key=lambda k: rank.get(k, len(rank)))
            best = members[members["kind"] == top]
            # its door: the one every feature of the place carries, else none
            carried = {best["door"].iat[0]} if len(set(best["door"])) == 1 else {None}
            road, number = carried.pop() or (None, None)
            code = door_code.get((road, number)) if road is not None else None
            district = door_district.get(code) if code else None
            if not isinstance(district, str):
                tagged = [c for c in (_district_code(v, by_name) for v in members["district"])
                          if c is not None]
                district = max(set(tagged), key=tagged.count) if tagged else None
            rows.append({
                "name": name, "short": best["short"].iat[0],
                "label": best["label"].value_counts().index[0], "kind": top,
                "lon": float(best["lon"].mean()), "lat": float(best["lat"].mean()),
                "door_code": code, "road": road, "number": number, "district_code": district,
                "source": ";".join(sorted(set(members["source"]))),
                "osm_ids": ";".join(str(i) for i in members["osm_id"] if isinstance(i, str)),
                "features": len(members)})
    places = pd.DataFrame(rows, columns=list(PLACE_COLUMNS))
    _road_districts(places, roads)
    places["number"] = places["number"].astype("Int64")
    places["features"] = places["features"].astype("Int64")
    return places


def _road_districts(places: pd.DataFrame, roads: gpd.GeoDataFrame) -> None:
    """Places without a district take the nearest road's within ~150 m, in place."""
    known = roads[roads["district_code"].notna() & roads.geometry.notna()]
    lost = np.flatnonzero(places["district_code"].isna().to_numpy())
    if not len(known) or not len(lost):
        return
    tree = shapely.STRtree(known.geometry.to_numpy())
    points = shapely.points(places["lon"].to_numpy()[lost], places["lat"].to_numpy()[lost])
    (found, near) = tree.query_nearest(points, max_distance=_PLACE_ROAD_DEG, all_matches=False)
    col = places.columns.get_loc("district_code")
    for i, j in zip(found, near, strict=True):
        places.iat[int(lost[i]), col] = known["district_code"].iat[int(j)]


def _nearest_districts(roads: gpd.GeoDataFrame, doors: pd.DataFrame,
                       centroids: dict[str, tuple[float, float]]) -> None:
    """Fill the missing districts of roads (majority of their vertices) and doors (their
    road's, else their own point's) with the nearest district centroid, in place."""
    codes = list(centroids)
    xy = np.array([centroids[c] for c in codes], dtype=float)
    lat0 = float(np.mean(xy[:, 1]))
    scale = np.array([np.cos(np.radians(lat0)), 1.0])
    tree = cKDTree(xy * scale)
    missing = roads["district_code"].isna() & roads.geometry.notna()
    for i in np.flatnonzero(missing.to_numpy()):
        pts = shapely.get_coordinates(roads.geometry.iat[i])
        if not len(pts):
            continue
        _, near = tree.query(pts * scale)
        values, counts = np.unique(np.atleast_1d(near), return_counts=True)
        roads.iat[i, roads.columns.get_loc("district_code")] = codes[int(values[np.argmax(counts)])]
    by_road = dict(zip(roads["name"], roads["district_code"], strict=True))
    lost = doors["district_code"].isna()
    doors.loc[lost, "district_code"] = doors.loc[lost, "road"].map(by_road)
    lost = doors["district_code"].isna()
    if lost.any():
        _, near = tree.query(doors.loc[lost, ["lon", "lat"]].to_numpy(dtype=float) * scale)
        doors.loc[lost, "district_code"] = [codes[int(k)] for k in np.atleast_1d(near)]


def _codes(divisions: pd.Series, kind: str, default: str) -> list[str]:
    counters: dict[str, int] = defaultdict(int)
    out = []
    for div in divisions:
        div = div if isinstance(div, str) else default
        counters[div] += 1
        out.append(make_code(div, kind, counters[div]))
    return out
