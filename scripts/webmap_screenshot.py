"""Render the web map of a served twin to a PNG (the README's picture).

    .venv/bin/python scripts/webmap_screenshot.py --url http://127.0.0.1:8000 --out docs/webmap.png

Needs a running ``twin serve`` and Debian chromium (Playwright drives it).
"""

from __future__ import annotations

import argparse

from playwright.sync_api import sync_playwright

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/webmap.png")
    parser.add_argument("--raster", default="fire_travel_time", help="raster to switch on")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(args.url + "/")
        page.wait_for_function("document.body.dataset.mapIdle === '1'", timeout=120_000)
        if args.raster:
            page.evaluate("document.body.dataset.mapIdle = '0'")
            page.check(f"input[name='{args.raster}']")
            page.wait_for_function("document.body.dataset.mapIdle === '1'", timeout=60_000)
        page.screenshot(path=args.out)
        browser.close()


if __name__ == "__main__":
    main()
