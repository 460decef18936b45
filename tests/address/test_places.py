"""Places (POIs, stations, stops) in the gazetteer and the geocoder, and parser fixes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from address.errors import AddressNotFound
from address.gazetteer import Gazetteer, build_gazetteer
from address.geocode import Geocoder
from address.model import LEVELS, Locality
from address.normalize import normalize
from address.parse import parse
from twin import City

SHANGHAI = Locality("上海市", "上海市", "310000", "上海", "上海")


def _points(rows: list[tuple], columns: list[str]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame([r[:-2] for r in rows], columns=columns)
    return gpd.GeoDataFrame(frame, geometry=[shapely.Point(r[-2], r[-1]) for r in rows], crs=4326)


def _layers() -> dict[str, gpd.GeoDataFrame]:
    districts = pd.DataFrame({"code": ["310101"], "name": ["黄浦区"], "parent_code": ["310000"]})
    streets = pd.DataFrame({"code": ["310101023", "310101002"],
                            "name": ["瑞金二路街道", "南京东路街道"],
                            "parent_code": ["310101", "310101"]})
    communities = pd.DataFrame({"code": ["310101023006"], "name": ["茂名居委会"],
                                "parent_code": ["310101023"]})
    roads = gpd.GeoDataFrame(
        {"name": ["南京东路", "西藏中路"]},
        geometry=[shapely.LineString([(121.470, 31.235), (121.490, 31.235)]),
                  shapely.LineString([(121.476, 31.225), (121.476, 31.245)])], crs=4326)
    pois = _points([
        ("华联超市", "南京东路", "635号", "黄浦区", "node/1", 121.4800, 31.2352),
        ("星巴克(南京东路店)", None, None, None, "node/2", 121.4820, 31.2352),
        ("南京东路635号", None, None, None, "node/3", 121.4805, 31.2353),
        ("远方商店", "南京东路", "9999号", None, "node/4", 121.6000, 31.3000),  # outside
        ("小杨生煎", "南京东路", "700号", "黄浦区", "node/5", 121.4830, 31.2352),
        ("小杨生煎", None, None, None, "node/6", 121.4832, 31.2353),
    ], ["name", "addr_street", "addr_housenumber", "addr_district", "osm_id"])
    stations = _points([
        ("南京东路", "node/10", 121.4797, 31.2390),
        ("南京东路", "node/11", 121.4800, 31.2385),
        ("人民广场", "node/12", 121.4750, 31.2330),
    ], ["name", "osm_id"])
    stops = _points([
        ("人民广场", "stop", "node/20", 121.4752, 31.2331),   # beside the station: merged
        ("人民广场", "stop", "node/21", 121.4755, 31.2290),   # ~450 m south: its own place
        ("西藏中路南京东路", "stop", "node/22", 121.4761, 31.2351),
        ("西藏中路南京东路", "stop", "node/23", 121.4759, 31.2349),
    ], ["name", "kind", "osm_id"])
    return {"districts": districts, "streets": streets, "communities": communities,
            "roads": roads, "pois": pois, "stations": stations, "stops": stops}


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return build_gazetteer(_layers(), locality=SHANGHAI)


@pytest.fixture(scope="module")
def geocoder(gazetteer: Gazetteer) -> Geocoder:
    return Geocoder(gazetteer)


def _places(g: Gazetteer, name: str) -> pd.DataFrame:
    return g.places[g.places["name"] == name].sort_values("kind").reset_index(drop=True)


def test_places_table(gazetteer: Gazetteer) -> None:
    g = gazetteer
    assert "poi" in LEVELS and "place" not in LEVELS and LEVELS.index("poi") == 1
    assert "远方商店" not in set(g.places["name"])  # outside the road network's extent
    nanjing = _places(g, "南京东路")
    assert len(nanjing) == 1 and nanjing.at[0, "kind"] == "station"
    assert nanjing.at[0, "features"] == 2
    assert (nanjing.at[0, "lon"], nanjing.at[0, "lat"]) == pytest.approx((121.47985, 31.23875))
    square = _places(g, "人民广场")  # the station absorbs the stop beside it, not the far one
    assert sorted(square["kind"]) == ["station", "stop"]
    station = square[square["kind"] == "station"].iloc[0]
    assert station["features"] == 2 and station["lon"] == pytest.approx(121.4750)
    assert set(station["osm_ids"].split(";")) == {"node/12", "node/20"}
    corner = _places(g, "西藏中路南京东路")
    assert len(corner) == 1 and corner.at[0, "lat"] == pytest.approx(31.2350)
    shop = _places(g, "华联超市").iloc[0]
    assert shop["door_code"] == g.door_code("南京东路", 635)
    assert (shop["road"], shop["number"], shop["district_code"]) == ("南京东路", 635, "310101")
    # two features of one name, one with a door: the place carries no door
    assert pd.isna(_places(g, "小杨生煎").at[0, "door_code"])
    star = _places(g, "星巴克南京东路店").iloc[0]
    assert star["short"] == "星巴克" and star["label"] == "星巴克(南京东路店)"


@pytest.mark.parametrize("query", ["人民广场", "人民广场站", "人民广场地铁站", "上海市黄浦区人民广场",
                                   "上海人民广场", "人民廣場"])
def test_place_names_and_station_suffixes(geocoder: Geocoder, query: str) -> None:
    results = geocoder.geocode(query)
    best = results[0]
    assert best["level"] == "poi" and best["kind"] == "station" and best["name"] == "人民广场"
    assert best["lon"] == pytest.approx(121.4750)
    assert [r["kind"] for r in results] == ["station", "stop"]  # the far stop: second
    assert "place_ambiguous" in best["flags"]


def test_a_poi_with_its_door(geocoder: Geocoder, gazetteer: Gazetteer) -> None:
    best = geocoder.geocode("华联超市")[0]
    assert best["level"] == "poi" and best["kind"] == "poi"
    assert best["code"] == gazetteer.door_code("南京东路", 635)
    assert best["address"] == "上海市黄浦区南京东路635号华联超市"
    assert geocoder.geocode("星巴克（南京东路店）")[0]["name"] == "星巴克南京东路店"
    branch = geocoder.geocode("星巴克")[0]  # the branch left out: found, flagged
    assert branch["name"] == "星巴克南京东路店"
    assert any(f.startswith("place_branch_unspecified") for f in branch["flags"])


def test_a_door_address_resolves_at_door_level_first(geocoder: Geocoder,
                                                     gazetteer: Gazetteer) -> None:
    results = geocoder.geocode("南京东路635号")  # also the name of a POI
    assert results[0]["level"] == "door"
    assert results[0]["code"] == gazetteer.door_code("南京东路", 635)
    place = next(r for r in results if r["level"] == "poi")
    assert place["score"] < results[0]["score"]


def test_a_road_name_stays_a_road_and_a_station_takes_its_suffix(geocoder: Geocoder) -> None:
    road = geocoder.geocode("南京东路")
    assert [r["level"] for r in road] == ["road", "poi"]
    station = geocoder.geocode("南京东路站")
    assert station[0]["level"] == "poi" and station[0]["kind"] == "station"
    assert station[0]["flags"][:2] == ["place_station", "place_suffix:站"]


@pytest.mark.parametrize("query", ["人民广常", "人民", "广场", "华联超市站", "小杨", "西藏中路南京"])
def test_no_fuzzy_place_matches(geocoder: Geocoder, query: str) -> None:
    try:
        results = geocoder.geocode(query)
    except AddressNotFound:
        return
    assert all(r["level"] != "poi" for r in results)


def test_places_are_saved_and_loaded(gazetteer: Gazetteer, tmp_path: Path) -> None:
    gazetteer.save(tmp_path)
    loaded = Gazetteer.load(tmp_path)
    pd.testing.assert_frame_equal(loaded.places, gazetteer.places)
    assert Geocoder(loaded).geocode("人民广场站")[0]["kind"] == "station"
    (tmp_path / "places.parquet").unlink()  # a gazetteer of an older version: no places
    assert len(Gazetteer.load(tmp_path).places) == 0


def test_reverse_is_unchanged(geocoder: Geocoder) -> None:
    res = geocoder.reverse(121.4750, 31.2330)
    assert set(res) == {"lon", "lat", "crs", "address", "road"}


def test_long_street_names_and_their_parents(gazetteer: Gazetteer) -> None:
    c = parse(normalize("瑞金二路街道茂名居委会"), gazetteer)
    assert (c.street, c.street_code) == ("瑞金二路街道", "310101023")
    assert (c.community, c.community_code) == ("茂名居委会", "310101023006")
    assert c.district_code == "310101"  # from the street's code
    c = parse(normalize("南京东路街道南京东路635号"), gazetteer)
    assert c.street == "南京东路街道" and (c.road, c.number) == ("南京东路", 635)


def test_embedded_city_parses_six_character_streets(city: City) -> None:
    g = city.address.gazetteer
    c = parse(normalize("上海市黄浦区瑞金二路街道茂名居委会"), g)
    assert c.street == "瑞金二路街道" and c.community == "茂名居委会"
    assert c.community_code is not None
    best = city.address.geocode("瑞金二路街道茂名居委会")[0]
    assert best["level"] == "street" and best["inferred"]["district_code"] == "310101"
    assert best["inferred"]["street_code"] == "310101023"


def test_embedded_city_stations_are_places(city: City) -> None:
    places = city.address.gazetteer.places
    assert {"station", "poi"} <= set(places["kind"])
    roads = city.layers["roads"].data.total_bounds
    assert places["lon"].between(roads[0] - 0.01, roads[2] + 0.01).all()
    best = city.address.geocode("豫园站")[0]
    assert best["level"] == "poi" and best["kind"] == "station"


def test_central_city_geocodes_places_over_http(central_city: City) -> None:
    from api import create_app
    from twin import Settings

    places = central_city.address.gazetteer.places
    assert {"station", "poi", "stop"} <= set(places["kind"])
    with TestClient(create_app(Settings(), city=central_city)) as client:
        res = client.get("/geocode", params={"q": "人民广场"})
        assert res.status_code == 200
        best = res.json()["results"][0]
        assert best["level"] == "poi" and best["name"] == "人民广场"
        assert 121.46 < best["lon"] < 121.48 and 31.22 < best["lat"] < 31.24
        station = client.get("/geocode", params={"q": "上海火车站"}).json()["results"][0]
        assert station["level"] == "poi" and station["name"] == "上海火车站"
        door = client.get("/geocode", params={"q": "上海市黄浦区南京东路635号"}).json()
        assert door["results"][0]["level"] == "door"


@pytest.mark.parametrize("name", ["上海市实验小学", "上海图书馆"])
def test_landmarks_of_other_layers_are_pois(central_city: City, name: str) -> None:
    """A real school (the schools layer) and a station named after a library."""
    best = central_city.address.geocode(name)[0]
    assert best["level"] == "poi"
    assert name in best["address"]
    if name.endswith("小学"):
        schools = central_city.layers["schools"].data
        school = schools[schools["name"] == name].geometry.iloc[0]
        assert best["kind"] == "school"
        assert abs(best["lon"] - school.x) < 1e-4 and abs(best["lat"] - school.y) < 1e-4
