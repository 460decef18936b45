"""A realistic concurrent mix on loopback against ``twin serve`` run as in production.

The server is started the way the README's "Run in production" section says (``twin serve
--workers 2``, request time budget, keep-alive) on a private copy of the embedded city, and
an asyncio client (aiohttp: httpx tops out near 150 req/s on loopback) sends an open-loop
mix at fixed arrival rates for a bounded time:

* ``tile``      vector tiles ``roads,pois`` z12-z16 over the core (People's Square)
* ``geocode``   messy addresses from ``benchmarks/data/address_eval.csv``
* ``emergency`` ``POST /routes/emergency`` from a fire station to a random road node
* ``features``  ``GET /layers/pois/features?bbox=`` over small random boxes
* ``edit``      a trickle of authenticated edits: create a POI, then rename it at its
                version; or create a standard address, then edit it at its version

Latency is measured from each request's scheduled send time (no coordinated omission).
Every request whose answer is not the expected 2xx/304 counts as an error. At the end,
every accepted edit must be in ``/layers/pois/changes`` and in the final features, and
every accepted address in its record at its last version (zero lost edits). Prints a
Markdown table per endpoint: requests/s, p50, p99, errors.

    .venv/bin/python benchmarks/load_mix.py --seconds 20 --scale 1
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import morecantile
import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from _server import REPO, production_server  # noqa: E402

CORE = (121.4611, 31.2196, 121.4863, 31.2412)  # the road network's bounds
EDIT_KEY = "load-editor"
#: emergency runs are created by dispatchers
DISPATCH_KEY = "load-dispatcher"
#: arrivals per second of each request kind at --scale 1
RATES = {"tile": 40.0, "geocode": 10.0, "emergency": 10.0, "features": 10.0, "edit": 0.2}
TMS = morecantile.tms.get("WebMercatorQuad")


@dataclass
class Stats:
    """Latencies (ms) and failures of one request kind."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(what)


@dataclass
class Edits:
    """Accepted edits in acceptance order: POIs as (fid, feature_version, name), standard
    addresses as (code, version, names)."""

    accepted: list[tuple[str, int, str]] = field(default_factory=list)
    addresses: list[tuple[str, int, str]] = field(default_factory=list)


def core_tiles() -> list[tuple[int, int, int]]:
    """Every z12-z16 tile over the core."""
    tiles = []
    for z in range(12, 17):
        tiles += [(t.z, t.x, t.y) for t in TMS.tiles(*CORE, [z])]
    return tiles


def messy_addresses() -> list[str]:
    """The labelled evaluation queries (clean, traditional, typos, wrong district, tails)."""
    with (REPO / "benchmarks" / "data" / "address_eval.csv").open(encoding="utf-8") as fh:
        return [row["query"] for row in csv.DictReader(fh)]


@dataclass
class Answer:
    """Status and body of a response."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """A thin aiohttp session bound to the server's base URL."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.session.request(method, self.base + path, **kwargs) as response:
            return Answer(response.status, await response.read())

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PATCH", path, **kwargs)


