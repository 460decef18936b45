"""The standard address model: components, levels, canonical text, codes.

A standard address is the hierarchy 省/直辖市 > 区 > 街道/镇 > 社区(居委会) > 路/街/巷 >
门牌号 > 小区/大厦 > 楼栋 > 单元 > 室; every level below the road is optional.

Codes follow the spirit of GB/T 23705: the 12-digit division code of the most precise
known division (district code padded with zeros when only the district is known), one
digit for the type (1 door, 2 road, 3 building/room), and a six-digit sequence allocated
once — a code never changes when its record is edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LEVELS", "COMPONENTS", "Components", "canonical_text", "make_code", "TYPE_DIGIT"]

LEVELS = ("door", "road", "community", "street", "district")
COMPONENTS = ("province", "district", "street", "community", "road", "number", "sub_number",
              "lane", "place", "building", "unit", "room")
TYPE_DIGIT = {"door": "1", "road": "2", "room": "3"}
SHANGHAI = "上海市"


@dataclass
class Components:
    """Parsed components of an address (None where absent)."""

    province: str | None = None
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


def canonical_text(c: Components) -> str:
    """The one canonical text form: 上海市 + 区 + 路 + 门牌 + 小区 + 楼栋 + 单元 + 室."""
    parts = [SHANGHAI, c.district or "", c.road or ""]
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
