"""Parse normalized address text into components, with the gazetteer's names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TypeVar

from address.gazetteer import Gazetteer
from address.model import Components, Locality

__all__ = ["parse", "place_texts", "ROAD_PATTERN"]

_T = TypeVar("_T")

ROAD_PATTERN = re.compile(r"([\u4e00-\u9fa5]{1,12}?(?:[东西南北中]?(?:路|大街|街|大道|公路|支路|巷)))")
_COUNTRY = re.compile(r"^(?:中华人民共和国|中国)")
_LANE = re.compile(r"^(\d+)弄")
_DOOR = re.compile(r"^(\d+)(?:-(\d+))?(?:号|$|(?=[^\d弄]))")
_SUB = re.compile(r"^(?:之|-)(\d+)号?")
_BUILDING = re.compile(r"(\d+|[A-Za-z])(?:号楼|幢|栋|座|号库)")
_UNIT = re.compile(r"(\d+)单元")
_ROOM = re.compile(r"(\d+)(?:室|房)|(\d{3,4})$")
_COMMUNITY = re.compile(r"^([\u4e00-\u9fa5\d]{2,20}?(?:居委会|居民委员会|村委会))")
_PLACE = re.compile(
    r"^([\u4e00-\u9fa5A-Za-z0-9]{2,16}?(?:小区|新村|花园|公寓|大厦|广场|中心|苑|城|坊|里|村|园|府))")


def _take_prefix(text: str, names: Mapping[str, _T], longest: int
                 ) -> tuple[str | None, _T | None, str]:
    """The longest known name (of at most ``longest`` characters) at the head of ``text``."""
    for size in range(min(longest, len(text)), 1, -1):
        head = text[:size]
        if head in names:
            return head, names[head], text[size:]
    return None, None, text


def _names(full: str, short: str | None) -> str:
    names = {full, short or full}
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if len(n) >= 2)


@lru_cache(maxsize=64)
def locality_pattern(locality: Locality | None) -> re.Pattern[str]:
    """The head of an address in the locality's city: country, province and city names
    (full or short), ``市辖区``; groups ``province`` and ``city`` say which were written.

    Examples
    --------
    >>> m = locality_pattern(Locality("广东省", "深圳市", "440300", "广东", "深圳"))
    >>> m.match("广东深圳市福田区").group(0)
    '广东深圳市'
    """
    if locality is None:
        return _COUNTRY
    province = _names(locality.province, locality.province_short)
    city = _names(locality.city, locality.city_short)
    if locality.municipality:
        return re.compile(rf"^(?:中华人民共和国|中国)?(?P<province>{province})(?:市辖区)?")
    return re.compile(rf"^(?:中华人民共和国|中国)?(?:(?P<province>{province})(?P<city>{city})?"
                      rf"|(?P<city_only>{city}))(?:市辖区)?")


def _take_locality(text: str, c: Components, gazetteer: Gazetteer) -> str:
    """Strip the country, province and city from the head of ``text`` into ``c``."""
    locality = gazetteer.locality
    m = locality_pattern(locality).match(text)
    if not m or not m.group(0):
        return text
    road = gazetteer.road_regex.match(text)
    if road and len(road.group(0)) > m.end():  # 上海路..., 深圳路...: a road, not the city
        return text
    if locality is not None:
        groups = m.groupdict()
        if groups.get("province") or groups.get("city_only"):
            c.province = locality.province
        if not locality.municipality and (groups.get("city") or groups.get("city_only")):
            c.city = locality.city
    return text[m.end():]


def _take_divisions(text: str, c: Components, gazetteer: Gazetteer) -> str:
    """Strip the locality, district and street from the head of ``text`` into ``c``."""
    text = _take_locality(text, c, gazetteer)
    road_first = gazetteer.road_regex.match(text)
    name, code, rest = _take_prefix(text, gazetteer.district_by_name,
                                    gazetteer.longest_name["district"])
    if name and code and not (road_first and len(road_first.group(0)) > len(name)):
        text = rest
        c.district, c.district_code = gazetteer.district_name[code], code
        text = text.lstrip("区")
    road_first = gazetteer.road_regex.match(text)
    name, code, rest = _take_prefix(text, gazetteer.street_by_name,
                                    gazetteer.longest_name["street"])
    if name and not (road_first and len(road_first.group(0)) > len(name)):
        c.street, c.street_code = name, code
        text = rest
    return text


def _fill_parents(c: Components, gazetteer: Gazetteer) -> None:
    """A community without its street, a street without its district: from the codes."""
    parent = gazetteer.parent_code
    if c.community_code and not c.street_code and parent.get(c.community_code):
        street = parent[c.community_code]
        if street in gazetteer.street_name:
            c.street, c.street_code = gazetteer.street_name[street], street
    if c.street_code and not c.district_code:
        district = parent.get(c.street_code)
        if district in gazetteer.district_name:
            c.district, c.district_code = gazetteer.district_name[district], district


def place_texts(text: str, gazetteer: Gazetteer) -> list[str]:
    """``text`` and what is left of it after each division prefix the parser takes off
    (province and city, district, street), longest first, without repeats.

    Parameters
    ----------
    text : str
        Output of :func:`address.normalize.normalize`.
    gazetteer : Gazetteer
        Known division names and the city served.

    Returns
    -------
    list of str
        Non-empty texts: the candidate names of a place.
    """
    c = Components()
    out = [text]
    rest = _take_locality(text, c, gazetteer)
    out.append(rest)
    out.append(_take_divisions(text, c, gazetteer))
    return [t for t in dict.fromkeys(out) if t]


def parse(text: str, gazetteer: Gazetteer) -> Components:
    """Split normalized text into its address components.

    Parameters
    ----------
    text : str
        Output of :func:`address.normalize.normalize`.
    gazetteer : Gazetteer
        Known division and road names, and the city served (whose province and city
        names are taken off the head of the text).

    Returns
    -------
    Components
        ``road`` is the road *as written* (it may not be a known road); the geocoder
        resolves it.
    """
    c = Components()
    text = _take_divisions(text, c, gazetteer)
    name, codes, rest = _take_prefix(text.replace("居民委员会", "居委会", 1),
                                     gazetteer.community_by_name,
                                     gazetteer.longest_name["community"])
    m = _COMMUNITY.match(text) if name is None else None
    if name is not None or m:
        c.community = name or m.group(1).replace("居民委员会", "居委会")
        codes = codes if name is not None else gazetteer.community_by_name.get(c.community, [])
        c.community_code = codes[0] if len(codes) == 1 else None
        text = rest if name is not None else text[m.end():]
    _fill_parents(c, gazetteer)
    # the road: the longest known road name in the text, else the road pattern
    found = gazetteer.road_regex.search(text)
    road = found.group(0) if found else None
    if road is not None:
        before, _, text = text.partition(road)
        c.road = road
        c.rest = before or None
    else:
        m = ROAD_PATTERN.search(text)
        if m:
            c.road = m.group(1)
            c.rest = text[:m.start()] or None
            text = text[m.end():]
    if c.road is None and re.match(r"^[A-Za-z]", text):
        return c  # latin text: the geocoder tries it as a road name
    m = _LANE.match(text)
    if m:
        c.lane = int(m.group(1))
        text = text[m.end():]
    m = _DOOR.match(text)
    if m:
        number = int(m.group(1))
        if c.lane is not None:
            c.sub_number = str(number)
        else:
            c.number = number
            c.number_to = int(m.group(2)) if m.group(2) and int(m.group(2)) > number else None
            if m.group(2) and c.number_to is None:
                c.sub_number = m.group(2)
        text = text[m.end():]
    m = _SUB.match(text)
    if m and c.number is not None:
        c.sub_number = m.group(1)
        text = text[m.end():]
    m = _PLACE.match(text)
    if m:
        c.place = m.group(1)
        text = text[m.end():]
    m = _BUILDING.search(text)
    if m:
        c.building = m.group(1)
        text = text[:m.start()] + text[m.end():]
    m = _UNIT.search(text)
    if m:
        c.unit = int(m.group(1))
        text = text[:m.start()] + text[m.end():]
    m = _ROOM.search(text)
    if m:
        c.room = m.group(1) or m.group(2)
    if c.lane is not None and c.number is None:
        c.number, c.lane = c.lane, None  # a lane is addressed by its number on the road
        c.flags.append("lane_as_door")
    return c
