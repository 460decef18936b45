"""Settings of the twin and its service (pydantic-settings, env prefix ``TWIN_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "REPO_ROOT", "DEFAULT_SOURCES", "DEFAULT_BUILD_DIR", "DEFAULT_CITY"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = REPO_ROOT / "data" / "sources"
DEFAULT_BUILD_DIR = REPO_ROOT / "build"
DEFAULT_CITY = "shanghai"


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
        API key -> role (``reader``, ``editor``, ``admin``); writes need editor or admin.
        ``TWIN_API_KEYS='{"secret": "editor"}'``.
    public_url : str
        Base URL used in links and QR codes.
    max_batch : int
        Largest accepted batch (geocoding, routing matrices).
    max_body_bytes : int
        Largest accepted request body; larger ones get 413.
    cors_origins : list of str
        Origins allowed by CORS (explicit; empty means same-origin only).
    """

    model_config = SettingsConfigDict(env_prefix="TWIN_", env_file=".env", extra="ignore")

    city: str = DEFAULT_CITY
    build_dir: Path = DEFAULT_BUILD_DIR
    bundle: Path | None = None
    database_url: str | None = None
    api_keys: dict[str, str] = Field(default_factory=dict)
    public_url: str = "http://127.0.0.1:8000"
    max_batch: int = 10_000
    max_body_bytes: int = 2_000_000
    cors_origins: list[str] = Field(default_factory=list)

    @property
    def bundle_dir(self) -> Path:
        """The bundle directory to serve."""
        return self.bundle if self.bundle is not None else self.build_dir / self.city
