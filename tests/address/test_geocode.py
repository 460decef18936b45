"""Geocoding, reverse geocoding, gazetteer and codes on the embedded city's real addresses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from address.errors import AddressNotFound
from twin import City


def door(city: City, road: str, number: int) -> dict:
    d = city.address.gazetteer.doors
    row = d[(d["road"] == road) & (d["number"] == number)]
    assert len(row) == 1
    return row.iloc[0].to_dict()


def test_gazetteer_is_deduplicated_with_unique_codes(city: City) -> None:
    doors = city.address.gazetteer.doors
    assert len(doors) > 400
    assert not doors.duplicated(["road", "number"]).any()
    assert doors["code"].is_unique and doors["code"].str.fullmatch(r"\d{19}").all()
    pois = city.layers["pois"].data
    tagged = pois[pois["addr_street"].notna() & pois["addr_housenumber"].notna()]
    assert len(doors) < len(tagged)  # several POIs share doors


def test_exact_door(city: City) -> None:
    truth = door(city, "南京东路", 635)
    best = city.address.geocode("上海市黄浦区南京东路635号")[0]
    assert best["level"] == "door" and best["code"] == truth["code"] and best["score"] == 1.0
    assert best["lon"] == pytest.approx(truth["lon"]) and best["lat"] == pytest.approx(truth["lat"])
    assert best["address"] == "上海市黄浦区南京东路635号"
    assert best["inferred"]["district_code"] == "310101"


@pytest.mark.parametrize(
    ("query", "flag"),
    [("南京東路六百三十五號附近", None), ("南经东路635号", "road_homophone"),
     ("南京路635号", "road_direction"), ("Nanjing East Road 635", "road_latin")],
)
def test_messy_variants_find_the_same_door(city: City, query: str, flag: str | None) -> None:
    best = city.address.geocode(query)[0]
    assert best["code"] == door(city, "南京东路", 635)["code"]
    assert best["level"] == "door"
    if flag:
        assert any(f.startswith(flag) for f in best["flags"])
        assert best["score"] < 1.0


def test_wrong_district_is_corrected_and_flagged(city: City) -> None:
    best = city.address.geocode("上海市徐汇区南京东路635号")[0]
    assert best["code"] == door(city, "南京东路", 635)["code"]
    assert any(f.startswith("district_corrected") for f in best["flags"])
    assert best["components"]["district"] == "黄浦区"


def test_interpolation_between_known_doors(city: City) -> None:
    g = city.address.gazetteer
    doors = g.doors.sort_values(["road", "number"])
    for road, group in doors.groupby("road"):  # noqa: B007 - used after the loop
        nums = sorted(int(n) for n in group["number"])
        pairs = [(a, b) for a, b in zip(nums, nums[1:], strict=False)
                 if a % 2 == b % 2 and 4 <= b - a <= 100]
        if pairs:
            a, b = pairs[0]
            break
    else:
        pytest.fail("no road with two doors to interpolate between")
    mid = a + 2 * ((b - a) // 4) if (a + 2 * ((b - a) // 4)) not in nums else a + 2
    best = city.address.geocode(f"{road}{mid}号")[0]
    assert best["level"] == "interpolated" and "interpolated" in best["flags"]
    assert best["code"] is None and best["error_m"] > 0
    assert best["score"] < 1.0
    pa, pb = door(city, road, a), door(city, road, b)
    lo, hi = sorted([pa["lon"], pb["lon"]])
    assert lo - 0.003 <= best["lon"] <= hi + 0.003


def test_unknown_door_falls_back_to_the_road_never_a_wrong_door(city: City) -> None:
    best = city.address.geocode("南京东路99999号")[0]
    assert best["level"] == "road" and "door_unknown" in best["flags"]
    assert best["components"]["road"] == "南京东路" and "number" not in best["components"]


def test_district_level_and_not_found(city: City) -> None:
    assert city.address.geocode("上海市黄浦区")[0]["level"] == "district"
    with pytest.raises(AddressNotFound) as err:
        city.address.geocode("火星基地一号")
    assert err.value.candidates


def test_crs_output(city: City) -> None:
    wgs = city.address.geocode("南京东路635号")[0]
    gcj = city.address.geocode("南京东路635号", crs="gcj02")[0]
    assert gcj["crs"] == "gcj02" and gcj["lon"] - wgs["lon"] > 0.003


def test_reverse(city: City) -> None:
    truth = door(city, "南京东路", 635)
    res = city.address.reverse(truth["lon"] + 0.0001, truth["lat"])
    assert res["address"]["code"] == truth["code"] and res["address"]["distance_m"] < 20
    assert res["road"]["distance_m"] >= 0
    from address.crs import from_wgs84

    glon, glat = from_wgs84(truth["lon"], truth["lat"], "gcj02")
    assert city.address.reverse(glon, glat, crs="gcj02")["address"]["code"] == truth["code"]


def test_batch_and_csv(city: City, tmp_path: Path) -> None:
    from twin.addresses import geocode_csv

    table = pd.DataFrame({"addr": ["南京东路635号", "", "火星", "南京东路635号"], "id": [1, 2, 3, 4]})
    result = city.address.geocode_many(table, column="addr")
    assert list(result["level"].fillna("")) == ["door", "", "", "door"]
    assert result["error"].notna().tolist() == [False, True, True, False]
    src = tmp_path / "in.csv"
    table.to_csv(src, index=False)
    out = geocode_csv(city, src, column="addr", out=tmp_path / "out.csv", progress=False)
    assert list(out.columns[:2]) == ["addr", "id"] and "geo_code" in out.columns
    assert (tmp_path / "out.csv").is_file()
