"""The batch jobs on a real Dask cluster: a scheduler and two worker processes started
here, each in an empty directory of its own (they share no path with the client), and
the results equal to the in-process path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from twin import City

distributed = pytest.importorskip("distributed")

from twin.batch.bikes import aggregate_file, count_trips, merge_counts  # noqa: E402
from twin.batch.cluster import batch_client, map_ordered, ship_city  # noqa: E402
from twin.batch.coverage import _remote as coverage_task  # noqa: E402
from twin.batch.coverage import coverage_sweep  # noqa: E402
from twin.batch.errors import ClusterUnavailable, InvalidBatchInput  # noqa: E402
from twin.batch.export import export_tiles_batch  # noqa: E402
from twin.batch.geocode import GEO_TYPES, geocode_file  # noqa: E402
from twin.bikes import service_from_layers  # noqa: E402
from twin.bikes.trips import generate_trips, read_trips  # noqa: E402
from twin.export import export_tiles  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a scheduler with two single-threaded worker processes, on free ports;
    every process runs in an empty directory of its own and is killed at teardown."""
    root = tmp_path_factory.mktemp("dask")
    info = root / "scheduler.json"
    procs: list[subprocess.Popen] = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def start(args: list[str], name: str) -> None:
        cwd = root / name
        cwd.mkdir()
        log = (root / f"{name}.log").open("w")
        procs.append(subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env,
                                      stdout=log, stderr=subprocess.STDOUT))

    try:
        start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
               "--no-dashboard", "--scheduler-file", str(info)], "scheduler")
        deadline = time.monotonic() + 30
        while not info.is_file() or not info.read_text().strip():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                pytest.fail("the Dask scheduler did not start: "
                            + (root / "scheduler.log").read_text()[-2000:])
            time.sleep(0.1)
        time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for i in (1, 2):
            start(["distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1",
                   "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "1GB",
                   "--local-directory", str(root / f"worker{i}")], f"worker{i}")
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(procs[1:])
        _stop(procs[:1])


@pytest.fixture(scope="module")
def client(scheduler: str) -> Iterator[distributed.Client]:
    with batch_client(scheduler=scheduler) as c:
        yield c


