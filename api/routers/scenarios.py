"""What-if scenarios over HTTP: stored sets of edits that other answers can be asked under."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Caller, require_role
from api.deps import get_city
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["scenarios"])
require_planner = require_role("planner", "editor", "admin")
ScenarioId = Annotated[str, PathParam(max_length=32)]


class ScenarioRequest(BaseModel):
    """Edits to try, each ``{"layer", "id", "op", "properties", "geometry", "feature"}``."""

    model_config = ConfigDict(extra="forbid")
    edits: list[dict[str, Any]] = Field(min_length=1, max_length=500, description=(
        'e.g. {"layer": "roads", "id": "123000", "properties": {"closed": true}}, '
        '{"layer": "fire_stations", "op": "create", "feature": {...}}, '
        '{"layer": "fire_stations", "id": "F2", "op": "delete"}; op defaults to update'))
    name: str | None = Field(None, max_length=200)


@router.post("/scenarios", status_code=201, summary="Store a what-if scenario (planner key)")
def post_scenario(body: ScenarioRequest, city: City = Depends(get_city),
                  caller: Caller = Depends(require_planner)) -> dict[str, Any]:
    """Validates the edits against the live layers (422 with the reason when one is bad)
    and stores them for 24 h; ``?scenario=<id>`` on routes, dispatch, coverage,
    isochrones and school answers then answers under them. The live city is untouched."""
    from twin.audit import audit_log
    from twin.scenarios import store_scenario

    record = store_scenario(city, body.edits, created_by=caller.actor, name=body.name)
    audit_log(city).record("scenario.create", actor=caller.actor, subject=record["id"],
                           detail={"edits": len(body.edits), "name": body.name})
    return {"id": record["id"], "expires_at": record["expires_at"],
            "edits": len(record["edits"]), "versions": record["versions"]}


@router.get("/scenarios/{scenario_id}", summary="A stored scenario")
def get_scenario(scenario_id: ScenarioId, city: City = Depends(get_city)) -> dict[str, Any]:
    """The scenario's edits, author label, creation and expiry; 404 once expired."""
    return city.scenarios.get(scenario_id)


@router.delete("/scenarios/{scenario_id}", status_code=204, summary="Delete a scenario")
def delete_scenario(scenario_id: ScenarioId, city: City = Depends(get_city),
                    caller: Caller = Depends(require_planner)) -> Response:
    """Forget the scenario (404 when there is none)."""
    from twin.audit import audit_log

    city.scenarios.delete(scenario_id)
    audit_log(city).record("scenario.delete", actor=caller.actor, subject=scenario_id,
                           detail={})
    return Response(status_code=204)
