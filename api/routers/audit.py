"""The audit log over HTTP (admin keys only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Caller, require_admin
from api.deps import get_city
from twin.audit import audit_log
from twin.city import City

__all__ = ["router"]

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="Who created, re-planned and ended runs (and other actions)")
def get_audit(
    since: Annotated[str | None, Query(max_length=40, description="ISO 8601 time")] = None,
    caller: Caller = Depends(require_admin),
    city: City = Depends(get_city),
) -> dict[str, Any]:
    """Entries oldest first: ``time``, ``actor`` (role and key hash), ``action``,
    ``subject``, ``detail``. Needs an ``admin`` key."""
    return {"entries": audit_log(city).entries(since)}
