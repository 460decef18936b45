"""Shared FastAPI dependencies: the City and the settings kept on ``app.state``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from twin.city import City
from twin.settings import Settings

__all__ = ["get_city", "get_settings", "get_view", "no_scenario", "ScenarioParam"]

#: ``?scenario=ID``: answer under a stored what-if scenario's edits.
ScenarioParam = Annotated[str | None, Query(
    max_length=32, description="answer under the edits of this stored scenario (POST /scenarios)")]


async def get_city(request: Request) -> City:
    """The City opened in the app's lifespan (async: no thread-pool hop to fetch it)."""
    return request.app.state.city


async def get_settings(request: Request) -> Settings:
    """The app's settings (async: no thread-pool hop to fetch them)."""
    return request.app.state.settings


def get_view(request: Request, scenario: ScenarioParam = None,
             city: City = Depends(get_city)) -> Any:
    """The models a request reads: the live city's, or a stored scenario's (``?scenario=``).

    Both offer ``.routing``, ``.schools`` and ``.bikes``. A plain function: deriving a
    scenario's models the first time runs in the thread pool, not on the event loop.
    """
    if scenario is None:
        return city
    from twin.scenarios import scenario_for

    return scenario_for(city, scenario)


async def no_scenario(scenario: ScenarioParam = None) -> None:
    """Refuse ``?scenario=`` where answers change the live city (emergency runs)."""
    if scenario is not None:
        raise HTTPException(400, "emergency runs act on the live city; a scenario cannot "
                                 "hold green windows (use /routes or /dispatch to compare)")
