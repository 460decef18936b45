"""Parse normalized address text into components, with the gazetteer's names."""

from __future__ import annotations

import re

from address.gazetteer import Gazetteer
from address.model import Components

__all__ = ["parse", "ROAD_PATTERN"]

ROAD_PATTERN = re.compile(r"([\u4e00-\u9fa5]{1,12}?(?:[东西南北中]?(?:路|大街|街|大道|公路|支路|巷)))")
_PROVINCE = re.compile(r"^(?:中国)?(?:上海市|上海)(?:市辖区)?")
_LANE = re.compile(r"^(\d+)弄")
_DOOR = re.compile(r"^(\d+)(?:-(\d+))?(?:号|$|(?=[^\d弄]))")
_SUB = re.compile(r"^(?:之|-)(\d+)号?")
_BUILDING = re.compile(r"(\d+|[A-Za-z])(?:号楼|幢|栋|座|号库)")
_UNIT = re.compile(r"(\d+)单元")
_ROOM = re.compile(r"(\d+)(?:室|房)|(\d{3,4})$")
_PLACE = re.compile(
    r"^([\u4e00-\u9fa5A-Za-z0-9]{2,16}?(?:小区|新村|花园|公寓|大厦|广场|中心|苑|城|坊|里|村|园|府))")


def _take_prefix(text: str, names: dict[str, str]) -> tuple[str | None, str | None, str]:
    for size in (5, 4, 3, 2):
        head = text[:size]
        if head in names:
            return head, names[head], text[size:]
    return None, None, text


def parse(text: str, gazetteer: Gazetteer) -> Components:
    """Split normalized text into its address components.

    Parameters
    ----------
    text : str
        Output of :func:`address.normalize.normalize`.
    gazetteer : Gazetteer
        Known division and road names.

    Returns
    -------
    Components
        ``road`` is the road *as written* (it may not be a known road); the geocoder
        resolves it.
    """
    c = Components()
    m = _PROVINCE.match(text)
    if m:
        c.province = "上海市"
        text = text[m.end():]
    road_first = gazetteer.road_regex.match(text)
    name, code, rest = _take_prefix(text, gazetteer.district_by_name)
    if name and not (road_first and len(road_first.group(0)) > len(name)):
        text = rest
        c.district, c.district_code = gazetteer.district_name[code], code
        text = text.lstrip("区")
    name, code, text = _take_prefix(text, gazetteer.street_by_name)
    if name:
        c.street, c.street_code = name, code
    m = re.match(r"^([\u4e00-\u9fa5]{2,10}?(?:居委会|居民委员会|村委会))", text)
    if m:
        c.community = m.group(1).replace("居民委员会", "居委会")
        codes = gazetteer.community_by_name.get(c.community, [])
        c.community_code = codes[0] if len(codes) == 1 else None
        text = text[m.end():]
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
