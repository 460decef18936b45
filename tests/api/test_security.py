"""Security hygiene: explicit CORS, keys never in logs or pages, 401/403 for writes."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import create_app
from api.app import STATIC_DIR
from twin import City, Settings

SECRET = "k3y-Th4t-Must-N3ver-Leak"
READER = "r3ader-Key-Also-Secret"
ORIGIN = "https://map.example.org"
FEATURE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.47, 31.23]},
           "properties": {"name": "安全测试"}}
#: passes the key check, then fails validation (422): nothing is written to the shared city
INVALID = {**FEATURE, "properties": {"no_such_field": 1}}


@pytest.fixture(scope="module")
def client(city: City) -> TestClient:
    settings = Settings(api_keys={SECRET: "editor", READER: "reader"}, cors_origins=[ORIGIN],
                        database_url="postgresql://twin:db-pa55word@127.0.0.1:1/x")
    with TestClient(create_app(settings, city=city)) as c:
        yield c


def test_cors_allows_only_the_configured_origins(client: TestClient) -> None:
    ok = client.options("/layers", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    other = client.get("/layers", headers={"Origin": "https://evil.example.com"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    assert client.get("/layers", headers={"Origin": ORIGIN}).headers[
        "access-control-allow-origin"] == ORIGIN


def test_no_cors_headers_by_default(city: City) -> None:
    with TestClient(create_app(Settings(), city=city)) as c:
        res = c.get("/layers", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in res.headers


@pytest.mark.parametrize("origins", [["*"], ["https://a.example.org/path"], ["map.example.org"]])
def test_wildcard_or_vague_origins_are_refused(origins: list[str]) -> None:
    with pytest.raises(ValidationError, match="explicit"):
        Settings(cors_origins=origins)


def test_unknown_key_roles_are_refused() -> None:
    with pytest.raises(ValidationError, match="role"):
        Settings(api_keys={"k": "superuser"})


def test_writes_need_an_editor_key(client: TestClient) -> None:
    assert client.post("/layers/pois/features", json=FEATURE).status_code == 401
    wrong = client.post("/layers/pois/features", json=FEATURE, headers={"X-API-Key": "guess"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "ApiKey"
    reader = client.post("/layers/pois/features", json=FEATURE, headers={"X-API-Key": READER})
    assert reader.status_code == 403 and "reader" in reader.json()["detail"]


def test_keys_and_passwords_are_never_logged_or_echoed(client: TestClient,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = []
    for key in (SECRET, READER, SECRET[:-1], SECRET + "x"):
        for res in (client.post("/layers/pois/features", json=INVALID, headers={"X-API-Key": key}),
                    client.delete("/layers/pois/features/1?version=99", headers={"X-API-Key": key}),
                    client.get("/layers/nope", headers={"X-API-Key": key})):
            bodies.append(res.text)
    assert any("no_such_field" in b for b in bodies)  # the editor key got past auth
    settings = client.app.state.settings
    logging.getLogger("twin").info("settings: %r", settings)
    text = caplog.text + "".join(bodies) + repr(settings) + str(settings)
    for secret in (SECRET, READER, SECRET[:-1], "db-pa55word"):
        assert secret not in text


def test_the_web_page_has_no_inline_secrets(client: TestClient) -> None:
    served = [client.get(p).text for p in ("/", "/openapi.json", "/docs")]
    own = [p for p in STATIC_DIR.rglob("*") if p.is_file() and "vendor" not in p.parts]
    assert own, "the page's own files were not found"
    texts = served + [p.read_text(encoding="utf-8", errors="replace") for p in own
                      if p.suffix in (".html", ".js", ".css", ".svg", ".json")]
    for text in texts:
        assert SECRET not in text and READER not in text and "db-pa55word" not in text
        # no literal credentials of any kind in the page's code
        assert not re.search(r"(?i)(api[_-]?key|secret|token|password|passwd)\s*[:=]\s*['\"][^'\"]{6,}",
                             text), "a literal credential in the web page"
        assert not re.search(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY", text)


def test_the_page_never_sends_keys_in_urls() -> None:
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    assert not re.search(r"(?i)[?&](api_?key|key|token)=", script)


def test_settings_docs_name_the_security_variables() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name in ("TWIN_API_KEYS", "TWIN_CORS_ORIGINS", "TWIN_RATE_LIMIT", "TWIN_REQUEST_TIMEOUT"):
        assert name in readme
