"""Parse any Chinese address into components, with rules and the national divisions.

The text is normalized first (:func:`address.normalize.normalize`: full-width, traditional
characters, Chinese numerals, noise). The head is read against the division index
(province, city, district and town names, full or short, each consistent with the ones
before it), then development zones, communities and village groups by their suffixes;
the body is cut by one precompiled pattern into roads, door numbers, lanes, buildings,
units, floors, rooms, intersections and distances, and the text between them is the
place (POI) and sub-place.

``components`` hold what the text states (normalized); what the divisions imply (the
province of a named district, codes) goes to ``inferred``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from address.divisions import LEVEL_RANK, Division, DivisionIndex, load_index
from address.normalize import normalize

__all__ = ["PARSE_COMPONENTS", "PARSE_LEVELS", "PARSE_FLAGS", "ParsedAddress", "parse_address",
           "level_of"]

#: Components of a parsed address, from the province down to the room.
PARSE_COMPONENTS = ("province", "city", "district", "devzone", "street", "community",
                    "village_group", "road", "subroad", "lane", "number", "sub_number",
                    "intersection", "distance", "place", "subplace", "building", "unit",
                    "floor", "room")
#: The most precise component stated, most precise first (``door``: a door number).
PARSE_LEVELS = ("room", "floor", "unit", "building", "subplace", "door", "place",
                "intersection", "road", "village_group", "community", "street", "devzone",
                "district", "city", "province", "none")
#: ``division_ambiguous``: a division name fits several divisions (nothing inferred from
#: it); ``division_conflict``: a division does not lie in the one named before it (kept
#: as written); ``division_repeated``: a division written twice (kept once);
#: ``unparsed``: some text is in no component; ``model``: tagged by a trained model.
PARSE_FLAGS = ("division_ambiguous", "division_conflict", "division_repeated", "unparsed",
               "model")
_LEVEL_OF = (("room", "room"), ("floor", "floor"), ("unit", "unit"),
             ("building", "building"), ("subplace", "subplace"), ("number", "door"),
             ("lane", "door"), ("place", "place"), ("intersection", "intersection"),
             ("road", "road"), ("village_group", "village_group"),
             ("community", "community"), ("street", "street"), ("devzone", "devzone"),
             ("district", "district"), ("city", "city"), ("province", "province"))
_COMPONENT_OF = {"province": "province", "city": "city", "county": "district", "town": "street"}
_MUNICIPALITIES = ("110000", "120000", "310000", "500000")
_ADMIN_SUFFIX = re.compile(r"(?:省|市|自治州|地区|盟|区|县|旗|街道|镇|乡)")
_CH = "\u4e00-\u9fa5"
_ROAD_END = "(?:大道|大街|公路|国道|省道|路(?!口)|街(?!道)|(?<![街大])道|巷|胡同)"
_NAMED_ROAD = re.compile(r"[东西南北中]?[一二三四五六七八九十]?(?:大道|大街|[路街道巷])")
_HEAD_NOISE = re.compile(r"[-_.]+")
_COUNTRY = re.compile(r"中华人民共和国|中国")
_DEVZONE = re.compile(
    rf"[{_CH}A-Za-z\d]{{0,8}}?(?:经济技术开发区|经济开发区|高新技术产业开发区|技术开发区|"
    rf"开发区|工业园区|工业区|工业园|科技园区|科技园|高新区|保税区|产业园区?|园区|新区)")
_TOWN = re.compile(rf"[{_CH}]{{2,4}}?(?:街道|镇|乡)(?![{_CH}]?{_ROAD_END})")
_COMMUNITY = re.compile(rf"[{_CH}\d]{{1,5}}?(?:社区居委会|居委会|村委会|社区|村(?!村)(?!委))")
_DISTRICT = re.compile(rf"[{_CH}]{{1,3}}(?:区|县)")
_VILLAGE_GROUP = re.compile(rf"(?:\d+|[{_CH}]{{1,4}}?)(?:村民小组|村民组|组|队|社)")
_BODY = re.compile(
    rf"(?P<dash3>[A-Za-z]?\d+-\d+-[A-Za-z]?\d+)(?:室|号)?"
    rf"|(?P<intersection>交叉路口|交叉口|交汇处|交界处|交界口|交口|岔路口|路口)"
    rf"|(?P<distance>\d+(?:米|公里))"
    rf"|(?P<segment>(?:\d+|[一二三四五六七八九十]+|[东西南北中])段)"
    rf"|(?P<lane>\d+)弄"
    rf"|(?P<building>[A-Za-z]?\d+[A-Za-z]?|[A-Za-z]|[东西南北中])(?:号楼|幢|栋|座|号院)"
    rf"|(?P<unit>\d+|[A-Za-z]|[东西南北中])单元"
    rf"|-?(?P<floor>(?:负|-)?\d+|[A-Za-z]\d+)(?:楼|层|F)"
    rf"|(?P<room>[A-Za-z]?\d+)(?:室|房)"
    rf"|(?P<hao>[A-Za-z]?\d+(?:-\d+)?[A-Za-z]?)号"
    rf"|(?P<digits>[A-Za-z]?\d+(?:-\d+)?[A-Za-z]?)(?![\d楼层F])"
    rf"|(?P<road>[{_CH}\dA-Za-z]{{1,12}}?{_ROAD_END})")
_POI_END = ("小区", "花园", "公寓", "大厦", "广场", "家园", "新村", "集团", "公司", "市场",
            "大楼", "中心", "医院", "学院", "大学", "酒店", "宾馆", "商城", "工业区", "山庄")
_SPLIT_POI = re.compile(rf"({'|'.join(_POI_END)})(?=[{_CH}A-Za-z\d]{{2,}}$)")
_SUB_AREA = re.compile(r"^(.{2,}?)((?:[A-Za-z\d]+|[一二三四五六七八九十]+|[东西南北中])[区期])$")
_GAP_NOISE = re.compile(r"^[-_与和及跟交至旁内侧]+|[-_与和及跟旁内侧边]+$")


@dataclass
class ParsedAddress:
    """A parsed address: ``components`` as stated, ``inferred`` from the divisions."""

    components: dict[str, str] = field(default_factory=dict)
    level: str = "none"
    flags: list[str] = field(default_factory=list)
    inferred: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"components", "level", "flags", "inferred"}``."""
        return {"components": dict(self.components), "level": self.level,
                "flags": list(self.flags), "inferred": dict(self.inferred)}


