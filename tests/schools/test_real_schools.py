"""Real schools (BD-09 GeoJSON / CSV), kindergartens, official catchments (对口), homes from a
population raster."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from rasterio.transform import from_origin

from address.crs import to_wgs84
from address.parse import ROAD_PATTERN
from api import create_app
from twin import City, Settings
from twin.build import build_city
from twin.schools._build import make_city_homes, served_areas
from twin.schools.errors import HomeNotFound
from twin.schools.inputs import parse_committees, population_by_cell, read_schools
from twin.settings import DEFAULT_SOURCES
from twin.synthetic import CLASS_SIZE

SCHOOLS = DEFAULT_SOURCES / "shanghai_schools_bd09.geojson"
CENTER_OSM = DEFAULT_SOURCES / "shanghai_center.osm"


def _named_roads(osm: Path) -> dict[str, shapely.MultiLineString]:
    nodes: dict[str, tuple[float, float]] = {}
    ways: dict[str, list] = defaultdict(list)
    for _, el in ET.iterparse(osm):
        if el.tag == "node":
            nodes[el.get("id")] = (float(el.get("lon")), float(el.get("lat")))
        elif el.tag == "way":
            name = next((t.get("v") for t in el.findall("tag") if t.get("k") == "name"), None)
            if name:
                ways[name].append(shapely.LineString([nodes[n.get("ref")] for n in el.findall("nd")]))
            el.clear()
    return {name: shapely.MultiLineString(lines) for name, lines in ways.items()}


def _metres(a: shapely.Point, b: shapely.Point) -> float:
    return float(np.hypot((a.x - b.x) * 111_320 * np.cos(np.radians(a.y)), (a.y - b.y) * 110_540))


def test_bd09_conversion_puts_schools_on_their_roads() -> None:
    """As given (BD-09) the schools sit ~1 km off the OSM road of their address; converted
    to WGS84 they sit on it."""
    roads = _named_roads(CENTER_OSM)
    raw = gpd.read_file(SCHOOLS)
    schools = read_schools(SCHOOLS)
    assert (schools["crs_in"] == "bd09").all()
    before, after = [], []
    for i, row in schools[schools["location"] == "given"].iterrows():
        text = str(row["address"]).split("/")[0].replace("上海市", "").replace("长宁区", "")
        m = ROAD_PATTERN.search(text)
        if not m or m.group(1) not in roads:
            continue
        road = roads[m.group(1)]
        before.append(_metres(raw.geometry.iloc[i], shapely.ops.nearest_points(
            road, raw.geometry.iloc[i])[0]))
        after.append(_metres(row.geometry, shapely.ops.nearest_points(road, row.geometry)[0]))
    assert len(before) >= 20
    assert np.median(before) > 800 and np.median(after) < 100
    # and the conversion is the address service's
    lon, lat = to_wgs84(raw.geometry.x.to_numpy(), raw.geometry.y.to_numpy(), "bd09")
    assert np.allclose(schools.geometry.x, lon) and np.allclose(schools.geometry.y, lat)


def test_committee_lists_are_parsed_only_when_they_are_committees() -> None:
    assert parse_committees("茂名、香山、思南\n") == ["茂名", "香山", "思南"]
    assert parse_committees("电脑派位") == []
    assert parse_committees("1.天山路:88弄、2.长宁路:3229弄") == []
    schools = read_schools(SCHOOLS)
    listed = schools["catchment_committees"].notna()
    assert listed.sum() >= 25
    # road-range catchments (长宁区) are kept as text, not as committees
    assert schools.loc[~listed & schools["catchment_text"].notna(), "catchment_text"].str.contains(
        "路").any()


def test_real_schools_outside_the_extent_are_dropped_and_counted(city: City) -> None:
    layer = city.layers["schools"]
    schools = layer.data
    real = schools[schools["source"] == "real"]
    everything = read_schools(SCHOOLS)
    minx, miny, maxx, maxy = city.layers["roads"].info.bounds
    inside = everything.geometry.x.between(minx, maxx) & everything.geometry.y.between(miny, maxy)
    assert len(real) == inside.sum() > 0
    assert f"{len(real)} real schools, {len(everything) - len(real)} outside the extent dropped" \
        in layer.info.description
    assert set(schools["source"]) == {"real", "synthetic"}
    assert (real["capacity_source"] == "synthetic").all()  # the file has no capacities
    classes = schools["level"].map(CLASS_SIZE)
    assert (schools["capacity"] % classes == 0).all() and (schools["capacity"] > 0).all()


def test_kindergarten_level_and_real_schools_replace_generated(city: City) -> None:
    schools = city.layers["schools"].data
    assert set(schools["level"]) == {"kindergarten", "primary", "middle"}
    assert "children_kindergarten" in city.layers["homes"].data
    m = city.schools.metrics("kindergarten")
    assert m["pupils"] > 0 and m["capacity_violations"] == 0
    # no generated primary school inside the area the real primaries serve
    area = served_areas(schools[schools["source"] == "real"])["primary"]
    synthetic_primary = schools[(schools["source"] == "synthetic") & (schools["level"] == "primary")]
    assert not synthetic_primary.within(area).any()
    # this centre has no real kindergarten: they are all generated
    assert (schools.loc[schools["level"] == "kindergarten", "source"] == "synthetic").all()


def test_catchment_committees_are_an_attribute(city: City) -> None:
    schools = city.schools.schools
    row = schools[schools["name"] == "上海市黄浦区淮海中路小学"].iloc[0]
    assert row["catchment_committees"] == "孝和、西成、瑞兴、新天地"
    assert row["catchment_district"] == "310101"  # 黄浦区, from the NBS committee names
    assert schools.loc[schools["source"] == "synthetic", "catchment_committees"].isna().all()


@pytest.mark.parametrize("address", ["黄浦区淮海中路街道新天地居委会淡水路100号",
                                     "黄浦区新天地居委会淡水路100号"])
def test_lookup_shows_the_official_school_of_the_committee(city: City, address: str) -> None:
    res = city.schools.lookup(address=address)
    assert res["committee"] == {"name": "新天地居委会", "code": "310101022027"}
    official = res["official"]
    assert official["school"]["name"] == "上海市黄浦区淮海中路小学"
    assert official["committee"] == "新天地居委会"
    assert official["same_as_model"] == (official["school"]["id"] == res["school"]["id"])


def test_lookup_without_a_committee_has_no_official_school(city: City) -> None:
    res = city.schools.lookup(address="南京东路635号")  # a real door, no committee written
    assert res["committee"] is None and res["official"] is None
    # a committee whose school is not in this twin: unknown, not guessed
    res = city.schools.lookup(address="黄浦区茂名居委会茂名南路100号")
    assert res["committee"]["name"] == "茂名居委会" and res["official"] is None


def test_http_lookup_carries_official_and_kindergarten(city: City) -> None:
    with TestClient(create_app(Settings(), city=city)) as client:
        look = client.get("/schools/lookup",
                          params={"address": "黄浦区新天地居委会淡水路100号"}).json()
        assert look["official"]["school"]["name"] == "上海市黄浦区淮海中路小学"
        kg = client.get("/schools", params={"level": "kindergarten"}).json()
        assert kg["features"] and kg["features"][0]["properties"]["level"] == "kindergarten"


def _population_tif(path: Path, bounds: tuple[float, float, float, float], *, persons: float,
                    cell_m: float = 100.0, margin_m: float = 300.0) -> float:
    """Write persons per pixel (EPSG:3857) over ``bounds`` shrunk by ``margin_m``; return the
    total."""
    box = gpd.GeoSeries([shapely.box(*bounds)], crs=4326).to_crs(3857).total_bounds
    left, bottom, right, top = box + np.array([margin_m, margin_m, -margin_m, -margin_m])
    width, height = int((right - left) // cell_m), int((top - bottom) // cell_m)
    values = np.full((height, width), persons, dtype="float32")
    values[:, : width // 2] = 0.0  # an empty west half: the raster, not land use, decides
    values[0, 0] = -9999.0
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="float32", crs="EPSG:3857", nodata=-9999.0,
                       transform=from_origin(left, top, cell_m, cell_m)) as dst:
        dst.write(values, 1)
    return float(values[values > 0].sum())


def test_population_by_cell_conserves_the_raster(city: City, tmp_path: Path) -> None:
    roads = city.layers["roads"].data
    tif = tmp_path / "pop.tif"
    total = _population_tif(tmp_path / "pop.tif", tuple(roads.total_bounds), persons=40.0)
    grid = city.layers["bike_grid"].data
    cells = grid[grid.intersects(shapely.box(*roads.total_bounds))].copy()
    cells["geometry"] = cells.geometry.intersection(shapely.box(*roads.total_bounds))
    by_cell = population_by_cell(tif, cells)
    assert by_cell.sum() == pytest.approx(total, rel=1e-6)
    homes, report = make_city_homes(roads, grid, seed=1, population=tif)
    assert (homes["population_source"] == "raster").all() and (homes["source"] == "synthetic").all()
    assert report["raster_persons_in_extent"] == pytest.approx(total, rel=1e-6)
    assert homes["population"].sum() == pytest.approx(total, rel=0.05)
    # cells the raster leaves empty (its west half) get no homes, whatever their land use
    empty = set(cells.index[by_cell == 0])
    assert empty and not set(homes["grid_cell"]) & empty


def test_build_with_population_raster_and_schools_csv(city: City, tmp_path: Path) -> None:
    """``build_city(inputs=...)``: a population GeoTIFF replaces the land-use population and a
    CSV (geocoded address; GCJ-02 lon/lat with a capacity) replaces the embedded schools."""
    roads = city.layers["roads"].data
    tif = tmp_path / "population.tif"
    total = _population_tif(tif, tuple(roads.total_bounds), persons=40.0)
    csv = tmp_path / "schools.csv"
    csv.write_text("name,level,address,lon,lat,crs,capacity\n"
                   "测试小学,primary,上海市黄浦区南京东路635号,,,,\n"
                   "测试幼儿园,kindergarten,,121.4790,31.2300,gcj02,360\n", encoding="utf-8")
    built = City.load(build_city(name="shanghai-core", build_dir=tmp_path / "build",
                                 progress=False, inputs={"population": tif, "schools": csv}))
    homes = built.layers["homes"].data
    assert (homes["population_source"] == "raster").all()
    assert homes["population"].sum() == pytest.approx(total, rel=0.05)
    assert "population.tif" in built.layers["homes"].info.attribution
    schools = built.layers["schools"].data
    real = schools[schools["source"] == "real"].set_index("name")
    assert set(real.index) == {"测试小学", "测试幼儿园"}
    best = city.address.geocode("上海市黄浦区南京东路635号", limit=1)[0]
    assert real.loc["测试小学"].geometry.x == pytest.approx(best["lon"])
    assert real.loc["测试小学", "capacity_source"] == "synthetic"
    lon, lat = to_wgs84(121.4790, 31.2300, "gcj02")
    kg = real.loc["测试幼儿园"]
    assert (kg.geometry.x, kg.geometry.y) == pytest.approx((lon, lat))
    assert kg["capacity"] == 360 and kg["capacity_source"] == "data" and kg["crs_in"] == "gcj02"
    # generated schools remain where the two real ones do not reach
    assert ((schools["source"] == "synthetic") & (schools["level"] == "primary")).any()
    assert built.schools.metrics("kindergarten")["capacity_violations"] == 0


def test_central_city_keeps_about_forty_real_schools(central_city: City) -> None:
    schools = central_city.layers["schools"].data
    real = schools[schools["source"] == "real"]
    assert 35 <= len(real) <= 45
    assert set(real["level"]) == {"primary", "kindergarten"}
    assert (real["level"] == "primary").sum() > (real["level"] == "kindergarten").sum()
    # middle schools: none in the data, all generated
    assert (schools.loc[schools["level"] == "middle", "source"] == "synthetic").all()
    description = central_city.layers["schools"].info.description
    assert f"{len(real)} real schools, {60 - len(real)} outside the extent dropped" in description
    # the coarse (two-decimal) coordinates were replaced by the geocoded address where it agrees
    assert (real["location"] == "geocoded").any()


def test_lookup_refuses_an_address_known_only_at_city_level(city: City) -> None:
    # an unknown road is not replaced by another one, nor by the city's centre
    with pytest.raises(HomeNotFound, match="only known at"):
        city.schools.lookup(address="上海市富岩路121号")
