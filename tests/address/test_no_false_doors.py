"""Geocode without inventing: no door on another road, unambiguous typos, interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from address.geocode import Geocoder
from address.model import FLAGS, LEVELS
from address.normalize import normalize
from address.parse import parse
from twin import City


def _flag(result: dict, name: str) -> bool:
    return any(f.split(":")[0] == name for f in result["flags"])


def _no_door_elsewhere(results: list[dict], written: str) -> None:
    for r in results:
        if r["level"] in ("door", "interpolated"):
            pytest.fail(f"a door was invented on {r['components'].get('road')} for {written}")
        if r["level"] == "road":
            assert _flag(r, "road_suggested") and r["score"] < results[0]["score"]


@pytest.mark.parametrize(("query", "level"), [
    ("上海市闵行区富岩路121号", "district"), ("黄兴路2218号", "city"), ("长江路5号", "city"),
    ("南京北路300号", "city")])  # 南京东路 / 南京西路 are known: another direction, another road
def test_unknown_road_answers_the_known_division(city: City, query: str, level: str) -> None:
    results = city.address.geocode(query)
    assert results[0]["level"] == level and _flag(results[0], "road_unknown")
    assert "number" not in results[0]["components"] and "road" not in results[0]["components"]
    _no_door_elsewhere(results, query)


def test_a_real_door_answers_as_before(city: City) -> None:
    g = city.address.gazetteer
    code = g.door_code("南京东路", 635)
    best = city.address.geocode("上海市黄浦区南京东路635号")[0]
    assert best["level"] == "door" and best["code"] == code and best["score"] == 1.0
    assert best["flags"] == []


def _doors_with_inner_char(city: City, n: int = 25) -> list[tuple[str, int, str, int]]:
    """(road, number, code, position of a middle character) over doors, deterministic."""
    g = city.address.gazetteer
    out = []
    for (road, number), code in sorted(g.door_index.items()):
        if road.endswith("路") and len(road) >= 4 and "·" not in road:
            out.append((road, number, code, (len(road) - 1) // 2))
    rng = np.random.default_rng(7)
    return [out[i] for i in rng.choice(len(out), size=min(n, len(out)), replace=False)]


def test_doubled_and_dropped_characters_recover_the_door(city: City) -> None:
    hits, tried = 0, 0
    for road, number, code, k in _doors_with_inner_char(city):
        for written in (road[:k] + road[k] + road[k:], road[:k] + road[k + 1:]):
            tried += 1
            best = city.address.geocode(f"{written}{number}号")[0]
            if best["level"] == "door":
                assert best["components"]["road"] == road  # never another road
                hits += best["code"] == code
                assert _flag(best, "road_corrected") and best["score"] < 1.0
    assert hits / tried >= 0.8


@pytest.mark.parametrize(("query", "road", "number"), [
    ("上海市乌鲁木木齐中路154号", "乌鲁木齐中路", 154), ("茅台台路311号", "茅台路", 311),
    ("金桥桥路857号", "金桥路", 857)])
def test_brief_examples_of_doubled_characters(city: City, query: str, road: str,
                                              number: int) -> None:
    code = city.address.gazetteer.door_code(road, number)
    if code is None:
        pytest.skip(f"{road}{number}号 is not a door of this build")
    best = city.address.geocode(query)[0]
    assert best["level"] == "door" and best["code"] == code and _flag(best, "road_corrected")


def _substitution_case(city: City, *, unique: bool) -> tuple[str, str, int, str] | None:
    """A door and a one-character substitution of its road that is (not) unique in its
    district within one edit."""
    g = city.address.gazetteer
    roads = g.roads
    chars = sorted({ch for name in roads for ch in name if "\u4e00" <= ch <= "\u9fff"})
    for (road, number), _ in sorted(g.door_index.items()):
        dc = roads[road].district_code if road in roads else None
        if dc is None or len(road) < 3:
            continue
        for ch in chars:
            written = ch + road[1:]
            if written in roads or parse(normalize(f"{written}{number}号"), g).road != written:
                continue
            near = [n for n in roads if roads[n].district_code == dc
                    and _lev1(n, written)]
            indel = [n for n in roads if len(n) != len(written) and _lev1(n, written)]
            if indel:
                continue
            if unique and near == [road]:
                return road, written, number, g.district_name[dc]
            if not unique and road in near and len(near) > 1:
                return road, written, number, g.district_name[dc]
    return None


def _lev1(a: str, b: str) -> bool:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b) <= 1


def test_substitution_is_corrected_only_when_unique_in_the_stated_district(city: City) -> None:
    case = _substitution_case(city, unique=True)
    assert case is not None
    road, written, number, district = case
    best = city.address.geocode(f"{district}{written}{number}号")[0]
    assert best["level"] == "door" and best["components"]["road"] == road
    assert _flag(best, "road_corrected")
    # without the district, the same text is not corrected
    results = city.address.geocode(f"{written}{number}号")
    assert results[0]["level"] != "door" and _flag(results[0], "road_unknown")
    _no_door_elsewhere(results, written)


def test_substitution_refused_when_not_unique(city: City) -> None:
    case = _substitution_case(city, unique=False)
    if case is None:
        pytest.skip("no district with two roads one edit from one written name")
    road, written, number, district = case
    results = city.address.geocode(f"{district}{written}{number}号")
    assert _flag(results[0], "road_unknown")
    _no_door_elsewhere(results, written)


def test_interpolation_places_a_removed_door(city: City) -> None:
    g = city.address.gazetteer
    geocoder = Geocoder(g)
    errors = []
    for (road, number), code in sorted(g.door_index.items()):
        placed = geocoder.interpolate(road, number)  # the door itself is left out
        if placed is None:
            continue
        _, lon, lat = g.door_point(code)
        errors.append(np.hypot((placed[0] - lon) * g._scale[0], (placed[1] - lat) * g._scale[1]))
        assert placed[2] > 0
    assert len(errors) >= 20
    assert np.median(errors) < 60


def test_interpolated_level_and_error(city: City) -> None:
    g = city.address.gazetteer
    for (road, number), _ in sorted(g.door_index.items()):
        lo = [n for (r, n) in g.door_index if r == road and n % 2 == number % 2 and n < number]
        hi = [n for (r, n) in g.door_index if r == road and n % 2 == number % 2 and n > number]
        if lo and hi and number - max(lo) >= 4:
            missing = number - 2
            break
    else:
        pytest.fail("no road with a gap between two doors")
    best = city.address.geocode(f"{road}{missing}号")[0]
    assert best["level"] == "interpolated" and best["code"] is None and best["error_m"] > 0
    assert _flag(best, "interpolated") and best["score"] < 1.0
    one_side = [n for (r, n) in g.door_index if r == road and n % 2 == 1]
    if len(one_side) < 2:  # fewer than two doors on a side: road level
        assert city.address.geocode(f"{road}{max(one_side or [1]) + 2}号")[0]["level"] == "road"


def test_levels_and_flags_are_declared(city: City) -> None:
    assert {"interpolated", "city"} <= set(LEVELS) and LEVELS.index("poi") == 1
    assert {"road_corrected", "road_suggested", "road_unknown"} <= set(FLAGS)
