"""Geocoding (text -> ranked standard-address candidates) and reverse geocoding.

A text resolves at the first of these that matches: a door (known, else interpolated)
on a known road; a named place of the gazetteer (level ``poi``: a POI, station or stop
named by the whole text after its division prefixes, exactly, or a station / stop with
``站`` / ``地铁站`` added); the road; the street or district.

Never a door on another road: a door-level (or interpolated) answer is only given on the
road that was written — exactly, or as the same name after normalization (a homophone,
pinyin, a direction left out) or one unambiguous typo (one character doubled or dropped
when that is the only known road within one edit, one character substituted when that
is the only such road of the stated district; flagged ``road_corrected``). A road that is
not known answers at the most precise known division (street, district, city) flagged
``road_unknown``, and near road names follow as lower-ranked road-level suggestions
flagged ``road_suggested``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from address.crs import from_wgs84, to_wgs84
from address.errors import AddressNotFound, InvalidCoordinates
from address.gazetteer import Gazetteer, Road, latin_key, place_key, road_pinyin
from address.model import Components, canonical_text, split_components
from address.normalize import normalize
from address.parse import parse, place_texts

__all__ = ["Geocoder", "SCORES", "PLACE_SCORES", "SUGGESTION_SCORE", "MAX_INTERPOLATION_GAP"]

#: Base score per way of matching; fuzzy road matches and corrections lower it.
SCORES = {"door": 1.0, "interpolated": 0.75, "road": 0.6, "community": 0.4, "street": 0.35,
          "district": 0.2, "city": 0.1}
#: Score of a road-level suggestion (a road other than the one written): below every
#: division-level answer.
SUGGESTION_SCORE = 0.05
#: Most road suggestions offered for an unknown road.
_MAX_SUGGESTIONS = 3
#: Base score of a place match by kind (see :data:`address.gazetteer.PLACE_KINDS`).
PLACE_SCORES = {"station": 0.9, "poi": 0.88, "stop": 0.86}
#: Written after a station's or stop's name: ``人民广场站``, ``人民广场地铁站``.
_STATION_SUFFIXES = ("地铁站", "站")
#: Most places of one name returned (chains have hundreds of shops)
_MAX_PLACES = 20
_DIRECTIONS = "东西南北中"
#: Widest gap of house numbers (same side) interpolated across.
MAX_INTERPOLATION_GAP = 400


@dataclass
class RoadMatch:
    """A resolved road and how it was found."""

    road: Road
    how: str  # exact | homophone | direction | latin | corrected | suggested
    penalty: float
    #: the written road itself (same name, or one unambiguous typo): doors may be given;
    #: else another road, offered only as a road-level suggestion
    same_road: bool = True


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
                     raw: str = "", district_code: str | None = None) -> list[RoadMatch]:
        """Known roads for a road name as written, best first.

        Matches with ``same_road`` (the road written, under another spelling) come first;
        the others are other roads, near in spelling, offered only as suggestions.
        ``district_code`` is the district stated in the text, if any.
        """
        g = self.gazetteer
        if written is None:
            if re.search(r"[A-Za-z]{3,}", raw):
                key = latin_key(raw)
                return [RoadMatch(g.roads[n], "latin", 0.05) for n in g.roads_by_pinyin.get(key, [])]
            return []
        if written in g.roads:
            return [RoadMatch(g.roads[written], "exact", 0.0)]
        matches: list[RoadMatch] = []
        # direction suffix left out (淮海路 -> 淮海中路 / 淮海东路 ...): the same road; a
        # different direction written (南京东路 -> 南京西路) is another road: a suggestion
        stem = re.sub(f"[{_DIRECTIONS}]?(路|街|大道)$", "", written)
        suffix = written[len(stem):].lstrip(_DIRECTIONS)
        has_direction = len(written) - len(stem) > len(suffix)
        for d in _DIRECTIONS:
            name = f"{stem}{d}{suffix}"
            if name in g.roads and name != written:
                matches.append(RoadMatch(g.roads[name], "direction", 0.1,
                                         same_road=not has_direction))
        if matches and number is not None:
            matches.sort(key=lambda m: (number, m.road.name) not in self._door_keys(m.road.name))
        # homophones (same pinyin), also with a direction left out
        for name in g.roads_by_pinyin.get(road_pinyin(written), []):
            matches.append(RoadMatch(g.roads[name], "homophone", 0.1))
        if not any(m.same_road for m in matches):
            for d in _DIRECTIONS:
                for name in g.roads_by_pinyin.get(road_pinyin(f"{stem}{d}{suffix}"), []):
                    matches.append(RoadMatch(g.roads[name], "homophone+direction", 0.15,
                                             same_road=not has_direction))
        if not any(m.same_road for m in matches):
            matches.extend(self._typos(written, district_code))
        # the written road first, suggestions (other roads) after
        matches.sort(key=lambda m: not m.same_road)
        seen, unique = set(), []
        for m in matches:
            if m.road.name not in seen:
                seen.add(m.road.name)
                unique.append(m)
        return unique

    def _typos(self, written: str, district_code: str | None) -> list[RoadMatch]:
        """Known roads one edit (Levenshtein) from ``written``.

        One character doubled or dropped is corrected when that road is the only known road
        one insertion or deletion away; one character substituted only when no road is one
        insertion or deletion away and the road is the only one within one edit in the
        stated district. Every other near road is a suggestion.
        """
        g = self.gazetteer
        near = [name for name, _, _ in process.extract(
            written, list(g.roads), scorer=Levenshtein.distance, score_cutoff=1, limit=None)
            if name != written]
        if not near:
            return []
        corrected: str | None = None
        indel = [n for n in near if len(n) != len(written)]
        if len(indel) == 1:
            corrected = indel[0]
        elif not indel and district_code is not None:
            local = [n for n in near if g.roads[n].district_code == district_code]
            if len(local) == 1:
                corrected = local[0]
        out = [RoadMatch(g.roads[corrected], "corrected", 0.15)] if corrected else []
        others = sorted((n for n in near if n != corrected),
                        key=lambda n: (len(n) != len(written), n))
        out += [RoadMatch(g.roads[n], "suggested", 0.15, same_road=False)
                for n in others[:_MAX_SUGGESTIONS]]
        return out

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

    def interpolate(self, road: str, number: int) -> tuple[float, float, float] | None:
        """Place a door the gazetteer lacks between the known doors of its road.

        The known doors on the same side (odd / even numbers) are projected onto the road's
        line; the door is put between the two that bracket its number (linearly in number,
        along the line, at their interpolated distance from the centreline). Without a line
        geometry, on the straight segment between the two doors.

        Parameters
        ----------
        road : str
            A known road name.
        number : int
            House number; a known door of that number is left out of the known doors (so
            this also measures the interpolation on real doors).

        Returns
        -------
        tuple of float, or None
            ``(lon, lat, error_m)``: ``error_m`` is the median leave-one-out error of the
            road's other doors on that side (each placed from its neighbours), else half the
            distance between the bracketing doors. None with fewer than two doors on that
            side, outside their range of numbers, or across a gap above
            :data:`MAX_INTERPOLATION_GAP` numbers.
        """
        g = self.gazetteer
        rows = sorted((int(n), float(x), float(y)) for _, n, x, y in g.road_doors(road)
                      if int(n) % 2 == number % 2 and int(n) != number)
        if len(rows) < 2:
            return None
        nums = np.array([r[0] for r in rows])
        i = int(np.searchsorted(nums, number))
        if i == 0 or i == len(nums) or nums[i] - nums[i - 1] > MAX_INTERPOLATION_GAP:
            return None
        scale = g._scale
        xy = np.array([r[1:] for r in rows]) * scale  # local metres
        geom = g.roads[road].geometry if road in g.roads else None
        line = None
        if geom is not None and geom.geom_type in ("LineString", "MultiLineString"):
            line = shapely.transform(geom, lambda c: c * scale)
            if line.geom_type == "MultiLineString":
                merged = shapely.line_merge(line)
                line = merged if merged.geom_type == "LineString" else None
        if line is not None:
            pos = shapely.line_locate_point(line, shapely.points(xy))
            foot = shapely.get_coordinates(shapely.line_interpolate_point(line, pos))
            offset = xy - foot
        else:
            pos, offset = None, None

        def place(k0: int, k1: int, n: int) -> np.ndarray:
            t = (n - nums[k0]) / (nums[k1] - nums[k0])
            if pos is None or offset is None or line is None:
                return xy[k0] + t * (xy[k1] - xy[k0])
            on = shapely.get_coordinates(
                shapely.line_interpolate_point(line, pos[k0] + t * (pos[k1] - pos[k0])))[0]
            return on + offset[k0] + t * (offset[k1] - offset[k0])

        point = place(i - 1, i, number)
        loo = [float(np.hypot(*(place(k - 1, k + 1, int(nums[k])) - xy[k])))
               for k in range(1, len(nums) - 1)
               if nums[k + 1] - nums[k - 1] <= MAX_INTERPOLATION_GAP]
        error = (float(np.median(loo)) if loo
                 else float(np.hypot(*(xy[i] - xy[i - 1]))) / 2)
        lon, lat = point / scale
        return float(lon), float(lat), round(max(error, 1.0), 1)

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
            ``level`` is one of :data:`address.model.LEVELS`; a ``poi`` also carries
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
        matches = self.resolve_road(comp.road, number=comp.number, raw=text,
                                    district_code=comp.district_code)
        for match in matches:
            results.extend(self._candidates(comp, match))
        places = self._places(text, clean)
        if comp.road is not None and not any(m.same_road for m in matches) and not places:
            # the road written is not known: the most precise known division answers
            # (suggestions, if any, rank below it)
            division = Components(**{**comp.__dict__, "flags": [], **dict.fromkeys(
                ("road", "lane", "number", "number_to", "sub_number", "place", "building",
                 "unit", "room"))})
            results.extend(self._admin_level(
                division, flags=[*comp.flags, f"road_unknown:{comp.road}"], city=True))
        doors = [r["score"] for r in results if r["level"] in ("door", "interpolated")]
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
            how = match.how if match.same_road else "suggested"
            flags.append(f"road_{how}:{comp.road or ''}->{road.name}")
        c = Components(**{**comp.__dict__, "flags": flags})
        c.road = road.name
        if road.district_code:
            if c.district_code and c.district_code != road.district_code:
                flags.append(f"district_corrected:{c.district}->"
                             f"{self.gazetteer.district_name.get(road.district_code)}")
            c.district_code = road.district_code
            c.district = self.gazetteer.district_name.get(road.district_code)
        elif not match.same_road:  # another road: the district stated is not its own
            c.district_code, c.district, c.street, c.street_code = None, None, None, None
            c.community, c.community_code = None, None
            flags.append("district_unknown")
        elif c.district_code is None:
            flags.append("district_unknown")
        penalty = match.penalty + (0.05 if any(f.startswith("district_corrected") for f in flags)
                                   else 0.0)
        out = []
        if c.number is not None and match.same_road:
            door = self._door(road, c.number)
            if door is not None:
                out.append(self._result(c, door["code"], door["lon"], door["lat"], "door",
                                        SCORES["door"] - penalty, flags))
                return out
            point = self.interpolate(road.name, c.number)
            if point is not None:
                result = self._result(c, None, point[0], point[1], "interpolated",
                                      SCORES["interpolated"] - penalty,
                                      flags + ["interpolated"])
                result["error_m"] = point[2]
                out.append(result)
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
        score = SCORES["road"] - penalty if match.same_road else SUGGESTION_SCORE
        out.append(self._result(road_c, road.code, point[0], point[1], "road", score, flags))
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
            tries = [(head, "", ("station", "poi", "stop", "school"))]
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
        out = self._result(c, place["door_code"], place["lon"], place["lat"], "poi", score,
                           flags)
        out.update(name=place["name"], label=place["label"], kind=place["kind"])
        return out

    def _admin_level(self, comp: Components, *, flags: list[str] | None = None,
                     city: bool = False) -> list[dict[str, Any]]:
        """Community / street / district level: no coordinates exist for them in the data,
        so they are located by the doors tagged with that district, where any; with
        ``city``, the city served (the middle of its doors) when no district is known."""
        g = self.gazetteer
        flags = list(comp.flags if flags is None else flags)
        if comp.district_code and comp.district_code in g.district_points:
            lon, lat = g.district_points[comp.district_code]
            level = "street" if comp.street else "district"
            return [self._result(comp, comp.street_code or comp.district_code, lon, lat,
                                 level, SCORES[level], flags + ["approximate"])]
        if city and g.locality is not None and len(g.doors):
            lon, lat = float(np.median(g.doors["lon"])), float(np.median(g.doors["lat"]))
            return [self._result(comp, g.locality.city_code, lon, lat, "city", SCORES["city"],
                                 flags + ["approximate"])]
        return []

    def _result(self, c: Components, code: str | None, lon: float, lat: float, level: str,
                score: float, flags: list[str]) -> dict[str, Any]:
        components, inferred = split_components(c, self.gazetteer.locality)
        return {"code": code, "address": canonical_text(c, self.gazetteer.locality),
                "components": components, "inferred": inferred,
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
