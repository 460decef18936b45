"""The web map in a real browser (Debian chromium via Playwright): loads, draws tiles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import create_app
from twin import City, Settings

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def server(city: City, serve_in_thread) -> Iterator[str]:  # noqa: ANN001
    with serve_in_thread(create_app(Settings(), city=city)) as url:
        yield url


def test_web_map_loads_and_draws_tiles(server: str, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    tiles: list[tuple[str, int]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: tiles.append((r.url, r.status)) if "/tiles/" in r.url else None)
        page.goto(server + "/")
        page.wait_for_function("document.body.dataset.mapIdle === '1'", timeout=60_000)
        status = page.inner_text("#status")
        rendered = page.evaluate(
            "window.citytwinMap.queryRenderedFeatures({layers: ['roads', 'signals']}).length")
        attribution = page.inner_text(".maplibregl-ctrl-attrib")
        # click a drawn signal: its popup shows the feature's attributes
        point = page.evaluate("""() => {
            const m = window.citytwinMap;
            const f = m.queryRenderedFeatures({layers: ['signals']})[0];
            const p = m.project(f.geometry.coordinates);
            return [p.x, p.y];
        }""")
        page.mouse.click(point[0], point[1])
        page.wait_for_selector(".maplibregl-popup", timeout=10_000)
        popup = "\n".join(page.locator(".maplibregl-popup").all_inner_texts())
        # toggle a raster on and wait for its tiles
        page.evaluate("document.body.dataset.mapIdle = '0'")
        page.check("input[name='fire_travel_time']")
        page.wait_for_function("document.body.dataset.mapIdle === '1'", timeout=30_000)
        page.screenshot(path=str(artifacts / "webmap.png"))
        browser.close()
    assert not errors, errors
    assert "layers" in status
    mvt = [t for t in tiles if t[0].endswith(".mvt")]
    assert mvt and all(code in (200, 204) for _, code in mvt)
    assert any(code == 200 for _, code in mvt)
    assert any(url.endswith(".png") and code == 200 for url, code in tiles)
    assert rendered > 50
    assert attribution.count("OpenStreetMap") == 1 and "ODbL" in attribution
    assert "Signalized" in popup or "信号灯" in popup
    assert "id" in popup.split()
    assert (artifacts / "webmap.png").stat().st_size > 10_000
