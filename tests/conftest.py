"""Shared fixtures: the built embedded city and a throwaway PostGIS server."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

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
