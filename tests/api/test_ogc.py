"""OGC API – Features and Tiles under ``/ogc``, checked by real clients against a real server:
GDAL (OAPIF and MVT drivers through pyogrio), owslib, an OpenAPI 3.0 validator,
and our own requests for the parts the clients do not exercise (paging links, datetime,
errors, tile bytes and ETags equal to the native endpoint).

The server runs in a subprocess: pyogrio holds the GIL while GDAL waits on HTTP, so a
server thread in the test process would never answer it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import morecantile
import numpy as np
import pyogrio
import pytest
import shapely

from layers import ogc
from layers.tiles import TMS
from twin import City

REPO = Path(__file__).resolve().parents[2]
EDIT = {"X-API-Key": "k-edit"}
SERVER = """
import uvicorn
from api import create_app
from twin import Settings
app = create_app(Settings(bundle={bundle!r}, api_keys={{"k-edit": "editor"}}))
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="info")
"""


@pytest.fixture(scope="module")
def bundle(city: City, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture city: the edits made here stay here."""
    copy = tmp_path_factory.mktemp("ogc") / "shanghai"
    shutil.copytree(city.bundle_dir, copy)
    return copy


@pytest.fixture(scope="module")
def twin(bundle: Path) -> City:
    """The server's city, read in this process before any edit (the reference data)."""
    return City.load(bundle)