def level_of(components: dict[str, str]) -> str:
    """The most precise component stated, as a :data:`PARSE_LEVELS` value."""
    for key, level in _LEVEL_OF:
        if key in components:
            return level
    return "none"


class _Context:
    """Division codes known so far while reading the head."""

    __slots__ = ("province", "city", "county", "rank")

    def __init__(self) -> None:
        self.province: str | None = None
        self.city: str | None = None
        self.county: str | None = None
        self.rank = -1

    def fitting(self, divisions: Iterable[Division]) -> list[Division]:
        """The divisions that lie in the ones known so far."""
        province, city, county = self.province, self.city, self.county
        return [d for d in divisions
                if (province is None or d.province_code == province)
                and (city is None or d.city_code is None or d.city_code == city)
                and (county is None or d.county_code is None or d.county_code == county)]


def _division(text: str, pos: int, index: DivisionIndex, ctx: _Context,
              out: ParsedAddress) -> int:
    """Read one division name at ``pos``; the new position (``pos`` when none)."""
    hit = index.match(text, pos)
    if hit is None:
        return pos
    name, found = hit
    end = pos + len(name)
    full = name in index.full
    if not full:
        m = _ADMIN_SUFFIX.match(text, end)
        if m:
            end = m.end()
        if _NAMED_ROAD.match(text, end):
            return pos  # 上海路, 中山东路, 中关村大街: a road named after a division
    deeper = [d for d in found if d.rank > ctx.rank]
    fitting = ctx.fitting(deeper)
    if not fitting and ctx.city is not None:  # a town of the city, not of the district
        fitting = [d for d in deeper if d.level == "town" and d.city_code == ctx.city]
    if not fitting:
        same = ctx.fitting(found)
        if same:  # written again, or above the divisions already read
            out.components.setdefault(_COMPONENT_OF[same[0].level], text[pos:end])
            out.flags.append("division_repeated")
            return end
        if not deeper or not full or ctx.rank >= deeper[0].rank:
            return pos
        fitting = deeper
        out.flags.append("division_conflict")
    rank = min(d.rank for d in fitting)
    if len(fitting) > 1:
        fitting = [d for d in fitting if d.rank == rank]
    level = fitting[0].level
    if level == "town" and not full and ctx.county is None and ctx.city is None:
        return pos  # a town's short name is only trusted inside a known county or city
    if level == "county" and not full and ctx.city is None and ctx.province is None \
            and len(fitting) > 1:
        return pos
    component = _COMPONENT_OF[level]
    if rank <= 1 and fitting[0].code in _MUNICIPALITIES:
        component, rank = "city", LEVEL_RANK["city"]
    out.components.setdefault(component, text[pos:end])
    ctx.rank = rank
    d = fitting[0]
    if len(fitting) == 1 or all(
            (e.province_code, e.city_code, e.county_code)
            == (d.province_code, d.city_code, d.county_code) for e in fitting):
        ctx.province, ctx.city = d.province_code, d.city_code or ctx.city
        ctx.county = d.county_code or ctx.county
    else:
        if all(e.province_code == d.province_code for e in fitting):
            ctx.province = d.province_code
        out.flags.append("division_ambiguous")
    return end


