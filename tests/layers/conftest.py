"""Fixtures of the layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers import embedded
from twin import City


@pytest.fixture()
def fresh_city(city: City, tmp_path: Path) -> City:
    """A private copy of the city's layers, so edits do not leak into other tests."""
    bundle = tmp_path / "shanghai"
    embedded.write_layers(bundle / "layers", city.layers)
    (bundle / "manifest.json").write_text((city.bundle_dir / "manifest.json").read_text())
    return City.load(bundle)
