"""``twin export``: PMTiles / MBTiles archives of the server's tiles, GeoPackage, GeoParquet,
each read back by a real client (GDAL through pyogrio, the pmtiles reader, SQLite)."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pyogrio
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

from layers.errors import LayerNotFound, TileOutOfRange
from layers.tiles import TMS
from twin import City
from twin.export import (
    ExportError,
    encode_partition,
    export_city,
    export_tiles,
    plan_tiles,
    prepare_tiles,
)

REPO = Path(__file__).resolve().parents[2]
ZOOMS = (12, 14)


@dataclass
class Archives:
    names: list[str]
    pmtiles: Path
    mbtiles: Path
    tiles: int


@pytest.fixture(scope="module")
def archives(city: City, tmp_path_factory: pytest.TempPathFactory) -> Archives:
    """Every layer with geometry of the small city, z12-z14, in both archive formats."""
    out = tmp_path_factory.mktemp("export")
    pm = export_city(city, out / "core.pmtiles", format="pmtiles", zooms=ZOOMS, progress=False)
    mb = export_city(city, out / "core.mbtiles", format="mbtiles", zooms=ZOOMS, progress=False)
    assert pm.tiles == mb.tiles > 0
    return Archives(pm.layers, pm.path, mb.path, pm.tiles)


def pmtiles_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    with open(path, "rb") as f:
        return {zxy: gzip.decompress(data) for zxy, data in all_tiles(MmapSource(f))}


def mbtiles_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    return {(z, x, (1 << z) - 1 - row): gzip.decompress(data) for z, x, row, data in rows}


def _values(column: pd.Series) -> list[object]:
    """Values as plain Python objects, every kind of missing value as None."""
    out = column.astype(object).where(column.notna(), None).tolist()
    return [round(v, 6) if isinstance(v, float) else v for v in out]


def test_default_layers_are_every_layer_with_geometry(city: City, archives: Archives) -> None:
    expected = [n for n, layer in city.layers.items() if layer.info.bounds is not None]
    assert archives.names == expected
    assert "districts" not in archives.names  # a plain table: no geometry, no tiles


def test_archive_tiles_are_the_server_tiles(city: City, archives: Archives) -> None:
    service = city.layer_service
    tiles = pmtiles_tiles(archives.pmtiles)
    assert len(tiles) == archives.tiles
    assert tiles == mbtiles_tiles(archives.mbtiles)  # both formats hold the same tiles
    assert {z for z, _, _ in tiles} == set(range(ZOOMS[0], ZOOMS[1] + 1))
    # a composite tile is the server's single-layer tiles one after another, byte for byte
    for zxy in sorted(tiles)[:: max(1, len(tiles) // 25)]:
        server = b"".join(service.tile([n], *zxy).data for n in archives.names)
        assert tiles[zxy] == server, zxy
    # and decodes to the server's composite tile (at most 8 layers per request)
    first = archives.names[:8]
    for zxy in sorted(tiles)[:: max(1, len(tiles) // 10)]:
        ours = mapbox_vector_tile.decode(tiles[zxy])
        theirs = mapbox_vector_tile.decode(service.tile(first, *zxy).data)
        assert {k: v for k, v in ours.items() if k in first} == theirs, zxy


def test_every_non_empty_tile_is_written(city: City, tmp_path: Path) -> None:
    names = ["roads", "pois", "bike_cells"]
    result = export_tiles(city.layer_service, tmp_path / "t.pmtiles", layers=names,
                          zooms=(12, 13), progress=False)
    written = set(pmtiles_tiles(result.path))
    infos = [city.layer_service.info(n) for n in names]
    west = min(i.bounds[0] for i in infos)
    south = min(i.bounds[1] for i in infos)
    east = max(i.bounds[2] for i in infos)
    north = max(i.bounds[3] for i in infos)
    non_empty = set()
    for t in TMS.tiles(west, south, east, north, [12, 13]):  # every tile over the bounds
        if city.layer_service.tile(names, t.z, t.x, t.y).data:
            non_empty.add((t.z, t.x, t.y))
    assert written == non_empty


def test_partitions_cover_the_range_in_tile_id_order(city: City, archives: Archives,
                                                    tmp_path: Path) -> None:
    """The shared plan of the in-process and the Dask export: partitions of one zoom each,
    consecutive tile ids, whose encoded tiles concatenated are the archive's."""
    job = prepare_tiles(city.layer_service, tmp_path / "unused.pmtiles", zooms=ZOOMS)
    plan = plan_tiles(job.projected, ZOOMS, partition_tiles=37)
    whole = plan_tiles(job.projected, ZOOMS, partition_tiles=10**9)
    assert len(whole) == ZOOMS[1] - ZOOMS[0] + 1 and len(plan) > 3 * len(whole)
    assert all(0 < len(p) <= 37 for p in plan)
    ids = np.concatenate([p.tile_ids for p in plan])
    assert (np.diff(ids) > 0).all()
    assert ids.tolist() == np.concatenate([p.tile_ids for p in whole]).tolist()
    assert [p.z for p in plan] == sorted(p.z for p in plan)
    encoded = [t for p in plan for t in encode_partition(job.projected, p)]
    assert len(encoded) == archives.tiles <= len(ids)  # empty candidates are left out
    from pmtiles.tile import tileid_to_zxy

    stored = pmtiles_tiles(archives.pmtiles)
    assert {tileid_to_zxy(i): gzip.decompress(d) for i, d in encoded} == stored
    # the partition size does not change the file
    small = export_tiles(city.layer_service, tmp_path / "small.pmtiles", zooms=ZOOMS,
                         partition_tiles=11, progress=False)
    assert small.path.read_bytes() == archives.pmtiles.read_bytes()
    with pytest.raises(ExportError, match="positive"):
        plan_tiles(job.projected, ZOOMS, partition_tiles=0)


