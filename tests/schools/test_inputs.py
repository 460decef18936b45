"""Real inputs: schools CSV (geocoded), homes CSV, population raster (rasterio)."""

from __future__ import annotations

from pathlib import Path

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
    assert len(schools) == 3 and (schools["source"] == "csv").all()
    best = city.address.geocode("南京东路635号")[0]
    assert schools.geometry.x.iloc[0] == pytest.approx(best["lon"])
    svc = SchoolService(city.graph, schools, city.layers["homes"].data)
    assert svc.metrics("primary")["capacity_violations"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [("name,level,address,capacity\nA,college,南京东路635号,10\n", "level"),
     ("name,level,address,capacity\nA,primary,南京东路635号,-5\n", "capacity"),
     ("name,level,address,capacity\nA,primary,火星基地,10\n", "not found"),
     ("name,address\nA,x\n", "lacks columns")],
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
