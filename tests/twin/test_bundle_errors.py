"""A corrupt or missing bundle gives one clear error: BundleError in Python, exit 2 on the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layers.errors import BundleError
from twin import City
from twin.bundle import check_bundle
from twin.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def copy(city: City, tmp_path: Path) -> Path:
    target = tmp_path / "shanghai"
    shutil.copytree(city.bundle_dir / "layers", target / "layers")
    shutil.copy(city.bundle_dir / "manifest.json", target / "manifest.json")
    return target


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_good_copy_checks_and_loads(copy: Path, city: City) -> None:
    assert check_bundle(copy).name == city.name
    assert len(City.load(copy).layers["roads"].data) == len(city.layers["roads"].data)


def test_truncated_parquet(copy: Path) -> None:
    _truncate(copy / "layers" / "roads.parquet")
    with pytest.raises(BundleError, match="roads"):
        check_bundle(copy)
    with pytest.raises(BundleError, match="roads"):
        City.load(copy)


def test_missing_manifest(copy: Path) -> None:
    (copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest.json"):
        check_bundle(copy)
    with pytest.raises(BundleError, match="manifest.json"):
        City.load(copy)


def test_corrupt_manifest_and_layer_metadata(copy: Path) -> None:
    (copy / "layers" / "layers.json").write_text("[{")
    with pytest.raises(BundleError, match="layer metadata"):
        check_bundle(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupt bundle manifest"):
        check_bundle(copy)


def test_serve_refuses_to_start_with_one_message(copy: Path) -> None:
    _truncate(copy / "layers" / "pois.parquet")
    env = {**os.environ, "TWIN_BUNDLE": str(copy)}
    out = subprocess.run([sys.executable, "-m", "twin", "serve", "--port", "1"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.count("error:") == 1 and "Traceback" not in out.stderr
    assert "pois" in out.stderr


def _serve_in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                      **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["twin", "serve", "--port", "1"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    return err


def test_serve_reports_a_missing_manifest(copy: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (copy / "manifest.json").unlink()
    assert "manifest.json" in _serve_in_process(monkeypatch, capsys, TWIN_BUNDLE=str(copy))


def test_serve_reports_bad_settings(copy: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    err = _serve_in_process(monkeypatch, capsys, TWIN_BUNDLE=str(copy), TWIN_CORS_ORIGINS='["*"]')
    assert "TWIN_CORS_ORIGINS" in err


def test_serve_reports_an_unreachable_database(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    err = _serve_in_process(monkeypatch, capsys,
                            TWIN_DATABASE_URL="postgresql://twin:pw@127.0.0.1:1/none")
    assert "cannot reach PostGIS" in err and "pw@" not in err
