"""OGC API – Features / Tiles latency beside the native endpoints, same queries, same run.

Items: ``/ogc/collections/{layer}/items`` vs ``/layers/{layer}/features`` with the same
seeded bbox, limit, offset and property filter. Tiles: ``/ogc/collections/{layer}/tiles/
WebMercatorQuad/{z}/{y}/{x}`` vs ``/tiles/{layer}/{z}/{x}/{y}.mvt``, cached (steady state)
and uncached (the tile cache emptied before each request: encoding included). Requests go
through the whole ASGI app in-process (Starlette TestClient), native and OGC interleaved
query by query so both see the same machine state. The issue's bar: OGC ≤ 10 % extra.

    .venv/bin/python benchmarks/ogc_api.py [--core] [--queries 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from api import create_app
from layers.tiles import TMS, TileCache
from twin import City, Settings

LAYERS = ("roads", "pois", "homes")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def item_queries(city: City, n: int, seed: int = 7) -> list[tuple[str, dict[str, str]]]:
    """``n`` seeded queries: a ~600 m bbox in the roads extent, a page size, an offset,
    sometimes a property filter."""
    rng = random.Random(seed)
    minx, miny, maxx, maxy = city.layers["roads"].info.bounds
    names = city.layers["roads"].data["highway"].dropna().unique().tolist()
    out = []
    for i in range(n):
        layer = LAYERS[i % len(LAYERS)]
        x, y = rng.uniform(minx, maxx - 0.006), rng.uniform(miny, maxy - 0.006)
        params = {"bbox": f"{x:.5f},{y:.5f},{x + 0.006:.5f},{y + 0.006:.5f}",
                  "limit": str(rng.choice([10, 100, 1000])), "offset": str(rng.choice([0, 0, 10]))}
        if layer == "roads" and i % 2:
            params["highway"] = rng.choice(names)
        out.append((layer, params))
    return out


def tile_list(city: City, n: int, seed: int = 11) -> list[tuple[str, int, int, int]]:
    """``n`` seeded tiles (z14-16) over the roads extent, half roads, half pois."""
    rng = random.Random(seed)
    minx, miny, maxx, maxy = city.layers["roads"].info.bounds
    out = []
    for i in range(n):
        z = rng.choice([14, 15, 16])
        t = TMS.tile(rng.uniform(minx, maxx), rng.uniform(miny, maxy), z)
        out.append(("roads" if i % 2 else "pois", t.z, t.x, t.y))
    return out


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(client: TestClient, city: City, *, queries: int, rounds: int) -> list[tuple[str, list, list]]:
    """Rows of (label, native ms, OGC ms)."""
    rows = []
    items = item_queries(city, queries)
    native, ours = [], []
    for _ in range(rounds):
        for layer, params in items:
            a = client.get(f"/layers/{layer}/features", params=params)
            b = client.get(f"/ogc/collections/{layer}/items", params=params)
            assert a.status_code == b.status_code == 200, (a.text, b.text)
            assert a.json()["numberMatched"] == b.json()["numberMatched"]
            native.append(_time(lambda layer=layer, params=params:
                                client.get(f"/layers/{layer}/features", params=params)))
            ours.append(_time(lambda layer=layer, params=params:
                              client.get(f"/ogc/collections/{layer}/items", params=params)))
    rows.append(("items (bbox, limit 10/100/1000, filters)", native, ours))

    tiles = tile_list(city, queries)
    service = city.layer_service

    def urls(layer: str, z: int, x: int, y: int) -> tuple[str, str]:
        return (f"/tiles/{layer}/{z}/{x}/{y}.mvt",
                f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}")

    for label, cold in (("tiles, cached", False), ("tiles, encoded (cache emptied)", True)):
        native, ours = [], []
        for _ in range(rounds):
            for t in tiles:
                a_url, b_url = urls(*t)
                a, b = client.get(a_url), client.get(b_url)
                assert a.status_code == b.status_code and a.content == b.content, (a_url, b_url)
                for url, sink in ((a_url, native), (b_url, ours)):
                    if cold:
                        service.cache = TileCache()
                    sink.append(_time(lambda url=url: client.get(url)))
        rows.append((label, native, ours))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--core", action="store_true", help="the small shanghai-core city")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.core:
        from twin.build import build_city
        city = City.load(build_city(name="shanghai-core", progress=False))
    else:
        city = City.load()
    city.warm()
    with TestClient(create_app(Settings(), city=city)) as client:
        rows = measure(client, city, queries=args.queries, rounds=args.rounds)
    print(f"\ncity: {city.name}; {args.queries} queries × {args.rounds} rounds, in-process ASGI")
    print("\n| endpoint | native p50 (ms) | OGC p50 (ms) | native p99 (ms) | OGC p99 (ms) "
          "| OGC / native p50 | OGC / native p99 |")
    print("|---|---|---|---|---|---|---|")
    for label, native, ours in rows:
        n50, o50, n99, o99 = (_pct(native, .5), _pct(ours, .5), _pct(native, .99), _pct(ours, .99))
        print(f"| {label} | {n50:.2f} | {o50:.2f} | {n99:.2f} | {o99:.2f} | {o50 / n50:.2f} "
              f"| {o99 / n99:.2f} |")
    means = [statistics.fmean(o) / statistics.fmean(n) for _, n, o in rows]
    print(f"\nmean OGC / native per row: {', '.join(f'{m:.2f}' for m in means)}")


if __name__ == "__main__":
    main()