@pytest.fixture(scope="module")
def server(bundle: Path) -> Iterator[tuple[str, Path]]:
    """``(base URL, access log)`` of a uvicorn server over the copy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = bundle.parent / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVER.format(bundle=str(bundle), port=port)],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def http(server: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as client:
        yield client


def _requests(log: Path, path: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f'"GET {path}' in line]


# -- GDAL ----------------------------------------------------------------------------------
@pytest.mark.parametrize("layer, page", [("pois", 1000), ("roads", 200)])
def test_gdal_oapif_reads_every_feature_over_pages(server: tuple[str, Path], twin: City,
                                                   layer: str, page: int) -> None:
    base, log = server
    url = f"OAPIF:{base}/ogc"
    names = [name for name, _ in pyogrio.list_layers(url)]
    expected = [i.name for i in twin.layers.infos() if i.bounds is not None]
    assert sorted(names) == sorted(expected)  # every layer with geometry, no plain tables

    before = len(_requests(log, f"/ogc/collections/{layer}/items"))
    got = pyogrio.read_dataframe(url, layer=layer, PAGE_SIZE=str(page), fid_as_index=True)
    ref = twin.layers[layer].data
    pages = [p for p in _requests(log, f"/ogc/collections/{layer}/items")[before:]
             if f"limit={page}" in p]  # GDAL first probes the fields with a small page
    assert len(pages) == -(-len(ref) // page) > 1  # followed the next links to the end

    assert len(got) == len(ref)
    assert sorted(got.index.tolist()) == sorted(ref.index.tolist())
    got = got.loc[ref.index]
    same = ref["name"].fillna("").astype(str).to_numpy() == got["name"].fillna("").astype(str).to_numpy()
    assert same.all()
    assert shapely.equals_exact(got.geometry.to_numpy(), ref.geometry.to_numpy(), tolerance=1e-7).all()
    for field in ref.columns.drop(ref.geometry.name):
        assert field in got.columns, field


def test_gdal_mvt_driver_reads_a_served_tile(http: httpx.Client, twin: City, tmp_path: Path) -> None:
    tile = TMS.tile(121.4737, 31.2304, 15)
    res = http.get(f"/ogc/collections/roads/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}")
    assert res.status_code == 200 and res.headers["content-type"] == ogc.MVT
    native = http.get(f"/tiles/roads/{tile.z}/{tile.x}/{tile.y}.mvt")
    assert res.content == native.content and res.headers["etag"] == native.headers["etag"]
    path = tmp_path / str(tile.z) / str(tile.x) / f"{tile.y}.pbf"  # GDAL reads z/x/y from the path
    path.parent.mkdir(parents=True)
    path.write_bytes(res.content)
    got = pyogrio.read_dataframe(f"MVT:{path}", layer="roads", CLIP="NO")  # keep the buffer
    decoded = mapbox_vector_tile.decode(res.content)["roads"]["features"]
    assert len(got) == len(decoded) > 10
    assert {"name", "highway"} <= set(got.columns)
    names = set(twin.layers["roads"].data["name"].dropna())
    assert set(got["name"].dropna()) <= names and got["name"].notna().any()
    west, south, east, north = TMS.bounds(tile)
    box = shapely.box(west, south, east, north).buffer(0.002)
    assert box.contains(got.to_crs(4326).union_all())


# -- owslib --------------------------------------------------------------------------------
def test_owslib_features(server: tuple[str, Path], http: httpx.Client) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{server[0]}/ogc")
    assert ogc.CONFORMANCE[0] in api.conformance()["conformsTo"]
    ids = [c["id"] for c in api.collections()["collections"]]
    assert {"roads", "pois", "schools"} <= set(ids) and "districts" not in ids
    assert api.collection("roads")["extent"]["spatial"]["crs"] == ogc.CRS84
    bbox = [121.465, 31.225, 121.48, 31.235]
    page = api.collection_items("roads", bbox=bbox, limit=7)
    native = http.get("/layers/roads/features", params={"bbox": ",".join(map(str, bbox)),
                                                         "limit": 7}).json()
    assert page["numberReturned"] == len(page["features"]) == 7
    assert page["numberMatched"] == native["numberMatched"] > 7
    assert [f["id"] for f in page["features"]] == [f["id"] for f in native["features"]]
    box = shapely.box(*bbox)
    assert all(box.intersects(shapely.geometry.shape(f["geometry"])) for f in page["features"])
    one = api.collection_item("roads", str(page["features"][0]["id"]))
    assert one["id"] == page["features"][0]["id"]
    assert "name" in api.collection_queryables("roads")["properties"]


# -- the standard, by our own requests -----------------------------------------------------
def test_landing_conformance_and_openapi30(http: httpx.Client) -> None:
    from openapi_spec_validator import validate

    landing = http.get("/ogc").json()
    rels = {link["rel"]: link for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    desc = http.get(rels["service-desc"]["href"])
    assert desc.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    spec = desc.json()
    assert spec["openapi"].startswith("3.0")
    validate(spec)  # a valid OpenAPI 3.0 document
    assert "/ogc/collections/{collectionId}/items" in spec["paths"]
    limit = next(p for p in spec["paths"]["/ogc/collections/{collectionId}/items"]["get"]["parameters"]
                 if p["name"] == "limit")
    assert limit["schema"]["maximum"] == ogc.MAX_LIMIT and limit["schema"]["default"] == 10
    classes = http.get(rels["conformance"]["href"]).json()["conformsTo"]
    for cls in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                "ogcapi-features-1/1.0/conf/oas30", "ogcapi-tiles-1/1.0/conf/mvt"):
        assert f"http://www.opengis.net/spec/{cls}" in classes
    assert http.get("/").headers["content-type"].startswith("text/html")  # / stays the map


def test_paging_links_walk_every_feature(http: httpx.Client, twin: City) -> None:
    url, ids, pages = "/ogc/collections/schools/items?limit=5", [], 0
    first = http.get(url)
    assert first.headers["content-type"] == "application/geo+json"
    body = first.json()
    assert body["numberMatched"] == len(twin.layers["schools"].data) and "timeStamp" in body
    assert "prev" not in {link["rel"] for link in body["links"]}
    while True:
        pages += 1
        assert body["numberReturned"] == len(body["features"]) <= 5
        ids += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        if pages > 1:
            assert "prev" in links
        if "next" not in links:
            break
        body = http.get(links["next"]).json()
    assert pages == -(-len(twin.layers["schools"].data) // 5)
    assert sorted(ids) == sorted(twin.layers["schools"].data.index.tolist())
    assert http.get("/ogc/collections/schools/items").json()["numberReturned"] == 10  # default


def test_property_filter_and_bbox(http: httpx.Client, twin: City) -> None:
    roads = twin.layers["roads"].data
    name = roads["name"].dropna().value_counts().index[0]
    body = http.get("/ogc/collections/roads/items", params={"name": name, "limit": 1000}).json()
    assert body["numberMatched"] == int((roads["name"] == name).sum())
    assert {f["properties"]["name"] for f in body["features"]} == {name}
    six = http.get("/ogc/collections/roads/items",
                   params={"bbox": "121.465,31.225,0,121.48,31.235,100"}).json()
    four = http.get("/ogc/collections/roads/items", params={"bbox": "121.465,31.225,121.48,31.235"}).json()
    assert six["numberMatched"] == four["numberMatched"] > 0


def test_datetime_reads_the_collection_as_it_was(http: httpx.Client) -> None:
    time.sleep(0.02)
    before = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.02)
    created = http.post("/layers/stations/features", headers=EDIT, json={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [121.4737, 31.2304]},
        "properties": {"name": "新站 OGC"}})
    assert created.status_code == 201, created.text
    fid = created.json()["fid"]
    now = http.get("/ogc/collections/stations/items", params={"name": "新站 OGC"}).json()
    assert [f["id"] for f in now["features"]] == [fid]
    then = http.get("/ogc/collections/stations/items",
                    params={"name": "新站 OGC", "datetime": before}).json()
    assert then["numberMatched"] == 0
    everything = http.get("/ogc/collections/stations/items",
                          params={"datetime": before, "limit": 10_000}).json()
    assert fid not in {f["id"] for f in everything["features"]}
    assert http.get(f"/ogc/collections/stations/items/{fid}").status_code == 200
    assert http.get(f"/ogc/collections/stations/items/{fid}",
                    params={"datetime": before}).status_code == 404
    temporal = http.get("/ogc/collections/stations").json()["extent"]["temporal"]
    assert temporal["interval"][0][1] is None and temporal["trs"] == ogc.TRS


@pytest.mark.parametrize("query, reason", [
    ("limit=0", "limit"), ("limit=10001", "limit"), ("limit=ten", "limit"), ("offset=-1", "offset"),
    ("bbox=1,2,3", "bbox"), ("bbox=121.5,31,121.4,31.3", "bbox"), ("bbox=a,b,c,d", "bbox"),
    ("bbox=121,31,122,32&bbox-crs=EPSG:4326", "bbox-crs"),
    ("datetime=yesterday", "ISO 8601"), ("datetime=2024-01-01T00:00:00Z/..", "interval"),
    ("nosuch=1", "nosuch"), ("f=xml", "f must be"),
])
def test_bad_parameters_are_400_with_a_reason(http: httpx.Client, query: str, reason: str) -> None:
    res = http.get(f"/ogc/collections/roads/items?{query}")
    assert res.status_code == 400, res.text
    assert reason in res.json()["detail"]


@pytest.mark.parametrize("path", [
    "/ogc/collections/nosuch", "/ogc/collections/nosuch/items", "/ogc/collections/districts",
    "/ogc/collections/roads/items/99999999", "/ogc/collections/roads/items/abc",
    "/ogc/tileMatrixSets/WorldCRS84Quad", "/ogc/collections/roads/tiles/WorldCRS84Quad",
    "/ogc/collections/roads/tiles/WebMercatorQuad/3/0/0",
    "/ogc/collections/roads/tiles/WebMercatorQuad/15/0/0",
])
def test_unknown_things_are_404(http: httpx.Client, path: str) -> None:
    res = http.get(path)
    assert res.status_code == 404, res.text
    assert res.json()["detail"]


def test_tiles_metadata_and_bytes_match_the_native_endpoint(http: httpx.Client, twin: City) -> None:
    tms = http.get("/ogc/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in tms] == ["WebMercatorQuad"]
    definition = http.get("/ogc/tileMatrixSets/WebMercatorQuad").json()
    assert definition["id"] == "WebMercatorQuad" and len(definition["tileMatrices"]) == 25
    sets = http.get("/ogc/collections/pois/tiles").json()["tilesets"]
    tileset = http.get(sets[0]["links"][0]["href"]).json()
    info = twin.layers["pois"].info
    limits = tileset["tileMatrixSetLimits"]
    assert [int(lim["tileMatrix"]) for lim in limits] == list(range(info.minzoom, info.maxzoom + 1))
    layer = tileset["layers"][0]
    assert layer["id"] == "pois" and "name" in layer["propertiesSchema"]["properties"]
    template = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    assert template.endswith("/{tileMatrix}/{tileRow}/{tileCol}")

    tile = TMS.tile(121.4737, 31.2304, 16)
    href = template.format(tileMatrix=tile.z, tileRow=tile.y, tileCol=tile.x)
    got, native = http.get(href), http.get(f"/tiles/pois/{tile.z}/{tile.x}/{tile.y}.mvt")
    assert got.status_code == native.status_code == 200
    assert got.content == native.content and got.headers["etag"] == native.headers["etag"]
    assert got.headers["cache-control"] == native.headers["cache-control"]
    assert http.get(href, headers={"If-None-Match": got.headers["etag"]}).status_code == 304
    # inside the limits but empty: 204, like the native endpoint
    z16 = next(lim for lim in limits if lim["tileMatrix"] == "16")
    data = twin.layers["pois"].data
    for row in range(z16["minTileRow"], z16["maxTileRow"] + 1):
        west, south, east, north = TMS.bounds(morecantile.Tile(z16["minTileCol"], row, 16))
        if not data.cx[west:east, south:north].empty:
            continue
        empty = http.get(template.format(tileMatrix=16, tileRow=row, tileCol=z16["minTileCol"]))
        assert empty.status_code == 204 and "etag" in empty.headers
        break
    # a zoom outside the layer's tile matrices: 404 (the native endpoint serves it as empty)
    assert http.get(template.format(tileMatrix=info.minzoom - 1, tileRow=0, tileCol=0)).status_code == 404
    assert np.isfinite(tileset["centerPoint"]["coordinates"]).all()