class Mix:
    """The request generators, sharing one client and one random stream."""

    def __init__(self, client: Client, rng: random.Random, nodes: list[list[float]],
                 stations: list[str]) -> None:
        self.client = client
        self.rng = rng
        self.tiles = core_tiles()
        self.addresses = messy_addresses()
        self.nodes = nodes
        self.stations = stations
        self.edits = Edits()
        self.serial = 0

    async def tile(self) -> Answer:
        z, x, y = self.rng.choice(self.tiles)
        return await self.client.get(f"/tiles/roads,pois/{z}/{x}/{y}.mvt")

    async def geocode(self) -> Answer:
        return await self.client.get("/geocode", params={"q": self.rng.choice(self.addresses)})

    async def emergency(self) -> Answer:
        lon, lat = self.rng.choice(self.nodes)
        body = {"origin": {"station": self.rng.choice(self.stations)},
                "destination": {"lon": lon, "lat": lat}, "vehicle": "fire"}
        return await self.client.post("/routes/emergency", json=body,
                                      headers={"X-API-Key": DISPATCH_KEY})

    async def features(self) -> Answer:
        w, h = 0.004, 0.003
        x = self.rng.uniform(CORE[0], CORE[2] - w)
        y = self.rng.uniform(CORE[1], CORE[3] - h)
        return await self.client.get("/layers/pois/features",
                                     params={"bbox": f"{x},{y},{x + w},{y + h}", "limit": 100})

    async def edit(self) -> Answer:
        """Every other edit a POI (create, rename), else a standard address (create, edit)."""
        self.serial += 1
        return await (self.poi_edit() if self.serial % 2 else self.address_edit())

    async def address_edit(self) -> Answer:
        headers = {"X-API-Key": EDIT_KEY}
        created = await self.client.post("/addresses", headers=headers, json={
            "road": "南京东路", "number": 20_000 + self.serial,
            "lon": self.rng.uniform(121.472, 121.486), "lat": 31.2365})
        if created.status != 201:
            return created
        code = created.json()["code"]
        self.edits.addresses.append((code, 1, ""))
        names = f"负载测试{self.serial}"
        edited = await self.client.patch(f"/addresses/{code}", headers=headers,
                                         json={"version": 1, "names": names})
        if edited.status == 200:
            self.edits.addresses.append((code, 2, names))
        return edited

    async def poi_edit(self) -> Answer:
        name = f"负载测试店{self.serial}"
        lon = self.rng.uniform(CORE[0], CORE[2])
        lat = self.rng.uniform(CORE[1], CORE[3])
        headers = {"X-API-Key": EDIT_KEY}
        created = await self.client.post("/layers/pois/features", headers=headers, json={
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"name": name, "shop": "bakery"}})
        if created.status != 201:
            return created
        fid = str(created.json()["fid"])
        self.edits.accepted.append((fid, 1, name))
        renamed = await self.client.patch(f"/layers/pois/features/{fid}", headers=headers,
                                          params={"version": 1},
                                          json={"properties": {"name": name + "·改"}})
        if renamed.status == 200:
            self.edits.accepted.append((fid, 2, name + "·改"))
        return renamed


EXPECTED = {"tile": {200, 204, 304}, "geocode": {200}, "emergency": {200}, "features": {200},
            "edit": {200, 201}}


async def _one(kind: str, call: Callable[[], Awaitable[Answer]], scheduled: float,
               stats: Stats) -> None:
    try:
        response = await call()
    except (TimeoutError, aiohttp.ClientError) as exc:
        stats.fail(f"{exc.__class__.__name__}: {exc}")
        return
    stats.latencies.append((time.perf_counter() - scheduled) * 1000)
    if response.status not in EXPECTED[kind]:
        stats.fail(f"{response.status} {response.text[:160]}")


async def drive(mix: Mix, seconds: float, rates: dict[str, float],
                seed: int) -> tuple[dict[str, Stats], float]:
    """Send each kind at its rate (Poisson arrivals) for ``seconds``; wait for the answers."""
    stats = {kind: Stats() for kind in rates}
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()

    async def arrivals(kind: str, rate: float, rng: random.Random) -> None:
        due = start
        while True:
            due += rng.expovariate(rate)
            if due - start >= seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(kind, getattr(mix, kind), due, stats[kind])))

    await asyncio.gather(*(arrivals(kind, rate, random.Random(f"{seed}-{kind}"))
                           for kind, rate in rates.items()))
    await asyncio.gather(*tasks)
    return stats, time.perf_counter() - start


