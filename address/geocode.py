"""Geocoding (text -> ranked standard-address candidates) and reverse geocoding.

A text resolves at the first of these that matches: a door (known, else interpolated)
on a known road; a named place of the gazetteer (POI, station, stop: the whole text
after its division prefixes, exactly, or a station / stop with ``站`` / ``地铁站``
added); the road; the street or district.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from rapidfuzz.distance import Levenshtein

from address.crs import from_wgs84, to_wgs84
from address.errors import AddressNotFound, InvalidCoordinates
from address.gazetteer import Gazetteer, Road, latin_key, place_key, road_pinyin
from address.model import Components, canonical_text
from address.normalize import normalize
from address.parse import parse, place_texts

__all__ = ["Geocoder", "SCORES", "PLACE_SCORES"]

#: Base score per way of matching; fuzzy road matches and corrections lower it.
SCORES = {"door": 1.0, "interpolated": 0.75, "road": 0.6, "community": 0.4, "street": 0.35,
          "district": 0.2}
#: Base score of a place match by kind (see :data:`address.gazetteer.PLACE_KINDS`).
PLACE_SCORES = {"station": 0.9, "poi": 0.88, "stop": 0.86}
#: Written after a station's or stop's name: ``人民广场站``, ``人民广场地铁站``.
_STATION_SUFFIXES = ("地铁站", "站")
#: Most places of one name returned (chains have hundreds of shops)
_MAX_PLACES = 20
_DIRECTIONS = "东西南北中"
MAX_INTERPOLATION_GAP = 400


@dataclass
class RoadMatch:
    """A resolved road and how it was found."""

    road: Road
    how: str  # exact | homophone | typo | direction | latin
    penalty: float


class Geocoder:
    """Geocoder over a :class:`Gazetteer`.

    Examples
    --------
    >>> geocoder.geocode("上海市黄浦区南京东路635号")[0]["level"]   # doctest: +SKIP
    'door'
    """

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer

    # -- roads ---------------------------------------------------------------------
    def resolve_road(self, written: str | None, *, number: int | None = None,
                     raw: str = "") -> list[RoadMatch]:
        """Known roads for a road name as written, best first."""
        g = self.gazetteer
        if written is None:
            if re.search(r"[A-Za-z]{3,}", raw):
                key = latin_key(raw)
                return [RoadMatch(g.roads[n], "latin", 0.05) for n in g.roads_by_pinyin.get(key, [])]
            return []
        if written in g.roads:
            return [RoadMatch(g.roads[written], "exact", 0.0)]
        matches: list[RoadMatch] = []
        # direction suffix left out (淮海路 -> 淮海中路 / 淮海东路 ...), or a wrong one
        stem = re.sub(f"[{_DIRECTIONS}]?(路|街|大道)$", "", written)
        suffix = written[len(stem):].lstrip(_DIRECTIONS)
        for d in _DIRECTIONS:
            name = f"{stem}{d}{suffix}"
            if name in g.roads and name != written:
                matches.append(RoadMatch(g.roads[name], "direction", 0.1))
        if matches and number is not None:
            matches.sort(key=lambda m: (number, m.road.name) not in self._door_keys(m.road.name))
        # homophones (same pinyin), also with a direction left out, and one-character typos
        for name in g.roads_by_pinyin.get(road_pinyin(written), []):
            matches.append(RoadMatch(g.roads[name], "homophone", 0.1))
        if not matches:
            for d in _DIRECTIONS:
                for name in g.roads_by_pinyin.get(road_pinyin(f"{stem}{d}{suffix}"), []):
                    matches.append(RoadMatch(g.roads[name], "homophone+direction", 0.15))
        if not matches:
            for name in g.roads:
                if len(name) == len(written) and Levenshtein.distance(name, written) == 1:
                    matches.append(RoadMatch(g.roads[name], "typo", 0.15))
        seen, unique = set(), []
        for m in matches:
            if m.road.name not in seen:
                seen.add(m.road.name)
                unique.append(m)
        return unique

    def _door_keys(self, road: str) -> set[tuple[int, str]]:
        g = self.gazetteer
        return {(number, road) for _, number, _, _ in g.road_doors(road)}

    # -- doors -----------------------------------------------------------------------
    def _door(self, road: Road, number: int) -> dict[str, Any] | None:
        g = self.gazetteer
        code = g.door_code(road.name, number)
        point = g.door_point(code) if code else None
        if point is None:
            return None
        return {"code": code, "lon": point[1], "lat": point[2]}

    def _interpolate(self, road: Road, number: int) -> tuple[float, float] | None:
        """Between the nearest known doors of the same parity on the road, within range."""
        g = self.gazetteer
        same = sorted(d for d in g.road_doors(road.name) if d[1] % 2 == number % 2)
        same.sort(key=lambda d: d[1])
        lower = [d for d in same if d[1] < number][-1:]
        upper = [d for d in same if d[1] > number][:1]
        if not lower or not upper:
            return None
        n0, n1 = lower[0][1], upper[0][1]
        if n1 - n0 > MAX_INTERPOLATION_GAP:
            return None
        p0 = np.array(lower[0][2:], dtype=float)
        p1 = np.array(upper[0][2:], dtype=float)
        t = (number - n0) / (n1 - n0)
        if road.geometry is not None and road.geometry.geom_type == "LineString":
            line = road.geometry
            d0 = line.project(shapely.Point(*p0))
            d1 = line.project(shapely.Point(*p1))
            on_line = line.interpolate(d0 + t * (d1 - d0))
            base = p0 + t * (p1 - p0)
            # keep the doors' side of the road: offset from the centreline as the doors are
            offset = base - np.array([line.interpolate(d0 + t * (d1 - d0)).x,
                                      line.interpolate(d0 + t * (d1 - d0)).y])
            return float(on_line.x + offset[0]), float(on_line.y + offset[1])
        lon, lat = p0 + t * (p1 - p0)
        return float(lon), float(lat)

    @staticmethod
    def _road_point(road: Road) -> tuple[float, float] | None:
        if road.geometry is None:
            return None
        p = road.geometry.interpolate(0.5, normalized=True) if road.geometry.geom_type in (
            "LineString",) else road.geometry.representative_point()
        return float(p.x), float(p.y)

    # -- geocode ---------------------------------------------------------------------
    def geocode(self, text: str, *, limit: int = 5, crs: str = "wgs84") -> list[dict[str, Any]]:
        """Ranked candidates for an address text.

        Parameters
        ----------
        text : str
            Messy address text.
        limit : int
            Most candidates returned.
        crs : str
            Output coordinates: ``wgs84`` (default), ``gcj02`` or ``bd09``.

        Returns
        -------
        list of dict
            ``{code, address, components, lon, lat, level, score, flags, crs}``, best first.
            ``level`` is one of :data:`address.model.LEVELS`; a ``place`` also carries
            ``name`` (normalized), ``label`` (as its source writes it) and ``kind``
            (``station``, ``poi``, ``stop``), and ``code`` is its door's code, if any.

        Raises
        ------
        InvalidAddress
            Empty or too long.
        AddressNotFound
            Nothing matches at any level (``candidates`` holds near road names).
        """
        clean = normalize(text)
        comp = parse(clean, self.gazetteer)
        if comp.road is None and re.search(r"[A-Za-z]{3,}", text):
            digits = re.findall(r"\b(\d{1,5})\b", text)
            comp.number = int(digits[0]) if digits and comp.number is None else comp.number
        results = []
        for match in self.resolve_road(comp.road, number=comp.number, raw=text):
            results.extend(self._candidates(comp, match))
        places = self._places(text, clean)
        doors = [r["score"] for r in results if r["level"] == "door"]
        for r in places:  # a door address resolves at door level first
            if doors:
                r["score"] = round(max(min(r["score"], min(doors) - 0.01), 0.01), 3)
        results.extend(places)
        if not results:
            results = self._admin_level(comp)
        if not results:
            raise AddressNotFound(f"no standard address matches {text[:60]!r}",
                                  candidates=self.suggest(comp.road or clean))
        results.sort(key=lambda r: -r["score"])
        out = results[:limit]
        if crs != "wgs84":
            for r in out:
                r["lon"], r["lat"] = (round(v, 7) for v in from_wgs84(r["lon"], r["lat"], crs))
        for r in out:
            r["crs"] = crs
        return out

    def _candidates(self, comp: Components, match: RoadMatch) -> list[dict[str, Any]]:
        road = match.road
        flags = list(comp.flags)
        if match.how != "exact":
            flags.append(f"road_{match.how}:{comp.road or ''}->{road.name}")
        c = Components(**{**comp.__dict__, "flags": flags})
        c.road = road.name
        if road.district_code:
            if c.district_code and c.district_code != road.district_code:
                flags.append(f"district_corrected:{c.district}->"
                             f"{self.gazetteer.district_name.get(road.district_code)}")
            c.district_code = road.district_code
            c.district = self.gazetteer.district_name.get(road.district_code)
        elif c.district_code is None:
            flags.append("district_unknown")
        penalty = match.penalty + (0.05 if any(f.startswith("district_corrected") for f in flags)
                                   else 0.0)
        out = []
        if c.number is not None:
            door = self._door(road, c.number)
            if door is not None:
                out.append(self._result(c, door["code"], door["lon"], door["lat"], "door",
                                        SCORES["door"] - penalty, flags))
                return out
            point = self._interpolate(road, c.number)
            if point is not None:
                out.append(self._result(c, None, point[0], point[1], "door",
                                        SCORES["interpolated"] - penalty,
                                        flags + ["interpolated"]))
                return out
            flags.append("door_unknown")
        point = self._road_point(road)
        if point is None:
            g = self.gazetteer
            rows = g.road_doors(road.name)
            if not rows:
                return out
            point = (float(np.mean([r[2] for r in rows])), float(np.mean([r[3] for r in rows])))
        road_c = Components(**{**c.__dict__, "number": None, "number_to": None,
                               "sub_number": None, "building": None, "unit": None, "room": None})
        out.append(self._result(road_c, road.code, point[0], point[1], "road",
                                SCORES["road"] - penalty, flags))
        return out

    # -- places --------------------------------------------------------------------
    def _places(self, text: str, clean: str) -> list[dict[str, Any]]:
        """Places named by the whole text (after its division prefixes), best first.

        The texts tried, longest first, stopping at the first that names a place: the
        normalized text with bracketed parts kept, then as normalized (remarks dropped),
        each also without its province / city / district / street; for each, the exact
        name, then a station's or stop's name with ``地铁站`` / ``站`` taken off.
        """
        g = self.gazetteer
        if not len(g.places):
            return []
        heads = []
        keys = place_key(text)
        for base in dict.fromkeys([*(keys[:1] if keys else ()), clean]):
            heads.extend(place_texts(base, g))
        for head in dict.fromkeys(heads):
            tries = [(head, "", ("station", "poi", "stop"))]
            tries += [(head[:-len(s)], s, ("station", "stop")) for s in _STATION_SUFFIXES
                      if head.endswith(s) and len(head) > len(s) + 1]
            for key, suffix, kinds in tries:
                found = g.find_places(key, kinds=kinds)[:_MAX_PLACES]
                if found:
                    return [self._place_result(place, short=short, suffix=suffix,
                                               ambiguous=len(found) > 1, key=key)
                            for place, short in found]
        return []

    def _place_result(self, place: dict[str, Any], *, short: bool, suffix: str, ambiguous: bool,
                      key: str) -> dict[str, Any]:
        g = self.gazetteer
        flags = [f"place_{place['kind']}"]
        score = PLACE_SCORES.get(place["kind"], min(PLACE_SCORES.values()))
        if suffix:
            flags.append(f"place_suffix:{suffix}")
            score -= 0.02
        if short:
            flags.append(f"place_branch_unspecified:{place['name']}")
            score -= 0.05
        if ambiguous:
            flags.append("place_ambiguous")
            score -= 0.02
        if not suffix and key in g.roads:  # the text names a road as well: the road first
            flags.append("place_is_road_name")
            score = SCORES["road"] - 0.05
        district = g.district_name.get(place["district_code"])
        if district is None:
            flags.append("district_unknown")
        c = Components(district=district, district_code=place["district_code"],
                       road=place["road"], number=place["number"], place=place["name"])
        out = self._result(c, place["door_code"], place["lon"], place["lat"], "place", score,
                           flags)
        out.update(name=place["name"], label=place["label"], kind=place["kind"])
        return out

    def _admin_level(self, comp: Components) -> list[dict[str, Any]]:
        """Community / street / district level: no coordinates exist for them in the data,
        so they are located by the doors tagged with that district, where any."""
        g = self.gazetteer
        if comp.district_code and comp.district_code in g.district_points:
            lon, lat = g.district_points[comp.district_code]
            level = "street" if comp.street else "district"
            return [self._result(comp, comp.street_code or comp.district_code, lon, lat,
                                 level, SCORES[level], comp.flags + ["approximate"])]
        return []

    def _result(self, c: Components, code: str | None, lon: float, lat: float, level: str,
                score: float, flags: list[str]) -> dict[str, Any]:
        return {"code": code, "address": canonical_text(c, self.gazetteer.locality),
                "components": c.to_dict(),
                "lon": round(lon, 7), "lat": round(lat, 7), "level": level,
                "score": round(max(score, 0.01), 3), "flags": flags}

    def suggest(self, text: str, limit: int = 5) -> list[str]:
        """Road names closest to ``text`` (for 'did you mean')."""
        names = list(self.gazetteer.roads)
        scored = sorted(names, key=lambda n: Levenshtein.normalized_distance(n, text))
        return scored[:limit]

    # -- reverse ---------------------------------------------------------------------
    def reverse(self, lon: float, lat: float, *, crs: str = "wgs84") -> dict[str, Any]:
        """Nearest standard address and road to a point, with distances (m).

        ``address`` is the nearest door (absent when the city has no door addresses);
        ``road`` the nearest road with its canonical text and district.

        Raises
        ------
        InvalidCoordinates
            Out of range.
        AddressNotFound
            The gazetteer is empty.
        """
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidCoordinates(f"lon/lat out of range: {lon}, {lat}")
        wlon, wlat = to_wgs84(lon, lat, crs)
        g = self.gazetteer
        door = g.nearest_door(wlon, wlat)
        road = g.nearest_road(wlon, wlat)
        if door is None and road is None:
            raise AddressNotFound("the gazetteer holds no addresses")
        out: dict[str, Any] = {"lon": lon, "lat": lat, "crs": crs}
        if door is not None:
            row = door[0]
            comp = Components(road=row["road"], number=int(row["number"]),
                              district=g.district_name.get(row["district_code"]))
            dlon, dlat = from_wgs84(float(row["lon"]), float(row["lat"]), crs)
            out["address"] = {"code": row["code"], "address": canonical_text(comp, g.locality),
                              "lon": round(float(dlon), 7), "lat": round(float(dlat), 7),
                              "distance_m": round(door[1], 1), "names": row["names"]}
        if road is not None:
            district = g.district_name.get(road[0].district_code)
            out["road"] = {"name": road[0].name, "code": road[0].code,
                           "address": canonical_text(Components(road=road[0].name,
                                                                district=district), g.locality),
                           "district": district, "district_code": road[0].district_code,
                           "distance_m": round(road[1], 1)}
        return out
