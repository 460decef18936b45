"""The standard address model: components, levels, canonical text, codes.

A standard address is the hierarchy 省 > 市 (once for a 直辖市) > 区 > 街道/镇 >
社区(居委会) > 路/街/巷 > 门牌号 > 小区/大厦 > 楼栋 > 单元 > 室; every level below the road
is optional. The province and city come from the :class:`Locality` a gazetteer serves.

Codes follow the spirit of GB/T 23705: the 12-digit division code of the most precise
known division (district code padded with zeros when only the district is known), one
digit for the type (1 door, 2 road, 3 building/room), and a six-digit sequence allocated
once — a code never changes when its record is edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LEVELS", "FLAGS", "COMPONENTS", "Components", "Locality", "canonical_text",
           "make_code", "split_components", "DIVISION_CODES", "TYPE_DIGIT", "NO_DIVISION"]

#: Levels of a geocoding result, most precise first: a door address, a named place found by
#: its name (``poi``: a POI, station, stop or named OSM node), a door placed between the
#: known doors of its road (``interpolated``, with ``error_m``), a road, then the divisions
#: down to the city served.
LEVELS = ("door", "poi", "interpolated", "road", "community", "street", "district", "city")
#: Flags a geocoding result may carry (before the ``:`` of those with details).
FLAGS = ("road_homophone", "road_direction", "road_homophone+direction", "road_latin",
         "road_corrected", "road_suggested", "road_unknown", "district_corrected",
         "district_unknown", "door_unknown", "interpolated", "approximate", "lane_as_door",
         "place_station", "place_poi", "place_stop", "place_suffix", "place_branch_unspecified",
         "place_ambiguous", "place_is_road_name")
COMPONENTS = ("province", "city", "district", "street", "community", "road", "number",
              "sub_number", "lane", "place", "building", "unit", "room")
TYPE_DIGIT = {"door": "1", "road": "2", "room": "3"}
#: Division part of the codes of a gazetteer that knows neither district nor city.
NO_DIVISION = "000000"


@dataclass(frozen=True)
class Locality:
    """The city a gazetteer serves: its province and city names and its division code.

    Parameters
    ----------
    province : str
        ``广东省``; for a municipality (直辖市) the city itself (``上海市``).
    city : str
        ``深圳市`` / ``上海市``.
    city_code : str
        6-digit division code of the city (``440300``, ``310000``): the code prefix of
        addresses whose district is unknown.
    province_short, city_short : str, optional
        Short names people also write (``广东``, ``深圳``).

    Examples
    --------
    >>> Locality("广东省", "深圳市", "440300").prefix
    '广东省深圳市'
    >>> Locality("上海市", "上海市", "310000").prefix
    '上海市'
    """

    province: str
    city: str
    city_code: str
    province_short: str | None = None
    city_short: str | None = None

    @property
    def municipality(self) -> bool:
        """Province and city are one (上海市, 北京市, 天津市, 重庆市)."""
        return self.province == self.city

    @property
    def prefix(self) -> str:
        """Province + city, the city once for a municipality."""
        return self.province if self.municipality else self.province + self.city

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready fields."""
        return {"province": self.province, "city": self.city, "city_code": self.city_code,
                "province_short": self.province_short, "city_short": self.city_short}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Locality:
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: data.get(k) for k in ("province", "city", "city_code",
                                               "province_short", "city_short")})


@dataclass
class Components:
    """Parsed components of an address (None where absent)."""

    province: str | None = None
    city: str | None = None
    district: str | None = None
    district_code: str | None = None
    street: str | None = None
    street_code: str | None = None
    community: str | None = None
    community_code: str | None = None
    road: str | None = None
    number: int | None = None
    number_to: int | None = None
    sub_number: str | None = None
    lane: int | None = None
    place: str | None = None
    building: str | None = None
    unit: int | None = None
    room: str | None = None
    rest: str | None = None
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Non-empty components (the flags are reported beside them, not inside)."""
        return {k: v for k, v in self.__dict__.items()
                if k != "flags" and v is not None and v != ""}


def canonical_text(c: Components, locality: Locality | None = None) -> str:
    """The one canonical text form: 省 + 市 + 区 + 路 + 门牌 + 小区 + 楼栋 + 单元 + 室.

    Parameters
    ----------
    c : Components
        The address.
    locality : Locality, optional
        The gazetteer's city, whose province and city (once for a municipality) start the
        text; without it, the components' own province and city.

    Examples
    --------
    >>> canonical_text(Components(district="福田区", road="深南大道", number=6008),
    ...                Locality("广东省", "深圳市", "440300"))
    '广东省深圳市福田区深南大道6008号'
    """
    if locality is not None:
        head = locality.prefix
    else:
        head = "".join(dict.fromkeys(p for p in (c.province, c.city) if p))
    parts = [head, c.district or "", c.road or ""]
    if c.lane is not None:
        parts.append(f"{c.lane}弄")
    if c.number is not None:
        door = f"{c.number}" + (f"-{c.number_to}" if c.number_to else "")
        parts.append(door + (f"-{c.sub_number}" if c.sub_number else "") + "号")
    if c.place:
        parts.append(c.place)
    if c.building:
        parts.append(f"{c.building}号楼")
    if c.unit is not None:
        parts.append(f"{c.unit}单元")
    if c.room:
        parts.append(f"{c.room}室")
    return "".join(parts)


def make_code(division: str, kind: str, sequence: int) -> str:
    """``division`` (6, 9 or 12 digits, right-padded to 12) + type digit + 6-digit sequence."""
    return f"{division.ljust(12, '0')[:12]}{TYPE_DIGIT[kind]}{sequence:06d}"


#: Division codes a geocoding result carries in ``inferred`` (never in ``components``).
DIVISION_CODES = ("district_code", "street_code", "community_code")


def split_components(c: Components, locality: Locality | None = None
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """``(components, inferred)`` in the schema shared with :mod:`address.national`.

    ``components`` are the stated names and numbers as text (a door range ``12-14``);
    ``inferred`` holds the division codes (:data:`DIVISION_CODES`) and the province and
    city of the city served when the text did not name them.

    Examples
    --------
    >>> split_components(Components(district="黄浦区", district_code="310101", number=5))
    ({'district': '黄浦区', 'number': '5'}, {'district_code': '310101'})
    """
    components: dict[str, Any] = {}
    for key in COMPONENTS:
        value = getattr(c, key)
        if value is None or value == "":
            continue
        if key == "number" and c.number_to:
            value = f"{value}-{c.number_to}"
        components[key] = str(value)
    inferred = {key: getattr(c, key) for key in DIVISION_CODES if getattr(c, key)}
    if locality is not None:
        for key in ("province", "city"):
            if key not in components:
                inferred[key] = getattr(locality, key)
        inferred.setdefault("city_code", locality.city_code)
    return components, inferred