def test_pmtiles_header_and_metadata(city: City, archives: Archives) -> None:
    with open(archives.pmtiles, "rb") as f:
        reader = Reader(MmapSource(f))
        header, metadata = reader.header(), reader.metadata()
    assert header["tile_type"] == TileType.MVT
    assert header["tile_compression"] == Compression.GZIP
    assert (header["min_zoom"], header["max_zoom"]) == ZOOMS
    assert header["clustered"]
    west, south, east, north = metadata["bounds"]
    assert header["min_lon_e7"] == int(west * 1e7) and header["max_lat_e7"] == int(north * 1e7)
    assert west <= header["center_lon_e7"] / 1e7 <= east
    assert south <= header["center_lat_e7"] / 1e7 <= north
    assert ZOOMS[0] <= header["center_zoom"] <= ZOOMS[1]
    assert [v["id"] for v in metadata["vector_layers"]] == archives.names
    roads = next(v for v in metadata["vector_layers"] if v["id"] == "roads")
    assert roads["fields"]["highway"] == "String" and roads["fields"]["lanes"] == "Number"
    assert "OpenStreetMap" in metadata["attribution"] and "ODbL" in metadata["attribution"]
    assert metadata["format"] == "pbf"
    assert {t["layer"]: t["geometry"] for t in metadata["tilestats"]["layers"]}["roads"] == "LineString"


