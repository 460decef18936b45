"""Shared fixtures: the built embedded city and a throwaway PostGIS server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from twin import City

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def city() -> City:
    """The 2.4 km centre of the embedded city (``shanghai-core``): the fast fixture."""
    from twin.build import build_city

    return City.load(build_city(name="shanghai-core", progress=False))


@pytest.fixture(scope="session")
def central_city() -> City:
    """The embedded default city, central Shanghai (~13.5 × 11 km), for the tests that
    must hold at full scale."""
    return City.load()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Directory for test artefacts (screenshots, rendered maps)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """URL of a PostGIS database: ``TWIN_TEST_DATABASE_URL``, else a throwaway cluster."""
    url = os.environ.get("TWIN_TEST_DATABASE_URL")
    if url:
        yield url
        return
    script = REPO / "scripts" / "pgtest.sh"
    pgdir = tempfile.mkdtemp(prefix="citytwin-pg.")
    started = subprocess.run([str(script), "start", pgdir], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail(f"cannot start a PostGIS test cluster: {started.stderr.strip()}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(script), "stop", pgdir], capture_output=True)


@pytest.fixture(scope="session")
def serve_in_thread() -> Callable[[object], AbstractContextManager[str]]:
    """``with serve_in_thread(app) as url:`` serves an app for real HTTP clients."""
    return _serve_in_thread


@contextmanager
def _serve_in_thread(app: object) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yield its URL.

    For clients that must talk HTTP for real (a browser, routingpy) and do not hold the
    GIL while waiting (GDAL does: its tests start the server in a subprocess).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


#: API keys of the servers the tests start, one per role.
TEST_KEYS = {"k-reader": "reader", "k-editor": "editor", "k-dispatcher": "dispatcher",
             "k-planner": "planner", "k-admin": "admin"}


def copy_bundle(city: City, target: Path) -> Path:
    """A private copy of a city's bundle (its edits stay beside the copy)."""
    from layers import embedded

    embedded.write_layers(target / "layers", city.layers)
    for name in ("manifest.json", "division.json"):
        if (city.bundle_dir / name).is_file():
            shutil.copy(city.bundle_dir / name, target / name)
    if (city.bundle_dir / "routing").is_dir():
        shutil.copytree(city.bundle_dir / "routing", target / "routing")
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _twin_server(*, workers: int = 2, bundle: Path | None = None,
                 database_url: str | None = None, **env: str) -> Iterator[str]:
    """``twin serve --workers N`` in a subprocess on a free port; yields its URL once every
    worker answers ``/health``."""
    port = _free_port()
    environ = {**os.environ, "TWIN_API_KEYS": json.dumps(TEST_KEYS), "TWIN_RATE_LIMIT": "0",
               **env}
    if bundle is not None:
        environ["TWIN_BUNDLE"] = str(bundle)
    if database_url is not None:
        environ["TWIN_DATABASE_URL"] = database_url
    proc = subprocess.Popen([sys.executable, "-m", "twin", "serve", "--port", str(port),
                             "--workers", str(workers)], cwd=REPO, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline, seen = time.time() + 180, set()
    try:
        while len(seen) < workers:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"twin serve did not start: {proc.stderr.read()[-2000:]}")
            try:  # a fresh connection each time, so the kernel spreads them over workers
                seen.add(httpx.get(f"{url}/health", timeout=5).json()["worker"])
            except (httpx.HTTPError, KeyError, ValueError):
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def twin_server() -> Callable[..., AbstractContextManager[str]]:
    """``with twin_server(bundle=path) as url:`` — a real multi-worker server (``TEST_KEYS``)."""
    return _twin_server


@pytest.fixture(scope="session")
def test_keys() -> dict[str, str]:
    """Role -> API key of the servers the tests start (``TEST_KEYS``)."""
    return {role: key for key, role in TEST_KEYS.items()}


@pytest.fixture()
def private_city(city: City, tmp_path: Path) -> City:
    """The fast fixture city on a private copy of its bundle: edits stay in the test."""
    return City.load(copy_bundle(city, tmp_path / city.bundle_dir.name))
