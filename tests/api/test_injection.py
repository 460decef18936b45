"""SQL-injection and path-traversal strings in every string parameter of every operation.

The operations and their parameters come from the app's own OpenAPI schema; each string
(path, query, JSON body field) gets each hostile value while the other parameters stay
plausible. No answer may be a server error or leak a file, and on PostGIS every table keeps
its rows.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from layers import embedded
from layers.postgis import connect
from twin import City, Settings
from twin.database import write_city_layers

KEY = "inject-editor"
HOSTILE = [
    "' OR '1'='1",
    "1; DROP TABLE inject.pois; --",
    "'); DELETE FROM inject._edits; --",
    "pois\"; DROP SCHEMA inject CASCADE; --",
    "1 UNION SELECT usename, passwd FROM pg_shadow --",
    "../../../../../../etc/passwd",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "/etc/passwd",
    "bad\x00byte",
    "$(cat /etc/passwd)",
]
#: Plausible values of path parameters, by name.
PATH_VALUES = {"name": "pois", "layers": "pois", "layer": "pois", "fid": "1",
               "code": "3100000000001000001", "run_id": "run-1", "z": 14, "x": 13720, "y": 6694}
NUMBERS = {"lon": 121.4737, "lat": 31.2304, "minutes": 5, "radius": 200, "number": 12,
           "version": 1, "limit": 5, "res": 9, "hour": 8}
GEOJSON = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.4737, 31.2304]},
           "properties": {"name": "x"}}


def schema_ref(ref: str) -> list[str]:
    return ref.lstrip("#/").split("/")


def deref(spec: dict, schema: dict) -> dict:
    """Follow ``$ref`` and take the first non-null branch of ``anyOf``."""
    while True:
        if "$ref" in schema:
            node: Any = spec
            for part in schema_ref(schema["$ref"]):
                node = node[part]
            schema = node
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        else:
            return schema


def sample(spec: dict, schema: dict, name: str = "") -> Any:
    """A plausible value of a schema."""
    schema = deref(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind in ("integer", "number"):
        value = NUMBERS.get(name, 1)
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None and value <= low:
            value = low + 1
        if high is not None and value >= high:
            value = high
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(spec, schema.get("items", {}), name)]
    if kind == "object" and "properties" in schema:
        return {k: sample(spec, v, k) for k, v in schema["properties"].items()
                if k in schema.get("required", [])}
    if kind == "object":
        return copy.deepcopy(GEOJSON)
    return PATH_VALUES.get(name, "南京东路")


def body_variants(spec: dict, schema: dict, payload: str) -> Iterator[Any]:
    """Bodies with ``payload`` in one string field at a time (required fields filled)."""
    schema = deref(spec, schema)
    kind = schema.get("type")
    if kind == "array":
        yield [payload]
    elif kind == "object" and "properties" in schema:
        base = sample(spec, schema)
        for key, sub in schema["properties"].items():
            sub = deref(spec, sub)
            if sub.get("type") == "string" and "enum" not in sub:
                yield {**base, key: payload}
            elif sub.get("type") == "object":
                for inner in body_variants(spec, sub, payload):
                    yield {**base, key: inner}
    elif kind == "object":
        feature = copy.deepcopy(GEOJSON)
        feature["properties"]["name"] = payload
        yield feature
        yield {"type": "Polygon", "coordinates": payload}


def _fill(path: str, values: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(str(values[m.group(1)]), safe=""), path)


def requests_for(app: FastAPI) -> Iterator[tuple[str, str, dict, dict, Any]]:
    """(method, url, query, headers, json body) for every hostile value in every string."""
    spec = app.openapi()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            base_path = {p["name"]: PATH_VALUES.get(p["name"], "x") for p in params
                         if p["in"] == "path"}
            base_query = {p["name"]: sample(spec, p["schema"], p["name"]) for p in params
                          if p["in"] == "query" and p.get("required")}
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            base_body = sample(spec, body["schema"]) if body else None
            headers = {"X-API-Key": KEY}
            strings = [p for p in params if p["in"] in ("path", "query")
                       and deref(spec, p["schema"]).get("type") in ("string", "array", None)]
            for payload in HOSTILE:
                for p in strings:
                    values = dict(base_path)
                    query = dict(base_query)
                    if p["in"] == "path":
                        values[p["name"]] = payload
                    else:
                        query[p["name"]] = payload
                    url = _fill(path, values)
                    yield method, url, query, headers, base_body
                if body:
                    url = _fill(path, base_path)
                    for variant in body_variants(spec, body["schema"], payload):
                        yield method, url, base_query, headers, variant
            # a property filter is any extra query parameter of a feature query
            if path == "/layers/{name}/features" and method == "get":
                for payload in HOSTILE:
                    yield method, "/layers/pois/features", {"name": payload}, headers, None


def hammer(app: FastAPI) -> int:
    """Send every hostile request; return how many; fail on a 5xx or a leaked file."""
    sent = 0
    failures = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, url, query, headers, body in requests_for(app):
            kwargs: dict[str, Any] = {"params": query, "headers": headers}
            if body is not None:
                kwargs["json"] = body
            res = client.request(method.upper(), url, **kwargs)
            sent += 1
            if res.status_code >= 500 or b"root:x:0:0" in res.content:
                failures.append(f"{method.upper()} {url} {query} {str(body)[:80]} -> "
                                f"{res.status_code} {res.text[:160]}")
            elif res.status_code >= 400:
                assert res.json().get("detail"), f"{method} {url}: a 4xx without a reason"
    assert not failures, "\n".join(failures[:15])
    return sent


def test_embedded_app_survives_hostile_strings(city: City, tmp_path: Path) -> None:
    bundle = tmp_path / "shanghai"
    shutil.copytree(city.bundle_dir, bundle)
    fresh = City.load(bundle)
    sent = hammer(create_app(Settings(api_keys={KEY: "editor"}), city=fresh))
    assert sent > 300
    assert len(embedded.read_layers(bundle / "layers")["pois"].data) == len(city.layers["pois"].data)


def _table_rows(url: str) -> dict[str, int]:
    engine = connect(url, create_extension=False)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'inject'"
            )).scalars().all()
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM inject."{t}"')).scalar_one()
                    for t in tables if t not in ("_edits", "_scenarios")}  # made on demand
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_postgis_app_survives_hostile_strings(city: City, postgis_url: str, tmp_path: Path) -> None:
    write_city_layers(postgis_url, city.name, city.layers, schema="inject")
    before = _table_rows(postgis_url)
    pg_city = City.from_postgis(postgis_url, schema="inject", cache_dir=tmp_path / "cache")
    sent = hammer(create_app(Settings(api_keys={KEY: "editor"}), city=pg_city))
    assert sent > 300
    engine = connect(postgis_url, create_extension=False)
    with engine.connect() as conn:
        names = conn.execute(sa.text(
            "SELECT change->'after'->'properties'->>'name' FROM inject._edits")).scalars().all()
        net = dict(conn.execute(sa.text(
            "SELECT layer, sum(CASE change->>'op' WHEN 'create' THEN 1 WHEN 'delete' THEN -1"
            " ELSE 0 END) FROM inject._edits GROUP BY layer")).all())
        in_table = conn.execute(sa.text("SELECT name FROM inject.pois")).scalars().all()
    engine.dispose()
    # no table dropped or emptied; each grew by exactly its accepted creates minus deletes
    assert _table_rows(postgis_url) == {t: n + int(net.get(t, 0)) for t, n in before.items()}
    # hostile names were stored as plain data, verbatim, in the log and in the table
    for hostile in ("' OR '1'='1", "1; DROP TABLE inject.pois; --"):
        assert hostile in names and hostile in in_table


def test_a_nul_character_in_a_property_is_422(city: City) -> None:
    """Found by the PostGIS run above: PostgreSQL refuses NUL in text, so it is refused first."""
    app = create_app(Settings(api_keys={KEY: "editor"}), city=city)
    feature = {**GEOJSON, "properties": {"name": "bad\x00byte"}}
    with TestClient(app) as client:
        res = client.post("/layers/pois/features", json=feature, headers={"X-API-Key": KEY})
    assert res.status_code == 422 and "NUL" in res.json()["detail"]