@pytest.mark.parametrize("kind", ["pmtiles", "mbtiles"])
def test_gdal_reads_the_archive(city: City, archives: Archives, kind: str) -> None:
    path = getattr(archives, kind)
    listed = {name for name, _ in pyogrio.list_layers(path)}
    assert listed == set(archives.names)
    options = {"ZOOM_LEVEL": ZOOMS[1]}
    roads = pyogrio.read_dataframe(path, layer="roads", **options)
    data = city.layer_service.data("roads")
    # a road crossing tiles comes back in pieces (clipped per tile), each with its properties
    assert set(roads["id"]) == set(data.index)
    assert roads["id"].dtype.kind == "i" and roads["lanes"].dtype.kind == "i"  # from tilestats
    one = roads.drop_duplicates("id").set_index("id").reindex(data.index)
    for col in ("highway", "name", "osmid", "lanes", "oneway", "speed_kph"):
        assert _values(one[col]) == _values(data[col]), col
    # points: one feature each, at its place (to the tile's precision), with every property
    pois = pyogrio.read_dataframe(path, layer="pois", **options).set_index("id").sort_index()
    source = city.layer_service.data("pois").sort_index()
    twice = pois.index.duplicated()  # a point on a tile's edge is in both tiles
    assert twice.sum() < 0.01 * len(source)
    pois = pois[~twice]
    assert list(pois.index) == list(source.index)
    for col in source.columns.drop("geometry"):
        assert _values(pois[col]) == _values(source[col]), col
    moved = pois.geometry.to_crs(3857).distance(source.geometry.to_crs(3857), align=False)
    assert float(moved.max()) < 2 * 40_075_016 / 2 ** ZOOMS[1] / 4096  # half a tile pixel, twice


def test_mbtiles_schema_and_metadata(archives: Archives) -> None:
    with sqlite3.connect(archives.mbtiles) as con:
        meta = dict(con.execute("SELECT name, value FROM metadata"))
        columns = [r[1] for r in con.execute("PRAGMA table_info(tiles)")]
        z, x, row, data = con.execute("SELECT * FROM tiles LIMIT 1").fetchone()
    assert columns == ["zoom_level", "tile_column", "tile_row", "tile_data"]
    assert meta["format"] == "pbf" and (meta["minzoom"], meta["maxzoom"]) == ("12", "14")
    assert len(meta["bounds"].split(",")) == 4 and len(meta["center"].split(",")) == 3
    assert "ODbL" in meta["attribution"]
    assert [v["id"] for v in json.loads(meta["json"])["vector_layers"]] == archives.names
    assert data[:2] == b"\x1f\x8b"  # gzip, as MBTiles vector producers store tiles
    # rows count from the south (TMS): the tile's y from the top is 2^z - 1 - row
    west, south, east, north = (float(v) for v in meta["bounds"].split(","))
    y = (1 << z) - 1 - row
    tile = TMS.bounds(x, y, z)
    assert tile.bottom <= north + 1 and tile.top >= south - 1


