"""Several server processes on one bundle: edits through one are seen by the others, and
concurrent edits through different ones lose nothing and never reuse an id."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from layers import embedded
from layers.errors import VersionConflict
from layers.queries import Query
from twin import City


@pytest.fixture()
def bundle(city: City, tmp_path: Path) -> Path:
    path = tmp_path / "shanghai"
    embedded.write_layers(path / "layers", city.layers)
    (path / "manifest.json").write_text((city.bundle_dir / "manifest.json").read_text())
    return path


def _point(i: int) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.47 + i * 1e-4, 31.23]},
            "properties": {"name": f"店{i}", "shop": "bakery"}}


def test_an_edit_in_one_worker_is_seen_by_another(bundle: Path) -> None:
    a, b = City.load(bundle).layer_service, City.load(bundle).layer_service
    before = b.info("pois").version
    b.tile(["pois"], 16, *_tile_xy(), as_of=None)  # warm b's cache
    change = a.create("pois", _point(1))
    assert b.info("pois").version == before + 1
    assert b.feature("pois", str(change.fid))["properties"]["name"] == "店1"
    assert [c.op for c in b.changes("pois")] == ["create"]
    page = b.query("pois", Query(filters={"name": "店1"}))
    assert list(page.index) == [change.fid]
    # b's cached tile of the old version is not served: the new feature is in b's tile
    tile = b.tile(["pois"], 16, *_tile_xy())
    assert "店1".encode() in tile.data
    # b edits on top of a's edit; a stale version from a conflicts
    b.update("pois", str(change.fid), {"properties": {"name": "店1b"}}, version=1)
    with pytest.raises(VersionConflict):
        a.update("pois", str(change.fid), {"properties": {"name": "lost"}}, version=1)
    assert a.feature("pois", str(change.fid))["properties"]["name"] == "店1b"


def _tile_xy() -> tuple[int, int]:
    from layers.tiles import TMS

    t = TMS.tile(121.4701, 31.23, 16)
    return t.x, t.y


def test_concurrent_creates_across_workers_lose_nothing(bundle: Path) -> None:
    services = [City.load(bundle).layer_service for _ in range(3)]
    fids: list = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for i in range(8):
            change = services[k % 3].create("pois", _point(100 * k + i))
            with lock:
                fids.append(change.fid)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fids) == 48 and len(set(fids)) == 48
    restarted = City.load(bundle).layer_service
    for service in [*services, restarted]:
        data = service.data("pois")
        assert set(fids) <= set(data.index)
        assert len(service.changes("pois")) == 48
        assert service.info("pois").version == services[0].info("pois").version


def test_a_torn_last_line_is_dropped_and_editing_goes_on(bundle: Path) -> None:
    service = City.load(bundle).layer_service
    first = service.create("pois", _point(1))
    log = service.edits_dir / "pois.jsonl"
    with log.open("ab") as fh:  # a crash in the middle of writing a line
        fh.write(b'{"layer_version": 99, "op": "cre')
    other = City.load(bundle).layer_service
    assert len(other.changes("pois")) == 1
    second = other.create("pois", _point(2))
    assert second.fid != first.fid
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(line.endswith("}") for line in lines)
    restarted = City.load(bundle).layer_service
    assert {c.fid for c in restarted.changes("pois")} == {first.fid, second.fid}
    assert service.feature("pois", str(second.fid))["properties"]["name"] == "店2"