def _head(text: str, index: DivisionIndex, out: ParsedAddress, ctx: _Context) -> int:
    """Read the country, divisions, development zone, community and village group."""
    pos = 0
    m = _COUNTRY.match(text)
    if m:
        pos = m.end()
    while pos < len(text):
        m = _HEAD_NOISE.match(text, pos)
        if m:
            pos = m.end()
            continue
        new = _division(text, pos, index, ctx, out)
        if new > pos:
            pos = new
            continue
        if "devzone" not in out.components:
            m = _DEVZONE.match(text, pos)
            if m and not _ROAD_AHEAD.match(text, pos):
                out.components["devzone"] = m.group(0)
                pos = m.end()
                continue
        if "city" in out.components and "district" not in out.components \
                and "street" not in out.components:
            m = _DISTRICT.match(text, pos)
            if m and not _NAMED_ROAD.match(text, m.end()):
                out.components["district"] = m.group(0)
                pos = m.end()
                continue
        if "street" not in out.components and "community" not in out.components:
            m = _TOWN.match(text, pos)
            if m:
                out.components["street"] = m.group(0)
                pos = m.end()
                continue
        known = any(k in out.components for k in ("street", "district", "devzone"))
        if known and "community" not in out.components:
            m = _COMMUNITY.match(text, pos)
            if m and not m.group(0).endswith("新村") and not _ROAD_AHEAD.match(text, pos):
                out.components["community"] = m.group(0)
                pos = m.end()
                continue
        if "community" in out.components and "village_group" not in out.components:
            m = _VILLAGE_GROUP.match(text, pos)
            if m:
                out.components["village_group"] = m.group(0)
                pos = m.end()
                continue
        break
    return pos


_ROAD_AHEAD = re.compile(rf"[{_CH}\d]{{1,4}}?{_ROAD_END}")


def _split_road(road: str) -> tuple[str, str]:
    """``(place before the road, road)``: a long match holds the place it follows."""
    if len(road) <= 5:
        return "", road
    ends = [m.end() for m in _SPLIT_END.finditer(road[:-1])]
    if ends and len(road) - ends[-1] >= 2:
        return road[:ends[-1]], road[ends[-1]:]
    return "", road


_SPLIT_END = re.compile("|".join([*_POI_END, "城", "园", "苑", "村", "场", "厦", "区"]))