def _same_frame(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    geom = want.geometry.name
    assert [c for c in got.columns if c != geom] == [c for c in want.columns if c != geom]
    assert got.geometry.name == geom
    assert list(got.index) == list(want.index)
    for col in want.columns:
        if col == want.geometry.name:
            # a layer of polygons and multipolygons is written as multipolygons
            assert bool(got.geometry.geom_equals(want.geometry, align=False).all())
            continue
        a, b = got[col].astype(object), want[col].astype(object)
        a, b = a.where(a.notna(), None), b.where(b.notna(), None)
        if pd.api.types.is_float_dtype(want[col]):
            np.testing.assert_allclose(got[col].astype(float), want[col].astype(float))
        else:
            assert a.tolist() == b.tolist(), col


def test_geopackage_round_trips_every_feature_and_column(city: City, tmp_path: Path) -> None:
    out = tmp_path / "core.gpkg"
    result = export_city(city, out, format="gpkg", progress=False)
    listed = {name for name, _ in pyogrio.list_layers(out)}
    assert listed == set(result.layers)
    for name in result.layers:
        want = city.layer_service.data(name)  # the layer now, edits included
        got = pyogrio.read_dataframe(out, layer=name, fid_as_index=want.index.name == "fid")
        if want.index.name != "fid":  # the id is an ordinary column; GPKG numbers its rows
            got = got.set_index(want.index.name)
        _same_frame(got, want)
        assert got.crs.to_epsg() == 4326


def test_geoparquet_one_file_per_layer(city: City, tmp_path: Path) -> None:
    one = export_city(city, tmp_path / "roads.parquet", format="geoparquet", layers="roads",
                      progress=False)
    assert one.path.is_file() and one.files == [one.path]
    _same_frame(gpd.read_parquet(one.path), city.layer_service.data("roads"))
    several = export_city(city, tmp_path / "core", format="geoparquet", progress=False)
    assert several.path.is_dir()
    assert sorted(p.stem for p in several.files) == sorted(several.layers)
    for path in several.files:
        _same_frame(gpd.read_parquet(path), city.layer_service.data(path.stem))


def test_errors_are_clear_and_nothing_is_overwritten(city: City, tmp_path: Path) -> None:
    out = tmp_path / "a.pmtiles"
    out.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="exists"):
        export_city(city, out, format="pmtiles", layers="roads", zooms="14", progress=False)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(LayerNotFound, match="nowhere"):
        export_city(city, tmp_path / "b.pmtiles", layers="roads,nowhere", progress=False)
    with pytest.raises(LayerNotFound, match="without geometry"):
        export_city(city, tmp_path / "b.mbtiles", format="mbtiles", layers="districts")
    with pytest.raises(TileOutOfRange):
        export_city(city, tmp_path / "b.pmtiles", zooms="17-10")
    with pytest.raises(ExportError, match="unknown export format"):
        export_city(city, tmp_path / "b.shp", format="shapefile")
    with pytest.raises(ExportError, match="nothing to write"):  # the fire stations start at z11
        export_city(city, tmp_path / "b.pmtiles", layers="fire_stations", zooms="5-6",
                    progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pmtiles"]  # no partial files
    # overwrite=True replaces it
    export_city(city, out, format="pmtiles", layers="roads", zooms="14", overwrite=True,
                progress=False)
    assert out.read_bytes()[:7] == b"PMTiles"


def test_cli_export(city: City, tmp_path: Path) -> None:
    out = tmp_path / "roads.mbtiles"
    run = subprocess.run([sys.executable, "-m", "twin", "export", "--format", "mbtiles",
                          "--layers", "roads,signals", "--zooms", "14-15", "--bundle",
                          str(city.bundle_dir), "--out", str(out), "--quiet"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "tiles" in run.stdout
    assert {n for n, _ in pyogrio.list_layers(out)} == {"roads", "signals"}
    bad = subprocess.run([sys.executable, "-m", "twin", "export", "--format", "pmtiles",
                          "--layers", "nowhere", "--bundle", str(city.bundle_dir), "--out",
                          str(tmp_path / "x.pmtiles")],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode == 2
    assert "error:" in bad.stderr and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.browser
def test_archive_viewer_shows_a_pmtiles_file_offline(city: City, tmp_path: Path,
                                                     artifacts: Path) -> None:
    """api/static/archive.html opened from disk (file://, no server, every other request
    refused) draws a .pmtiles file chosen in its file input."""
    import shutil

    from playwright.sync_api import sync_playwright

    archive = export_city(city, tmp_path / "core.pmtiles", layers="roads,signals,schools",
                          zooms=(12, 16), progress=False).path
    page_url = (REPO / "api" / "static" / "archive.html").as_uri()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader",
             "--enable-unsafe-swiftshader", "--disable-background-networking"]
    errors: list[str] = []
    refused: list[str] = []

    def only_local(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(("file:", "blob:", "data:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", only_local)
        page.goto(page_url)
        page.set_input_files("#file", str(archive))
        page.wait_for_function("document.body.dataset.archive === 'core.pmtiles' && "
                               "document.body.dataset.mapIdle === '1'", timeout=60_000)
        drawn = page.evaluate(
            "window.citytwinMap.queryRenderedFeatures({layers: ['roads', 'signals']}).length")
        status = page.inner_text("#status")
        attribution = page.inner_text(".maplibregl-ctrl-attrib")
        page.screenshot(path=str(artifacts / "archive_viewer.png"))
        browser.close()
    assert not errors, errors
    assert not refused, refused
    assert drawn > 0
    assert "3 layers" in status
    assert "OpenStreetMap" in attribution
