"""Address lifecycle (create/edit/retire/merge, versions, as-of, durability) and HTTP."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from address.errors import AddressVersionConflict, CodeNotFound, DuplicateAddress
from address.gazetteer import Gazetteer
from address.service import AddressService
from api import create_app
from layers.versions import FileLog
from twin import City, Settings

EDIT = {"X-API-Key": "k-edit"}


@pytest.fixture()
def service(city: City, tmp_path: Path) -> AddressService:
    gaz = Gazetteer.load(city.bundle_dir / "address")
    return AddressService(gaz, log=FileLog(tmp_path / "addresses.jsonl"))


def test_create_edit_retire_merge_with_versions(service: AddressService, tmp_path: Path) -> None:
    t0 = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    rec = service.create(road="南京东路", number=9001, lon=121.48, lat=31.235)
    code = rec["code"]
    assert rec["version"] == 1 and rec["district_code"] == "310101" and code.startswith("310101")
    assert service.geocode("南京东路9001号")[0]["code"] == code
    with pytest.raises(DuplicateAddress) as dup:
        service.create(road="南京东路", number=9001, lon=121.48, lat=31.235)
    assert dup.value.existing_code == code
    time.sleep(0.01)
    t1 = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    edited = service.update(code, expected_version=1, lon=121.481, names="新店")
    assert edited["code"] == code and edited["version"] == 2 and edited["lon"] == 121.481
    with pytest.raises(AddressVersionConflict) as conflict:
        service.update(code, expected_version=1, lon=121.49)
    assert conflict.value.current_version == 2
    assert service.record(code, as_of=t1)["lon"] == 121.48
    with pytest.raises(CodeNotFound):
        service.record(code, as_of=t0)
    other = service.create(road="南京东路", number=9003, lon=121.48, lat=31.235)
    merged = service.merge(other["code"], into=code, expected_version=1)
    assert merged["status"] == "merged" and merged["merged_into"] == code
    retired = service.retire(code, expected_version=2)
    assert retired["status"] == "retired"
    assert service.geocode("南京东路9001号")[0]["level"] != "door" or \
        service.geocode("南京东路9001号")[0]["code"] != code


def test_log_replay_after_restart(city: City, tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    first = AddressService(Gazetteer.load(city.bundle_dir / "address"), log=FileLog(log))
    code = first.create(road="南京东路", number=9101, lon=121.48, lat=31.235)["code"]
    first.update(code, expected_version=1, names="改")
    second = AddressService(Gazetteer.load(city.bundle_dir / "address"), log=FileLog(log))
    assert second.record(code)["version"] == 2 and second.record(code)["names"] == "改"
    assert second.geocode("南京东路9101号")[0]["code"] == code


def test_processes_sharing_a_log_see_each_other_and_never_reuse_a_code(
        city: City, tmp_path: Path) -> None:
    """Two server workers: each sees the other's edits at its next read, uniqueness and
    versions hold across them, and concurrent creates never hand out one code twice."""
    log = tmp_path / "shared.jsonl"
    a, b = (AddressService(Gazetteer.load(city.bundle_dir / "address"), log=FileLog(log))
            for _ in range(2))
    code = a.create(road="南京东路", number=9301, lon=121.48, lat=31.235)["code"]
    assert b.geocode("南京东路9301号")[0]["code"] == code  # no restart needed
    with pytest.raises(DuplicateAddress):
        b.create(road="南京东路", number=9301, lon=121.48, lat=31.235)
    b.update(code, expected_version=1, names="乙改")
    with pytest.raises(AddressVersionConflict) as stale:
        a.update(code, expected_version=1, names="甲改")
    assert stale.value.current_version == 2 and a.record(code)["names"] == "乙改"

    codes: list[str] = []

    def create(service: AddressService, start: int) -> None:
        for n in range(start, start + 20):
            codes.append(service.create(road="南京东路", number=n, lon=121.48, lat=31.235)["code"])

    threads = [threading.Thread(target=create, args=(s, n))
               for s, n in ((a, 9400), (b, 9500))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 40 and len(set(codes)) == 40
    fresh = AddressService(Gazetteer.load(city.bundle_dir / "address"), log=FileLog(log))
    assert all(fresh.record(c)["status"] == "active" for c in codes)


def test_concurrent_edits_exactly_one_wins(service: AddressService) -> None:
    code = service.create(road="南京东路", number=9201, lon=121.48, lat=31.235)["code"]
    outcomes: list[str] = []

    def edit(i: int) -> None:
        try:
            service.update(code, expected_version=1, names=f"writer {i}")
            outcomes.append("ok")
        except AddressVersionConflict:
            outcomes.append("409")

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1 and outcomes.count("409") == 9
    assert service.record(code)["version"] == 2
    assert len(service.book.changes(code)) == 2


@pytest.fixture()
def client(city: City, tmp_path: Path) -> TestClient:
    app = create_app(Settings(api_keys={"k-edit": "editor", "k-read": "reader"}, max_batch=3),
                     city=city)
    service = AddressService(Gazetteer.load(city.bundle_dir / "address"),
                             log=FileLog(tmp_path / "http.jsonl"))
    with TestClient(app) as c:
        original = city.__dict__.get("address")
        city.__dict__["address"] = service
        yield c
        if original is not None:
            city.__dict__["address"] = original


def test_http_geocode_reverse_records_qr(client: TestClient) -> None:
    res = client.get("/geocode", params={"q": "南京东路635号"}).json()["results"]
    code = res[0]["code"]
    assert client.get(f"/addresses/{code}").json()["address"] == "上海市黄浦区南京东路635号"
    png = client.get(f"/addresses/{code}/qr.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    svg = client.get(f"/addresses/{code}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    rev = client.get("/reverse", params={"lon": res[0]["lon"], "lat": res[0]["lat"]}).json()
    assert rev["address"]["code"] == code


def test_qr_encodes_the_record_url(client: TestClient) -> None:
    from address.qr import qr_png

    code = client.get("/geocode", params={"q": "南京东路635号"}).json()["results"][0]["code"]
    served = client.get(f"/addresses/{code}/qr.png").content
    assert served == qr_png(f"http://127.0.0.1:8000/addresses/{code}")
    assert served != qr_png(f"http://127.0.0.1:8000/addresses/{code[:-1]}0")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/geocode?q=", 422), ("/geocode?q=" + "很" * 5000, 422), ("/geocode?q=%01%02", 400),
     ("/geocode?q=火星基地", 404), ("/geocode?q=南京东路&crs=utm", 422),
     ("/reverse?lon=500&lat=31", 422), ("/addresses/123", 422),
     ("/addresses/9999999999999999999", 404), ("/addresses/9999999999999999999/qr.png", 404)],
)
def test_http_bad_input(client: TestClient, path: str, status: int) -> None:
    res = client.get(path)
    assert res.status_code == status, res.text
    assert res.json()["detail"]


def test_http_batch_and_writes(client: TestClient) -> None:
    ok = client.post("/geocode/batch", json=["南京东路635号", "", "火星"]).json()["results"]
    assert ok[0]["level"] == "door" and ok[1]["error"] and ok[2]["error"]
    assert client.post("/geocode/batch", json=["a"] * 4).status_code == 413
    body = {"road": "南京东路", "number": 9301, "lon": 121.48, "lat": 31.235}
    assert client.post("/addresses", json=body).status_code == 401
    assert client.post("/addresses", json=body, headers={"X-API-Key": "k-read"}).status_code == 403
    created = client.post("/addresses", json=body, headers=EDIT)
    assert created.status_code == 201
    code = created.json()["code"]
    assert client.post("/addresses", json=body, headers=EDIT).status_code == 409
    edit = client.patch(f"/addresses/{code}", json={"version": 1, "names": "x"}, headers=EDIT)
    assert edit.status_code == 200 and edit.json()["version"] == 2
    stale = client.patch(f"/addresses/{code}", json={"version": 1, "names": "y"}, headers=EDIT)
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    gone = client.delete(f"/addresses/{code}", params={"version": 2}, headers=EDIT)
    assert gone.json()["status"] == "retired"
