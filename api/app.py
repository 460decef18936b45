"""``create_app(settings)``: the FastAPI application of the twin (no app at import time)."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.loopwatch import LoopLag
from api.openapi import install_openapi
from api.ratelimit import RateLimit, RateLimiter, SharedRateLimiter
from api.timeouts import RequestTimeout
from twin.city import City
from twin.settings import DEFAULT_BUILD_DIR, DEFAULT_CITY, Settings

__all__ = ["create_app", "ROUTERS", "open_city"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Router modules, one per domain, included in this order.
#: The HTTP API's version (OpenAPI ``info.version``); what changed: CHANGELOG.md.
API_VERSION = "0.3.1"

ROUTERS = (
    "api.routers.health",
    "api.routers.layers",
    "api.routers.tiles",
    "api.routers.ogc",
    "api.routers.addresses",
    "api.routers.routing",
    "api.routers.bikes",
    "api.routers.schools",
    "api.routers.osrm",
    "api.routers.scenarios",
    "api.routers.signals",
    "api.routers.audit",
)


def open_city(settings: Settings) -> City:
    """Open the City the settings point at (PostGIS, an explicit bundle, or the default)."""
    if settings.database_url:
        return City.from_postgis(settings.database_url)
    default = (settings.bundle is None and settings.city == DEFAULT_CITY
               and settings.build_dir == DEFAULT_BUILD_DIR)
    return City.load(None if default else settings.bundle_dir)


def _include_routers(app: FastAPI) -> None:
    for name in ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            logger.warning("router %s is not available", name)
            continue
        app.include_router(module.router)


def _add_limits(app: FastAPI, settings: Settings) -> None:
    """Time budget, body size and rate limits (the last added runs first)."""
    if settings.request_timeout > 0:
        app.add_middleware(RequestTimeout, seconds=settings.request_timeout)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.rate_limit > 0:
        burst = settings.rate_burst or max(1, round(2 * settings.rate_limit))
        limiter = (SharedRateLimiter(settings.rate_limit, burst, settings.rate_state)
                   if settings.rate_state else RateLimiter(settings.rate_limit, burst))
        app.add_middleware(RateLimit, limiter=limiter, api_keys=settings.api_keys)


def create_app(settings: Settings | None = None, *, city: City | None = None) -> FastAPI:
    """Build the FastAPI app.

    Parameters
    ----------
    settings : Settings, optional
        Service settings; default read from ``TWIN_*`` environment variables.
    city : City, optional
        An already opened City (tests, notebooks); default opened in the lifespan.

    Returns
    -------
    fastapi.FastAPI
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.loop_lag.start()
        if city is not None:
            app.state.city = city
        else:  # a server: ready when its first request needs no loading
            app.state.city = open_city(settings)
            await asyncio.to_thread(app.state.city.warm)
            app.state.city.live.start()  # other workers' and hosts' edits, every POLL_S
        try:
            yield
        finally:
            app.state.loop_lag.stop()
            if city is None:
                app.state.city.live.stop()

    app = FastAPI(
        title="citytwin",
        version=API_VERSION,
        summary="Digital twin of a city: standard addresses, map layers and tiles, emergency "
        "routing with green waves, bike quotas, school districts.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.loop_lag = LoopLag()
    if city is not None:
        app.state.city = city
    _add_limits(app, settings)
    if settings.cors_origins:  # outermost, so 413/429/503 answers carry the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_credentials=False, allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Content-Type", "X-API-Key", "If-None-Match"],
                           expose_headers=["ETag", "Retry-After"], max_age=600)
    install_error_handlers(app)
    _include_routers(app)
    install_openapi(app)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    def index() -> FileResponse | HTMLResponse:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse("<h1>citytwin</h1><p>See <a href='/docs'>/docs</a>.</p>")

    return app