async def verify_edits(client: Client, edits: Edits) -> tuple[int, int]:
    """(accepted edits, lost edits): each must be in the change log and the final state."""
    log = (await client.get("/layers/pois/changes")).json()["changes"]
    logged = {(str(c["fid"]), c["feature_version"]) for c in log}
    final: dict[str, tuple[int, str]] = {}
    for fid, version, name in edits.accepted:
        final[fid] = (version, name)
    lost = sum((fid, version) not in logged for fid, version, _ in edits.accepted)
    for fid, (version, name) in final.items():
        feature = (await client.get(f"/layers/pois/features/{fid}")).json()
        props = feature.get("properties", {})
        if props.get("_version") != version or props.get("name") != name:
            lost += 1
    latest: dict[str, tuple[int, str]] = {}
    for code, version, names in edits.addresses:
        latest[code] = (version, names)
    for code, (version, names) in latest.items():  # codes are unique: one entry per code
        record = (await client.get(f"/addresses/{code}")).json()
        if record.get("version") != version or (record.get("names") or "") != names:
            lost += 1
    return len(edits.accepted) + len(edits.addresses), lost


async def routable_nodes(client: Client, station: str, rng: random.Random,
                         count: int = 60) -> list[list[float]]:
    """Road nodes an emergency route reaches (dead ends of the clipped network are left out)."""
    features = (await client.get("/layers/nodes/features", params={"limit": 1000})).json()["features"]
    points = [f["geometry"]["coordinates"] for f in rng.sample(features, min(count, len(features)))]
    answers = await asyncio.gather(*(client.post("/routes/emergency", json={
        "origin": {"station": station}, "destination": {"lon": lon, "lat": lat}},
        headers={"X-API-Key": DISPATCH_KEY}) for lon, lat in points))
    return [p for p, r in zip(points, answers, strict=True) if r.status == 200]


async def run(base: str, seconds: float, scale: float, seed: int, *, workers: int,
              kinds: list[str]) -> None:
    connector = aiohttp.TCPConnector(limit=128)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Client(session, base)
        stations = [f["properties"]["id"] for f in
                    (await client.get("/layers/fire_stations/features")).json()["features"]]
        nodes = await routable_nodes(client, stations[0], random.Random(seed))
        mix = Mix(client, random.Random(seed), nodes, stations)
        for _ in range(4 * workers):  # warm every worker's lazily opened services
            await asyncio.gather(*(getattr(mix, kind)() for kind in kinds if kind != "edit"))
        stats, elapsed = await drive(mix, seconds, {k: RATES[k] * scale for k in kinds}, seed)
        accepted, lost = await verify_edits(client, mix.edits)
    offered = sum(RATES[k] for k in kinds) * scale
    print(f"\n{seconds:.0f} s at scale {scale:g} (offered {offered:.0f} req/s), wall {elapsed:.1f} s,"
          f" server: twin serve --workers {workers}\n")
    print("| endpoint | requests | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for kind, s in stats.items():
        lat = np.array(s.latencies) if s.latencies else np.array([np.nan])
        n = len(s.latencies) + (s.errors if not s.latencies else 0)
        print(f"| {kind} | {n} | {len(s.latencies) / elapsed:.1f} | {np.percentile(lat, 50):.1f} | "
              f"{np.percentile(lat, 99):.1f} | {s.errors} |")
    print(f"\naccepted edits: {accepted}, lost edits: {lost}")
    for kind, s in stats.items():
        for sample in s.samples:
            print(f"  {kind} error: {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the mix")
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0],
                        help="multipliers of the arrival rates, one run each")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--kinds", nargs="+", choices=list(RATES), default=list(RATES),
                        help="request kinds to send")
    args = parser.parse_args()
    from twin.build import build_city

    source = build_city(progress=False)
    tmp = Path(tempfile.mkdtemp(prefix="citytwin-load-"))
    try:
        for scale in args.scale:
            bundle = tmp / f"shanghai-{scale:g}"
            shutil.copytree(source, bundle)  # a private copy: edits do not touch the real one
            env = {**os.environ, "TWIN_BUNDLE": str(bundle),
                   "TWIN_API_KEYS": json.dumps({EDIT_KEY: "editor", DISPATCH_KEY: "dispatcher"}),
                   "TWIN_REQUEST_TIMEOUT": "10"}
            with production_server(workers=args.workers, env=env) as (base, _):
                asyncio.run(run(base, args.seconds, scale, args.seed, workers=args.workers,
                                kinds=args.kinds))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
