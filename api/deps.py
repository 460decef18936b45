"""Shared FastAPI dependencies: the City and the settings kept on ``app.state``."""

from __future__ import annotations

from fastapi import Request

from twin.city import City
from twin.settings import Settings

__all__ = ["get_city", "get_settings"]


async def get_city(request: Request) -> City:
    """The City opened in the app's lifespan (async: no thread-pool hop to fetch it)."""
    return request.app.state.city


async def get_settings(request: Request) -> Settings:
    """The app's settings (async: no thread-pool hop to fetch them)."""
    return request.app.state.settings
