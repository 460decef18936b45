"""Official catchments (对口): which school an address's residents' committee (居委会) is
assigned to in the published lists, beside the model's assignment.

The lists name committees by short names (``"茂名、香山、思南"``); the NBS communities
layer holds the full names (``"茂名居委会"``) with 12-digit codes. A short name is read as
``{short}居委会``; names repeat across districts (新桥居委会 is in 黄浦区 and 静安区), so
each school's list is placed in the district where most of its names exist, and a
committee matches only a school of its own district.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pandas as pd

__all__ = ["CommitteeIndex", "COMMITTEE_SUFFIXES"]

COMMITTEE_SUFFIXES = ("居民委员会", "居委会", "村委会")


def _short(name: str) -> str:
    for suffix in COMMITTEE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class CommitteeIndex:
    """Residents' committees by name and code, from the ``communities`` (and ``streets``)
    layers.

    Parameters
    ----------
    communities : pandas.DataFrame, optional
        ``code`` (12 digits), ``name``; without it nothing resolves.
    streets : pandas.DataFrame, optional
        ``code``, ``name`` of the streets (街道/镇), to strip a street written before
        the committee.
    """

    def __init__(self, communities: pd.DataFrame | None = None,
                 streets: pd.DataFrame | None = None) -> None:
        self.by_code: dict[str, str] = {}
        self.by_name: dict[str, list[str]] = defaultdict(list)
        if communities is not None and len(communities):
            for code, name in zip(communities["code"].astype(str), communities["name"].astype(str),
                                  strict=True):
                name = name.replace("居民委员会", "居委会")
                self.by_code[code] = name
                self.by_name[name].append(code)
        names: list[tuple[str, str]] = []
        if streets is not None and len(streets):
            for code, name in zip(streets["code"].astype(str), streets["name"].astype(str),
                                  strict=True):
                names.append((name, code))
                stem = name.removesuffix("街道").removesuffix("镇")
                if stem != name and len(stem) >= 2:
                    names.append((stem, code))
        self.streets = sorted(names, key=lambda t: -len(t[0]))

    def __bool__(self) -> bool:
        return bool(self.by_code)

    def resolve(self, components: dict[str, Any],
                inferred: dict[str, Any] | None = None) -> dict[str, str] | None:
        """The committee an address names.

        Parameters
        ----------
        components : dict
            ``components`` of a geocoder candidate: what the text states (``community``).
        inferred : dict, optional
            ``inferred`` of the same candidate: the division codes (``community_code``,
            ``district_code``) that narrow a name found in several districts.

        Returns
        -------
        dict or None
            ``{"name", "code"}``, or None when the address names no committee or the
            name does not resolve to exactly one committee (in its district / street).
        """
        text = components.get("community")
        if not text:
            return None
        inferred = inferred or {}
        code = inferred.get("community_code")
        if code in self.by_code:
            return {"name": self.by_code[code], "code": code}
        text = str(text).replace("居民委员会", "居委会")
        district = inferred.get("district_code")
        tries: list[tuple[str, str | None]] = [(text, None)]
        for street, street_code in self.streets:
            if text.startswith(street) and len(text) > len(street):
                tries.append((text[len(street):], street_code))
        for name, street_code in tries:
            codes = self.by_name.get(name, [])
            if district:
                codes = [c for c in codes if c.startswith(str(district))]
            if street_code:
                codes = [c for c in codes if c.startswith(street_code)]
            if len(codes) == 1:
                return {"name": name, "code": codes[0]}
        return None

    def district_of(self, shorts: list[str]) -> str | None:
        """District code (6 digits) where most of a list's committees exist, if at least
        half of them are found there."""
        votes: Counter[str] = Counter()
        for short in shorts:
            for district in {c[:6] for c in self.by_name.get(f"{short}居委会", [])}:
                votes[district] += 1
        if not votes:
            return None
        district, n = votes.most_common(1)[0]
        return district if n * 2 >= len(shorts) else None

    def official(self, schools: pd.DataFrame, committee: dict[str, str]) -> list[int]:
        """Row positions of ``schools`` whose official list names ``committee``."""
        short = _short(committee["name"])
        out = []
        for pos, (names, district) in enumerate(zip(schools["catchment_committees"],
                                                    schools["catchment_district"], strict=True)):
            if not isinstance(names, str):
                continue
            if short in names.split("、") and (district is None or pd.isna(district)
                                              or committee["code"].startswith(district)):
                out.append(pos)
        return out
