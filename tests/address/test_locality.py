"""The city a gazetteer serves: canonical texts, parsing and codes follow its division."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from address.gazetteer import Gazetteer, build_gazetteer
from address.geocode import Geocoder
from address.model import NO_DIVISION, Components, Locality, canonical_text
from address.parse import parse
from address.service import AddressService
from twin import City

SHENZHEN = Locality("广东省", "深圳市", "440300", "广东", "深圳")
SHANGHAI = Locality("上海市", "上海市", "310000", "上海", "上海")


def _layers() -> dict[str, gpd.GeoDataFrame]:
    districts = pd.DataFrame({"code": ["440304", "440305"], "name": ["福田区", "南山区"],
                              "parent_code": ["440300", "440300"]})
    streets = pd.DataFrame({"code": pd.Series([None, None], dtype=object),
                            "name": ["莲花街道", "粤海街道"], "parent_code": ["440304", "440305"]})
    roads = gpd.GeoDataFrame(
        {"name": ["深南大道", "深南大道", "科技园路"]},
        geometry=[shapely.LineString([(114.02, 22.54), (114.05, 22.54)]),
                  shapely.LineString([(114.05, 22.54), (114.06, 22.541)]),
                  shapely.LineString([(113.94, 22.53), (113.945, 22.54)])], crs=4326)
    pois = gpd.GeoDataFrame(
        {"addr_street": ["深南大道"], "addr_housenumber": ["6008号"],
         "addr_district": [None], "name": ["某店"]},
        geometry=[shapely.Point(114.04, 22.5402)], crs=4326)
    return {"districts": districts, "streets": streets, "roads": roads, "pois": pois}


@pytest.fixture(scope="module")
def shenzhen() -> Gazetteer:
    return build_gazetteer(_layers(), locality=SHENZHEN,
                           district_centroids={"440304": (114.055, 22.5215),
                                               "440305": (113.93, 22.533)})


def test_locality_prefix_and_canonical_text() -> None:
    assert SHENZHEN.prefix == "广东省深圳市" and not SHENZHEN.municipality
    assert SHANGHAI.prefix == "上海市" and SHANGHAI.municipality
    c = Components(district="福田区", road="深南大道", number=6008)
    assert canonical_text(c, SHENZHEN) == "广东省深圳市福田区深南大道6008号"
    assert canonical_text(Components(district="黄浦区", road="南京东路", number=635),
                          SHANGHAI) == "上海市黄浦区南京东路635号"
    # without a locality: the components' own province and city, never a default city
    assert canonical_text(c) == "福田区深南大道6008号"
    assert Locality.from_dict(SHENZHEN.to_dict()) == SHENZHEN


def test_roads_and_doors_take_the_nearest_district_and_city_codes(shenzhen: Gazetteer) -> None:
    assert shenzhen.roads["深南大道"].district_code == "440304"
    assert shenzhen.roads["科技园路"].district_code == "440305"
    assert shenzhen.roads["科技园路"].code.startswith("440305")
    door = shenzhen.doors.iloc[0]
    assert door["district_code"] == "440304" and door["code"].startswith("4403040000001")
    assert shenzhen.default_code == "440300"


def test_parse_takes_the_citys_own_names(shenzhen: Gazetteer) -> None:
    for text in ("广东省深圳市福田区深南大道6008号", "广东深圳福田区深南大道6008号",
                 "中国深圳市深南大道6008号", "深圳深南大道6008号"):
        c = parse(text, shenzhen)
        assert (c.province, c.city, c.road, c.number) == ("广东省", "深圳市", "深南大道", 6008), text
    c = parse("深南大道6008号", shenzhen)
    assert c.province is None and c.city is None and c.road == "深南大道"
    # another city's name is not taken for this one
    assert parse("上海市黄浦区南京东路635号", shenzhen).province is None


def test_geocode_reverse_and_create_in_the_city(shenzhen: Gazetteer, tmp_path: Path) -> None:
    geocoder = Geocoder(shenzhen)
    best = geocoder.geocode("深圳市福田区深南大道6008号")[0]
    assert best["level"] == "door" and best["address"] == "广东省深圳市福田区深南大道6008号"
    road = geocoder.geocode("科技园路")[0]
    assert road["address"] == "广东省深圳市南山区科技园路" and road["code"].startswith("440305")
    rev = geocoder.reverse(114.04, 22.5401)
    assert rev["address"]["address"] == "广东省深圳市福田区深南大道6008号"
    assert rev["road"]["district"] == "福田区"
    shenzhen.save(tmp_path / "g")
    loaded = Gazetteer.load(tmp_path / "g")
    assert loaded.locality == SHENZHEN
    service = AddressService(loaded)
    rec = service.create(road="新路", number=1, lon=114.0, lat=22.5)  # no district known
    assert rec["code"].startswith("440300000000" + "1")
    assert service.record(rec["code"])["address"] == "广东省深圳市新路1号"


def test_without_a_locality_codes_say_no_division() -> None:
    gaz = build_gazetteer(_layers())
    assert gaz.locality is None and gaz.default_code == NO_DIVISION
    assert gaz.roads["深南大道"].district_code is None  # no centroids: no guess
    assert gaz.roads["深南大道"].code.startswith(NO_DIVISION)


def test_embedded_city_is_shanghai(city: City) -> None:
    d = city.division
    assert (d.province, d.city, d.city_code, d.timezone) == ("上海市", "上海市", "310000",
                                                             "Asia/Shanghai")
    assert city.address.gazetteer.locality.prefix == "上海市"
    assert {x.name for x in d.districts} <= set(city.layers["districts"].data["name"])