def _place(gap: str, out: ParsedAddress) -> None:
    """Text between tokens: the place, then the sub-place."""
    gap = _GAP_NOISE.sub("", gap)
    half = len(gap) // 2
    if half >= 2 and gap[:half] == gap[half:]:
        gap = gap[:half]
    if len(gap) < 2 and not (gap and "place" in out.components):
        return
    if "place" not in out.components:
        m = _SUB_AREA.match(gap) or _SPLIT_POI.search(gap)
        if m is not None and m.re is _SUB_AREA:
            out.components["place"], sub = m.group(1), m.group(2)
            out.components["subplace"] = sub
            return
        if m is not None:
            out.components["place"] = gap[:m.end()]
            out.components["subplace"] = gap[m.end():]
            return
        out.components["place"] = gap
    else:
        out.components.setdefault("subplace", gap)


def _last_head(out: ParsedAddress) -> str:
    for key in ("village_group", "community"):
        if key in out.components:
            return key
    return "head"


def _body(text: str, pos: int, out: ParsedAddress, *, after: str = "head") -> None:
    c = out.components
    last = after
    for m in _BODY.finditer(text, pos):
        if m.start() > pos:
            gap = text[pos:m.start()]
            _place(gap, out)
            if len(gap) > 1:
                last = "place"
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "segment":
            continue  # 人民南路四段: the section of the road
        if kind == "road":
            before, road = _split_road(value.lstrip("与和及跟交"))
            if before:
                _place(before, out)
            if "road" not in c:
                c["road"] = road
            else:
                c.setdefault("subroad", road)
            last = "road"
        elif kind in ("hao", "digits"):
            if last in ("road", "lane", "community", "village_group") and "number" not in c:
                c["number"] = value
                last = "number"
            elif kind == "digits" and "-" not in value and len(value) >= 3 \
                    and last == "place" and "room" not in c:
                c["room"] = value
                last = "room"
            elif last in ("building", "unit", "floor"):
                c.setdefault("room", value)
                last = "room"
            elif kind == "digits" and "-" in value and "building" not in c:
                c["building"], _, c["room"] = value.partition("-")
                last = "room"
            elif "building" not in c:
                c["building"] = value
                last = "building"
            else:
                c.setdefault("room", value)
                last = "room"
        elif kind == "dash3":
            b, u, r = value.split("-")
            if last in ("road", "lane") and "number" not in c:
                c["number"] = f"{b}-{u}"
                c.setdefault("room", r)
            else:
                c.setdefault("building", b)
                c.setdefault("unit", u)
                c.setdefault("room", r)
            last = "room"
        elif kind == "lane":
            c.setdefault("lane", value)
            last = "lane"
        else:
            c.setdefault(kind, value.lstrip("-") if kind == "floor" else value)
            last = kind
    if pos < len(text):
        _place(text[pos:], out)


def parse_address(text: str, *, index: DivisionIndex | None = None) -> ParsedAddress:
    """Parse a Chinese address from anywhere in China.

    Parameters
    ----------
    text : str
        Raw address text (full-width, traditional characters, Chinese numerals, spaces
        and noise are fine).
    index : DivisionIndex, optional
        Division names; the kept national dataset by default.

    Returns
    -------
    ParsedAddress

    Raises
    ------
    InvalidAddress
        Empty or too long text, or nothing left after removing noise.

    Examples
    --------
    >>> p = parse_address("浙江省杭州市余杭区闲林街道五常大道翡翠城 3幢二单元1102室")
    >>> p.components["road"], p.components["building"], p.components["unit"], p.level
    ('五常大道', '3', '2', 'room')
    """
    index = index or load_index()
    clean = normalize(text)
    out = ParsedAddress()
    ctx = _Context()
    pos = _head(clean, index, out, ctx)
    _body(clean, pos, out, after=_last_head(out))
    _infer(out, ctx, index)
    out.level = level_of(out.components)
    out.flags = list(dict.fromkeys(out.flags))
    return out


def _infer(out: ParsedAddress, ctx: _Context, index: DivisionIndex) -> None:
    inferred = out.inferred
    if ctx.province:
        name = index.name_of("province", ctx.province)
        if name:
            inferred["province"], inferred["province_code"] = name, ctx.province
    if ctx.city:
        name = index.name_of("city", ctx.city)
        if name:
            inferred["city"], inferred["city_code"] = name, ctx.city
    if ctx.county:
        name = index.name_of("county", ctx.county)
        if name:
            inferred["district"], inferred["district_code"] = name, ctx.county
