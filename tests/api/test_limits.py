"""Rate limits per key (429 + Retry-After) and time budgets for expensive requests (503)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from api import create_app
from api.auth import require_editor
from api.ratelimit import RateLimiter, SharedRateLimiter, TokenBucket
from twin import City, Settings

KEYS = {"k-edit": "editor", "k-read": "reader"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert bucket.take(0.0) == 0 and bucket.take(0.0) == 0
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0  # one token back after 1/rate seconds
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0.0)


def test_limiter_keeps_clients_apart_and_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 1, max_clients=2, clock=clock)
    assert limiter.wait_time("a") == 0 and limiter.wait_time("a") > 0
    assert limiter.wait_time("b") == 0
    limiter.wait_time("c")  # evicts "a", the least recent
    assert limiter.wait_time("a") == 0
    clock.now += 1.0
    assert limiter.wait_time("b") == 0


def _take_many(path: str, client: str, n: int, out: multiprocessing.Queue) -> None:
    limiter = SharedRateLimiter(0.001, 10, Path(path))
    out.put(sum(limiter.wait_time(client) == 0 for _ in range(n)))


def test_shared_limiter_holds_across_worker_processes(tmp_path: Path) -> None:
    """Four processes hammer one client's bucket: together they get the burst, not 4x it."""
    path = tmp_path / "rate"
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_take_many, args=(str(path), "key:abc", 25, out))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    granted = [out.get(timeout=5) for _ in procs]
    assert sum(granted) == 10, granted
    # another client still has its own full bucket in the same file
    assert SharedRateLimiter(0.001, 10, path).wait_time("key:other") == 0


def test_shared_limiter_gives_the_least_recent_slot_to_a_new_client(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = SharedRateLimiter(1.0, 1, tmp_path / "rate", slots=8, clock=clock)
    for i in range(8):
        clock.now += 1
        assert limiter.wait_time(f"c{i}") == 0
    clock.now += 0.1
    assert limiter.wait_time("c7") > 0  # still limited: its slot is kept
    assert limiter.wait_time("new") == 0  # takes the slot of c0, the least recent
    assert limiter.wait_time("c7") > 0


def test_twin_serve_shares_the_buckets_between_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.cli import _shared_rate_state

    monkeypatch.delenv("TWIN_RATE_STATE", raising=False)
    with _shared_rate_state(Settings(rate_limit=5.0), workers=2):
        settings = Settings()  # what each worker reads
        assert settings.rate_state is not None and settings.rate_state.is_file()
        app = create_app(Settings(rate_limit=5.0, rate_state=settings.rate_state))
        limiters = [m.kwargs["limiter"] for m in app.user_middleware if "limiter" in m.kwargs]
        assert isinstance(limiters[0], SharedRateLimiter)
    assert not settings.rate_state.exists()
    with _shared_rate_state(Settings(rate_limit=5.0), workers=1):
        assert Settings().rate_state is None


def test_429_with_retry_after_per_key(city: City) -> None:
    app = create_app(Settings(api_keys=KEYS, rate_limit=0.5, rate_burst=3), city=city)
    with TestClient(app) as c:
        codes = [c.get("/layers", headers={"X-API-Key": "k-read"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = c.get("/layers", headers={"X-API-Key": "k-read"})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "rate limit" in limited.json()["detail"]
        # another key has its own bucket; anonymous requests share the address's bucket
        assert c.get("/layers", headers={"X-API-Key": "k-edit"}).status_code == 200
        assert c.get("/layers").status_code == 200
        # an unknown key does not get a fresh bucket per guessed value
        guesses = [c.get("/layers", headers={"X-API-Key": f"guess-{i}"}).status_code
                   for i in range(4)]
        assert 429 in guesses
        assert c.get("/health").status_code == 200  # health checks are never limited


def test_rate_limit_is_off_by_default(city: City) -> None:
    with TestClient(create_app(Settings(), city=city)) as c:
        assert all(c.get("/health").status_code == 200 for _ in range(30))
        assert all(c.get("/layers").status_code == 200 for _ in range(10))


def _slow_app(city: City, budget: float) -> TestClient:
    app = create_app(Settings(request_timeout=budget), city=city)

    @app.get("/test-slow")
    def slow() -> dict[str, str]:
        time.sleep(1.0)
        return {"ok": "late"}

    return TestClient(app)


def test_requests_over_the_budget_get_503_and_the_worker_stays_free(city: City) -> None:
    with _slow_app(city, 0.2) as c:
        started = time.monotonic()
        res = c.get("/test-slow")
        assert res.status_code == 503 and res.headers["Retry-After"]
        assert "longer than 0.2 s" in res.json()["detail"]
        assert time.monotonic() - started < 0.9
        assert c.get("/health").status_code == 200


def test_requests_within_the_budget_are_untouched(city: City) -> None:
    with _slow_app(city, 5.0) as c:
        assert c.get("/test-slow").json() == {"ok": "late"}


@pytest.mark.parametrize("query", ["/isochrones?station=F1&minutes=100000",
                                   "/coverage?minutes=1e9", "/isochrones?station=F1&minutes=-1"])
def test_huge_isochrones_are_refused_up_front(city: City, query: str) -> None:
    with TestClient(create_app(Settings(), city=city)) as c:
        res = c.get(query)
        assert res.status_code == 422 and "minutes" in res.json()["detail"]


def test_giant_batch_is_refused_up_front(city: City) -> None:
    with TestClient(create_app(Settings(max_batch=50), city=city)) as c:
        res = c.post("/geocode/batch", json=["南京东路635号"] * 51)
        assert res.status_code == 413 and "limit of 50" in res.json()["detail"]


def test_writes_are_never_abandoned(city: City) -> None:
    app = create_app(Settings(request_timeout=0.5, api_keys=KEYS), city=city)

    @app.post("/test-slow-write")
    def slow_write(role: str = Depends(require_editor)) -> dict[str, str]:
        time.sleep(1.5)
        return {"stored": "yes"}

    with TestClient(app) as c:
        res = c.post("/test-slow-write", headers={"X-API-Key": "k-edit"})
        assert res.status_code == 200 and res.json() == {"stored": "yes"}
        assert c.post("/test-slow-write").status_code == 401
