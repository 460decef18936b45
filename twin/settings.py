"""Settings of the twin and its service (pydantic-settings, env prefix ``TWIN_``)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "ROLES", "REPO_ROOT", "DEFAULT_SOURCES", "DEFAULT_BUILD_DIR",
           "DEFAULT_CITY"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = REPO_ROOT / "data" / "sources"
DEFAULT_BUILD_DIR = REPO_ROOT / "build"
DEFAULT_CITY = "shanghai"
#: Roles an API key may have: layer and address writes need ``editor``, emergency runs
#: ``dispatcher``, scenarios ``planner``; ``admin`` may do everything.
ROLES = ("reader", "editor", "dispatcher", "planner", "admin")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


class Settings(BaseSettings):
    """Service settings, read from ``TWIN_*`` environment variables.

    Attributes
    ----------
    city : str
        Name of the city bundle to serve (``TWIN_CITY``).
    build_dir : Path
        Where bundles are built (``TWIN_BUILD_DIR``).
    bundle : Path or None
        An explicit bundle directory, overriding ``build_dir / city``.
    database_url : str or None
        Serve from PostGIS instead of the embedded store (``TWIN_DATABASE_URL``).
    api_keys : dict
        API key -> role (``reader``, ``editor``, ``dispatcher``, ``planner``, ``admin``);
        layer and address writes need editor or admin, emergency runs dispatcher or admin.
        ``TWIN_API_KEYS='{"secret": "editor"}'``.
    public_url : str
        Base URL used in links and QR codes.
    max_batch : int
        Largest accepted batch (geocoding, routing matrices).
    max_body_bytes : int
        Largest accepted request body; larger ones get 413.
    cors_origins : list of str
        Origins allowed by CORS (explicit ``scheme://host[:port]`` each, no wildcard; empty
        means same-origin only). ``TWIN_CORS_ORIGINS='["https://map.example.org"]'``.
    rate_limit : float
        Requests per second per API key (per client address without a key); 0 turns rate
        limiting off. Over the limit: 429 with ``Retry-After``.
    rate_burst : int
        Requests a client may send at once before the rate applies (0: twice the rate).
    request_timeout : float
        Seconds a request may take before it is answered 503; 0 turns the budget off.
    rate_state : Path, optional
        File holding the rate-limit buckets shared by the worker processes (``twin serve
        --workers N`` sets one up); without it each process keeps its own buckets.
    """

    model_config = SettingsConfigDict(env_prefix="TWIN_", env_file=".env", extra="ignore")

    city: str = DEFAULT_CITY
    build_dir: Path = DEFAULT_BUILD_DIR
    bundle: Path | None = None
    database_url: str | None = Field(None, repr=False)  # may hold a password
    api_keys: dict[str, str] = Field(default_factory=dict, repr=False)  # never shown in logs
    public_url: str = "http://127.0.0.1:8000"
    max_batch: int = 10_000
    max_body_bytes: int = 2_000_000
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit: float = Field(0.0, ge=0)
    rate_burst: int = Field(0, ge=0)
    request_timeout: float = Field(60.0, ge=0)
    rate_state: Path | None = None

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.match(origin):
                raise ValueError(f"CORS origin {origin!r} must be an explicit scheme://host[:port]"
                                 " (no wildcard, no path)")
        return origins

    @field_validator("api_keys")
    @classmethod
    def _known_roles(cls, keys: dict[str, str]) -> dict[str, str]:
        for role in keys.values():
            if role not in ROLES:
                raise ValueError(f"unknown API key role {role!r}; roles: {', '.join(ROLES)}")
        return keys

    @property
    def bundle_dir(self) -> Path:
        """The bundle directory to serve."""
        return self.bundle if self.bundle is not None else self.build_dir / self.city
