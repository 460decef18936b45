"""Real inputs: schools CSV (geocoded), homes CSV, population raster (rasterio)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin import City
from twin.schools.errors import InvalidSchoolInput
from twin.schools.inputs import homes_from_population_raster, read_homes_csv, read_schools_csv
from twin.schools.service import SchoolService


def test_schools_csv_is_geocoded_and_solved(city: City, tmp_path: Path) -> None:
    csv = tmp_path / "schools.csv"
    csv.write_text("name,level,address,capacity\n"
                   "南京东路小学,primary,上海市黄浦区南京东路635号,400\n"
                   "淮海小学,primary,淮海中路775号,300\n"
                   "西藏中学,middle,南京东路635号,500\n", encoding="utf-8")
    schools = read_schools_csv(csv, geocode=lambda t: city.address.geocode(t, limit=1))
    assert len(schools) == 3 and (schools["source"] == "real").all()
    assert (schools["capacity_source"] == "data").all() and (schools["location"] == "geocoded").all()
    best = city.address.geocode("南京东路635号")[0]
    assert schools.geometry.x.iloc[0] == pytest.approx(best["lon"])
    svc = SchoolService(city.graph, schools, city.layers["homes"].data)
    assert svc.metrics("primary")["capacity_violations"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [("name,level,address,capacity\nA,college,南京东路635号,10\n", "level"),
     ("name,level,address,capacity\nA,primary,南京东路635号,-5\n", "capacity"),
     ("name,level,address,capacity\nA,primary,火星基地,10\n", "not found"),
     ("name,address\nA,x\n", "lacks columns"),
     ("name,level,lon,lat,crs\nA,primary,121.47,31.23,mars\n", "coordinate system"),
     ("name,level,lon,lat\nA,primary,,\n", "no coordinates")],
)
def test_bad_schools_csv(city: City, tmp_path: Path, body: str, message: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(body, encoding="utf-8")
    with pytest.raises(InvalidSchoolInput, match=message):
        read_schools_csv(csv, geocode=lambda t: city.address.geocode(t, limit=1))


def test_homes_from_csv_and_population_raster(city: City, tmp_path: Path) -> None:
    homes = city.layers["homes"].data
    csv = tmp_path / "homes.csv"
    homes.assign(lon=homes.geometry.x, lat=homes.geometry.y)[
        ["lon", "lat", "children_primary", "children_middle"]].to_csv(csv, index=False)
    assert len(read_homes_csv(csv)) == len(homes)
    raster = homes_from_population_raster(city.bundle_dir / "rasters" / "population_density.tif",
                                          density=True)
    # the density raster was made from the homes: population is conserved
    assert raster["population"].sum() == pytest.approx(homes["population"].sum(), rel=0.01)
    svc = SchoolService(city.graph, city.layers["schools"].data, raster)
    assert svc.metrics("primary")["capacity_violations"] == 0


def test_schools_csv_with_coordinates_in_each_crs(tmp_path: Path) -> None:
    """A crs column (or the crs parameter) converts GCJ-02 / BD-09 rows once, to WGS84;
    capacity is optional and a Chinese level name is read."""
    from address.crs import from_wgs84

    lon, lat = 121.4781234, 31.2301234
    gcj = from_wgs84(lon, lat, "gcj02")
    bd = from_wgs84(lon, lat, "bd09")
    csv = tmp_path / "schools.csv"
    csv.write_text("name,level,lon,lat,crs,capacity\n"
                   f"A,小学,{lon},{lat},wgs84,450\n"
                   f"B,kindergarten,{gcj[0]},{gcj[1]},GCJ-02,\n"
                   f"C,middle,{bd[0]},{bd[1]},bd09,600\n", encoding="utf-8")
    schools = read_schools_csv(csv)
    assert list(schools["level"]) == ["primary", "kindergarten", "middle"]
    assert list(schools["crs_in"]) == ["wgs84", "gcj02", "bd09"]
    assert np.allclose(schools.geometry.x, lon, atol=1e-6)
    assert np.allclose(schools.geometry.y, lat, atol=1e-6)
    assert schools["capacity"].isna().tolist() == [False, True, False]
    assert schools["capacity_source"].isna().tolist() == [False, True, False]
    assert set(schools["capacity_source"].dropna()) == {"data"}
    # one crs for the whole file
    plain = tmp_path / "bd.csv"
    plain.write_text(f"name,level,lon,lat\nC,middle,{bd[0]},{bd[1]}\n", encoding="utf-8")
    one = read_schools_csv(plain, crs="bd09")
    assert one.geometry.x.iloc[0] == pytest.approx(lon, abs=1e-6)
