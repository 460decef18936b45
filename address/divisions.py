"""China's divisions as a name index for parsing: province, city, county and town names
(full and short) to their codes, read from the kept dataset ``data/divisions``.

Town rows carry no code in the dataset; a town's ``code`` is its county's code.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["Division", "DivisionIndex", "DIVISIONS_DIR", "LEVEL_RANK", "load_index"]

#: The kept division dataset (see its README for provenance and licences).
DIVISIONS_DIR = Path(__file__).resolve().parents[1] / "data" / "divisions"
#: Depth of each level (a component may only follow a shallower one).
LEVEL_RANK = {"province": 0, "city": 1, "county": 2, "town": 3}
_PSEUDO = "直辖"
_TOWN_SUFFIXES = ("街道办事处", "街道", "地区", "镇", "乡")
#: County-level divisions merged or renamed since the dataset's source was made, still
#: written in addresses: name -> (parent city code, current code).
_FORMER = {"江干区": ("330100", "330104"), "下城区": ("330100", "330103"),
           "江东区": ("330200", "330204"), "绍兴县": ("330600", "330621"),
           "闸北区": ("310000", "310108"), "卢湾区": ("310000", "310103"),
           "崇文区": ("110000", "110103"), "宣武区": ("110000", "110104"),
           "塘沽区": ("120000", "120107"), "汉沽区": ("120000", "120108"),
           "大港区": ("120000", "120109"), "萧山市": ("330100", "330109"),
           "余杭市": ("330100", "330110"), "鄞县": ("330200", "330212"),
           "县级市": ("", "")}
_FORMER.pop("县级市")


@dataclass(frozen=True, slots=True)
class Division:
    """One division: its level, full name, code and the codes above it; ``rank`` is its
    level's depth (:data:`LEVEL_RANK`)."""

    level: str
    name: str
    code: str
    province_code: str
    city_code: str | None
    county_code: str | None
    rank: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", LEVEL_RANK[self.level])


class DivisionIndex:
    """Names (full and short) -> divisions, for longest-match lookups.

    Parameters
    ----------
    divisions : list of Division
        Every division, with its full name.
    shorts : dict
        Short name -> divisions it may stand for.
    """

    def __init__(self, divisions: list[Division], shorts: dict[str, list[Division]]) -> None:
        self.by_name: dict[str, tuple[Division, ...]] = {}
        self.full: set[str] = set()
        for d in divisions:
            self.by_name.setdefault(d.name, ())
            self.by_name[d.name] += (d,)
            self.full.add(d.name)
        for name, ds in shorts.items():
            if len(name) >= 2:
                self.by_name[name] = self.by_name.get(name, ()) + tuple(ds)
        self.longest = max(map(len, self.by_name))
        #: first two characters -> lengths of the names starting with them, longest first
        lengths: dict[str, set[int]] = {}
        for name in filter(lambda n: len(n) >= 2, self.by_name):
            lengths.setdefault(name[:2], set()).add(len(name))
        self._lengths = {head: tuple(sorted(ls, reverse=True)) for head, ls in lengths.items()}
        self.by_code: dict[tuple[str, str], Division] = {}
        for d in divisions:
            if d.level != "town":
                self.by_code.setdefault((d.level, d.code), d)

    def match(self, text: str, pos: int = 0) -> tuple[str, tuple[Division, ...]] | None:
        """The longest name at ``text[pos:]`` and the divisions it names, or None."""
        lengths = self._lengths.get(text[pos:pos + 2])
        if lengths is None:
            return None
        by_name, room = self.by_name, len(text) - pos
        for size in lengths:
            if size <= room:
                name = text[pos:pos + size]
                hit = by_name.get(name)
                if hit is not None:
                    return name, hit
        return None

    def name_of(self, level: str, code: str | None) -> str | None:
        """Full name of the division with that level and code."""
        d = self.by_code.get((level, code)) if code else None
        return d.name if d else None


def _short_town(name: str) -> str | None:
    for suffix in _TOWN_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def _rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=4)
def load_index(directory: Path = DIVISIONS_DIR) -> DivisionIndex:
    """The index of the division dataset in ``directory`` (cached).

    Examples
    --------
    >>> idx = load_index()
    >>> name, found = idx.match("浙江省杭州市")
    >>> name, found[0].level, found[0].code
    ('浙江省', 'province', '330000')
    """
    rows = _rows(directory / "divisions.csv.gz")
    level_of = {"province": "province", "city": "city", "county": "county"}
    parent = {(r["level"], r["code"]): r["parent_code"] for r in rows}
    divisions: list[Division] = []
    shorts: dict[str, list[Division]] = {}
    for r in rows:
        if _PSEUDO in r["name"]:
            continue
        level = level_of[r["level"]]
        if level == "province":
            d = Division(level, r["name"], r["code"], r["code"], None, None)
        elif level == "city":
            d = Division(level, r["name"], r["code"], r["parent_code"], r["code"], None)
        else:
            city = r["parent_code"]
            d = Division(level, r["name"], r["code"], parent.get(("city", city)) or city,
                         city, r["code"])
        divisions.append(d)
        if r["short"] and r["short"] != r["name"]:
            shorts.setdefault(r["short"], []).append(d)
    for name, (city, code) in _FORMER.items():
        province = parent.get(("city", city)) or city
        d = Division("county", name, code, province, city, code)
        divisions.append(d)
        shorts.setdefault(name[:-1], []).append(d)
    county = {d.code: d for d in divisions if d.level == "county"}
    for r in _rows(directory / "towns.csv.gz"):
        c = county.get(r["county_code"])
        if c is None:
            continue
        d = Division("town", r["name"], c.code, c.province_code, c.city_code, c.code)
        divisions.append(d)
        short = _short_town(r["name"])
        if short and short[-1] not in "路街道巷":
            shorts.setdefault(short, []).append(d)
    return DivisionIndex(divisions, shorts)
