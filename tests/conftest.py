"""Shared fixtures: the built embedded city and a throwaway PostGIS server."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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
