"""The app's foundation endpoints: /health, /layers, the page, OpenAPI, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api import create_app
from twin import City, Settings


@pytest.fixture(scope="module")
def client(city: City) -> TestClient:
    with TestClient(create_app(Settings(), city=city)) as c:
        yield c


def test_health(client: TestClient, city: City) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["city"] == city.name
    assert body["layers"] == len(city.layers)


def test_layers_lists_metadata(client: TestClient, city: City) -> None:
    layers = {layer["name"]: layer for layer in client.get("/layers").json()["layers"]}
    assert set(city.layers) <= set(layers)
    roads = layers["roads"]
    assert roads["geometry_type"] == "LineString"
    assert roads["fields"]["name"] == "String" and roads["fields"]["length"] == "Number"
    assert roads["features"] == len(city.layers["roads"].data)
    assert "OpenStreetMap" in roads["attribution"]


def test_page_and_openapi(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    spec = client.get("/openapi.json").json()
    assert "/health" in spec["paths"] and "/layers" in spec["paths"]


def test_unknown_path_is_404(client: TestClient) -> None:
    assert client.get("/no/such/thing").status_code == 404


def test_app_opens_and_warms_the_city_in_its_lifespan(city: City) -> None:
    with TestClient(create_app(Settings(bundle=city.bundle_dir))) as c:
        opened = c.app.state.city
        assert opened is not city and c.get("/health").json()["city"] == city.name
        # ready before the first request: services opened, layers projected for tiling
        assert {"address", "live", "layer_service"} <= set(vars(opened))
        assert opened.live.derived("routing") is not None
        assert {"roads", "pois"} <= set(opened.layer_service._projected)


def test_oversized_bodies_are_413(city: City) -> None:
    with TestClient(create_app(Settings(max_body_bytes=1000), city=city)) as small:
        res = small.post("/geocode/batch", json=["南京东路635号"] * 200)
        assert res.status_code == 413 and "larger than 1000" in res.json()["detail"]
        assert small.post("/geocode/batch", json=["南京东路635号"]).status_code == 200