def _messy(city: City, n: int) -> list[str | None]:
    """Good door addresses of the fixture, with messy variants, and junk."""
    doors = city.address.gazetteer.doors
    doors = doors[doors["status"] == "active"] if "status" in doors.columns else doors
    rng = np.random.default_rng(5)
    out: list[str | None] = []
    for i in range(n):
        row = doors.iloc[int(rng.integers(len(doors)))]
        good = f"{row['road']}{row['number']}号"
        kind = i % 6
        if kind == 0:
            out.append(good)
        elif kind == 1:
            out.append(f"上海市 {row['road']} {row['number']} 号")
        elif kind == 2:
            out.append(f"{row['road']}{row['number']}號 近地铁站")
        elif kind == 3:
            out.append(f"不存在路{rng.integers(1, 999)}号")
        elif kind == 4:
            out.append(["", "???", "12345", "abc def"][i % 4])
        else:
            out.append(None if i % 12 == 5 else good.replace("号", ""))
    return out


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Compare values, not dtypes: missing as None."""
    return frame.astype(object).where(frame.notna(), None).reset_index(drop=True)


def test_geocode_on_the_cluster_equals_in_process(city: City, client: distributed.Client,
                                                  tmp_path: Path) -> None:
    table = pd.DataFrame({"id": [f"r{i}" for i in range(400)], "addr": _messy(city, 400)})
    source = tmp_path / "addresses.csv"
    table.to_csv(source, index=False)
    out = tmp_path / "geocoded.parquet"
    report = geocode_file(city, source, column="addr", out=out, client=client,
                          partition_rows=37, progress=False)
    assert report.rows == 400 and report.partitions == 11 and report.workers == 2
    got = pd.read_parquet(out)
    read = pd.read_csv(source, dtype=str)
    expected = pd.concat([read, city.address.geocode_many(read, column="addr")
                          .drop(columns="input").add_prefix("geo_")], axis=1)
    assert list(got.columns) == ["id", "addr", *(f"geo_{c}" for c in GEO_TYPES)]
    assert got["id"].tolist() == table["id"].tolist()  # one row per input row, in order
    pd.testing.assert_frame_equal(_strings(got), _strings(expected))
    assert 0 < report.failed < 400 and got["geo_code"].notna().sum() > 150
    # each worker opened the gazetteer from its own directory, not the client's
    dirs = client.run(lambda dask_worker: (os.getcwd(), sorted(
        p.name for p in (Path(dask_worker.local_directory) / "citytwin").iterdir())))
    assert all(str(REPO) not in cwd for cwd, _ in dirs.values())
    assert all(keys for _, keys in dirs.values())


def test_geocode_parquet_in_process_and_on_the_cluster(city: City, client: distributed.Client,
                                                       tmp_path: Path) -> None:
    table = pd.DataFrame({"n": np.arange(150), "addr": _messy(city, 150)})
    source = tmp_path / "addresses.parquet"
    table.to_parquet(source, row_group_size=40)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    geocode_file(city, source, column="addr", out=a, client=None, partition_rows=50,
                 progress=False)
    geocode_file(city, source, column="addr", out=b, client=client, partition_rows=50,
                 progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    assert pd.read_parquet(b)["n"].tolist() == list(range(150))
    with pytest.raises(InvalidBatchInput, match="column 'address'"):
        geocode_file(city, source, column="address", out=a, client=client, progress=False)


@pytest.fixture(scope="module")
def trips_file(city: City, tmp_path_factory: pytest.TempPathFactory) -> Path:
    trips = generate_trips(city.bikes.generator_cells(), 10, trips_per_day=1500, seed=4)
    trips.loc[[3, 50], "end_location_y"] = np.nan  # ingest drops them
    path = tmp_path_factory.mktemp("trips") / "trips.csv"
    trips.drop(columns="source").to_csv(path, index=False)
    return path


def test_bikes_on_the_cluster_equal_in_process(city: City, client: distributed.Client,
                                               trips_file: Path, tmp_path: Path) -> None:
    expected = service_from_layers(city.layers, trips=read_trips(trips_file)).quotas(res=9)
    out = tmp_path / "cells.parquet"
    report = aggregate_file(city, trips_file, out=out, client=client, partition_rows=1000,
                            progress=False)
    assert report.partitions > 10 and report.rows == report.ingested + 2
    got = gpd.read_parquet(out)
    pd.testing.assert_frame_equal(got[list(expected.columns)].drop(columns="geometry"),
                                  pd.DataFrame(expected.drop(columns="geometry"))
                                  .reset_index(drop=True))
    assert got.geometry.geom_equals(expected.geometry.reset_index(drop=True)).all()
    assert (got["basis"] == "real").all() and got["pickups_total"].sum() > 0
    local = tmp_path / "local.parquet"
    aggregate_file(city, trips_file, out=local, client=None, partition_rows=4000, progress=False)
    pd.testing.assert_frame_equal(gpd.read_parquet(local), got)


def test_trip_counts_merge_in_any_order(trips_file: Path) -> None:
    frame = pd.read_csv(trips_file, nrows=3000)
    parts = [count_trips(frame.iloc[i:i + 700]) for i in range(0, 3000, 700)]
    whole = count_trips(frame)
    for merged in (merge_counts(*parts), merge_counts(*parts[::-1])):
        pd.testing.assert_series_equal(merged.pickups, whole.pickups)
        pd.testing.assert_series_equal(merged.dropoffs, whole.dropoffs)
        assert merged.rows == whole.rows and len(merged.bikes) == len(whole.bikes)


def test_coverage_sweep_equals_per_station_calls(city: City, client: distributed.Client,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "coverage.parquet"
    report = coverage_sweep(city, out=out, client=client, progress=False)
    got = pd.read_parquet(out)
    stations = city.routing.stations
    assert report.stations == len(stations)
    removed = got[got["station"].notna()]
    assert removed["station"].tolist() == stations["id"].tolist()
    for row in removed.itertuples():
        ref = city.routing.coverage(vehicle=row.vehicle, minutes=5,
                                    remove_stations=[row.station])
        assert row.stations_left == ref["stations"]
        assert row.road_length_share_gw == ref["with_green_wave"]["road_length_share"]
        assert row.household_share_gw == ref["with_green_wave"]["household_share"]
        assert row.road_length_share_nogw == ref["without_green_wave"]["road_length_share"]
        assert row.household_share_nogw == ref["without_green_wave"]["household_share"]
    base = got[got["station"].isna()].set_index("vehicle")
    full = city.routing.coverage(vehicle="fire", minutes=5)
    assert base.loc["fire", "road_length_share_gw"] == full["with_green_wave"]["road_length_share"]


def test_workers_never_read_the_clients_bundle(city: City, client: distributed.Client,
                                               tmp_path: Path) -> None:
    """Ship a copy of the bundle, delete the copy, then run the what-ifs: the workers have
    only what was shipped."""
    copy = tmp_path / city.bundle_dir.name
    shutil.copytree(city.bundle_dir, copy, ignore=shutil.ignore_patterns("rasters"))
    moved = City.load(copy, build=False)
    ref = ship_city(client, moved, "city")
    shutil.rmtree(copy)
    assert str(tmp_path) not in repr(ref)
    whatifs = [("F1", "fire", 5.0), (None, "ambulance", 5.0)]
    rows = client.submit(coverage_task, ref, whatifs, pure=False).result()
    ref_f1 = city.routing.coverage(vehicle="fire", minutes=5, remove_stations=["F1"])
    assert rows[0]["road_length_share_gw"] == ref_f1["with_green_wave"]["road_length_share"]
    assert rows[1]["stations_left"] == len(city.routing.stations.query("kind == 'ambulance'"))


def test_map_ordered_keeps_order_and_raises_task_errors(client: distributed.Client) -> None:
    # builtins: the workers cannot import this test module
    items = [str(i) for i in range(30)]
    assert list(map_ordered(client, int, items, max_in_flight=3, scatter=False,
                            progress=False)) == list(range(30))
    with pytest.raises(ValueError, match="invalid literal"):
        list(map_ordered(client, int, ["1", "2", "x", "4"], scatter=False, progress=False))


def test_cli_batch_jobs(city: City, scheduler: str, trips_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    pd.DataFrame({"addr": _messy(city, 60)}).to_csv(source, index=False)
    common = ["--bundle", str(city.bundle_dir), "--quiet"]

    def twin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "twin", "batch", *args, *common],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120)

    remote = twin("geocode", str(source), "--column", "addr", "--out", "r.parquet",
                  "--scheduler", scheduler, "--partition-rows", "25")
    assert remote.returncode == 0, remote.stderr
    local = twin("geocode", str(source), "--column", "addr", "--out", "l.parquet",
                 "--dask-workers", "0")
    assert local.returncode == 0, local.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"),
                                  pd.read_parquet(tmp_path / "l.parquet"))
    sweep = twin("coverage", "--remove-each-station", "--out", "c.parquet", "--scheduler",
                 scheduler)
    assert sweep.returncode == 0, sweep.stderr
    assert len(pd.read_parquet(tmp_path / "c.parquet")) == len(city.routing.stations) + 2
    bad = twin("bikes", str(source), "--out", "b.parquet", "--dask-workers", "0")
    assert bad.returncode == 2 and "Mobike columns" in bad.stderr and "Traceback" not in bad.stderr


def _archive_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    """Every tile of a PMTiles or MBTiles archive, gzipped as stored."""
    import sqlite3

    from pmtiles.reader import MmapSource, all_tiles

    if path.suffix == ".pmtiles":
        with open(path, "rb") as f:
            return dict(all_tiles(MmapSource(f)))
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
        return {(z, x, (1 << z) - 1 - row): data for z, x, row, data in rows}


@pytest.mark.parametrize("fmt", ["pmtiles", "mbtiles"])
def test_export_on_the_cluster_equals_in_process(city: City, client: distributed.Client,
                                                 tmp_path: Path, fmt: str) -> None:
    import gzip

    import mapbox_vector_tile

    local = export_tiles(city.layer_service, tmp_path / f"local.{fmt}", format=fmt,
                         zooms=(12, 14), progress=False)
    report = export_tiles_batch(city, tmp_path / f"dask.{fmt}", client=client, format=fmt,
                                zooms="12-14", partition_tiles=40, progress=False)
    remote = report.result
    assert report.workers == 2 and report.partitions > 4  # several partitions per zoom
    assert report.candidates >= remote.tiles == local.tiles > 0
    assert (remote.layers, remote.zooms, remote.features) == (local.layers, local.zooms,
                                                             local.features)
    got, want = _archive_tiles(remote.path), _archive_tiles(local.path)
    assert got == want  # tile for tile, byte for byte
    if fmt == "pmtiles":  # same tiles, same order, same metadata: the same file
        assert remote.path.read_bytes() == local.path.read_bytes()
    zxy = sorted(got)[len(got) // 2]
    decoded = mapbox_vector_tile.decode(gzip.decompress(got[zxy]))
    assert decoded == mapbox_vector_tile.decode(gzip.decompress(want[zxy]))
    server = b"".join(city.layer_service.tile([n], *zxy).data for n in local.layers)
    assert gzip.decompress(got[zxy]) == server and decoded
    # both workers encoded partitions, from their own shipped copy of the city
    dirs = client.run(lambda dask_worker: sorted(
        p.name for p in (Path(dask_worker.local_directory) / "citytwin").iterdir()))
    assert all(dirs.values())


def test_cli_batch_export(city: City, scheduler: str, tmp_path: Path) -> None:
    common = ["--layers", "roads,signals", "--zooms", "13-15", "--bundle", str(city.bundle_dir),
              "--quiet", "--format", "mbtiles"]

    def twin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "twin", "batch", "export", *common, *args],
                              capture_output=True, text=True, cwd=tmp_path, timeout=180)

    remote = twin("--out", "r.mbtiles", "--scheduler", scheduler, "--partition-tiles", "30")
    assert remote.returncode == 0, remote.stderr
    assert "tiles" in remote.stdout and "2 workers" in remote.stdout
    local = twin("--out", "l.mbtiles", "--dask-workers", "0")
    assert local.returncode == 0, local.stderr
    assert _archive_tiles(tmp_path / "r.mbtiles") == _archive_tiles(tmp_path / "l.mbtiles")
    again = twin("--out", "r.mbtiles", "--dask-workers", "0")  # no --force: kept
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with pytest.raises(ClusterUnavailable), batch_client(scheduler="tcp://127.0.0.1:9",
                                                         timeout=2):
        pass
