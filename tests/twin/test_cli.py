"""The ``twin`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from twin import City

REPO = Path(__file__).resolve().parents[2]


def run_twin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twin", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_info_lists_layers_with_counts_and_licences(city: City) -> None:
    out = run_twin("info", "--bundle", str(city.bundle_dir))
    assert out.returncode == 0, out.stderr
    assert "roads" in out.stdout and "ODbL" in out.stdout and "synthetic" in out.stdout
    summary = json.loads(run_twin("info", "--bundle", str(city.bundle_dir), "--json").stdout)
    counts = {layer["name"]: layer["features"] for layer in summary["layers"]}
    assert counts["roads"] == len(city.layers["roads"].data)


def test_build_is_reused_when_up_to_date(city: City) -> None:
    out = run_twin("build", "--name", city.name, "--quiet")
    assert out.returncode == 0, out.stderr
    assert str(city.bundle_dir) in out.stdout


def test_build_says_what_is_real_and_what_is_generated(city: City) -> None:
    out = run_twin("build", "--name", city.name)
    assert out.returncode == 0, out.stderr
    real = next(line for line in out.stdout.splitlines() if line.startswith("real:"))
    generated = next(line for line in out.stdout.splitlines() if line.startswith("generated:"))
    assert "roads" in real and "schools" in real and "fire_stations" not in real
    assert "fire_stations" in generated and "homes" in generated
    assert "建标152" in out.stdout  # the rule the fire stations were sited by


def test_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    out = run_twin("info", "--bundle", str(tmp_path))
    assert out.returncode == 2
    assert "error:" in out.stderr and "Traceback" not in out.stderr
    out = run_twin("build", "--osm", str(tmp_path / "missing.osm.pbf"), "--name", "x",
                   "--build-dir", str(tmp_path))
    assert out.returncode == 2
    assert "not found" in out.stderr and "Traceback" not in out.stderr
    out = run_twin("load", "--database", "postgresql://postgres@127.0.0.1:1/x")
    assert out.returncode == 2
    assert "cannot reach PostGIS" in out.stderr and "Traceback" not in out.stderr
