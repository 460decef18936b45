"""BD-09 / GCJ-02 at every coordinate of the address API; ``city.address.parse``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from address.crs import from_wgs84, to_wgs84
from address.errors import InvalidCoordinates
from address.gazetteer import Gazetteer
from address.service import AddressService
from api.deps import get_city
from api.routers import addresses
from layers.versions import FileLog
from twin import City


@pytest.fixture()
def service(city: City, tmp_path: Path) -> AddressService:
    gaz = Gazetteer.load(city.bundle_dir / "address")
    return AddressService(gaz, log=FileLog(tmp_path / "addresses.jsonl"))


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_create_and_edit_take_and_give_the_crs(service: AddressService, crs: str) -> None:
    wgs = (121.4801, 31.2352)
    lon, lat = from_wgs84(*wgs, crs)
    rec = service.create(road="南京东路", number=9301, lon=lon, lat=lat, crs=crs)
    assert rec["crs"] == crs and rec["lon"] == pytest.approx(lon, abs=1e-5)
    stored = service.record(rec["code"])  # kept in WGS84
    assert stored["crs"] == "wgs84"
    assert (stored["lon"], stored["lat"]) == pytest.approx(wgs, abs=1e-5)
    assert abs(lon - wgs[0]) + abs(lat - wgs[1]) > 1e-3  # the systems really differ here
    new = from_wgs84(121.4811, 31.2355, crs)
    edited = service.update(rec["code"], expected_version=rec["version"], lon=new[0],
                            lat=new[1], crs=crs)
    back = to_wgs84(edited["lon"], edited["lat"], crs)
    assert back == pytest.approx((121.4811, 31.2355), abs=1e-5)


def test_unknown_crs_is_refused(service: AddressService) -> None:
    with pytest.raises(InvalidCoordinates):
        service.create(road="南京东路", number=9302, lon=121.48, lat=31.235, crs="utm")


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_geocode_and_reverse_round_trip_in_crs(city: City, crs: str) -> None:
    best = city.address.geocode("南京东路635号", limit=1)[0]
    out = city.address.geocode("南京东路635号", limit=1, crs=crs)[0]
    assert out["crs"] == crs and (out["lon"], out["lat"]) == pytest.approx(
        from_wgs84(best["lon"], best["lat"], crs), abs=1e-5)
    rev = city.address.reverse(out["lon"], out["lat"], crs=crs)
    assert rev["crs"] == crs and rev["address"]["code"] == best["code"]


def test_geocode_components_share_the_parse_schema(city: City) -> None:
    best = city.address.geocode("上海市黄浦区南京东路635号", limit=1)[0]
    assert best["components"]["number"] == "635" and best["components"]["road"] == "南京东路"
    assert best["inferred"]["district_code"] == "310101"
    assert best["inferred"]["city_code"] == "310000"
    # components hold what the text states; the division codes are only inferred
    assert not {"district_code", "street_code", "community_code"} & set(best["components"])


def test_city_parses_addresses_of_other_provinces(city: City) -> None:
    out = city.address.parse("广东省深圳市南山区深南大道9988号")
    assert out["components"]["road"] == "深南大道" and out["components"]["number"] == "9988"
    assert out["inferred"]["district_code"] == "440305" and out["level"] == "door"


def test_parse_endpoint_and_openapi(city: City) -> None:
    app = FastAPI()
    app.include_router(addresses.router)
    app.dependency_overrides[get_city] = lambda: city
    client = TestClient(app)
    body = client.get("/parse", params={"q": "湖北省武汉市洪山区珞喻路1037号华中科技大学"}).json()
    assert body["components"]["place"] == "华中科技大学" and body["level"] == "door"
    assert body["inferred"]["province_code"] == "420000"
    schema = addresses.ParseResult.model_json_schema()
    props = schema["$defs"]["AddressComponents"]["properties"]
    assert {"devzone", "village_group", "subplace", "intersection", "lane"} <= set(props)
    assert "room" in schema["properties"]["level"]["enum"]
    assert client.get("/parse", params={"q": ""}).status_code == 422
