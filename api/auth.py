"""API keys with roles (reader, editor, admin) from the settings; writes need editor+."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.deps import get_settings
from twin.settings import ROLES, Settings

__all__ = ["ROLES", "WRITE_FLAG", "require_editor", "role_of"]

#: Claimed in the ASGI scope by an authorised write (True) or by the time budget when it
#: gives up first ("abandoned"): a write that started is never abandoned, and an abandoned
#: request never starts writing, so a client is never told 503 for a stored edit.
WRITE_FLAG = "twin.write"


def role_of(key: str | None, settings: Settings) -> str | None:
    """Role of an API key (constant-time comparison), or None."""
    if not key:
        return None
    for known, role in settings.api_keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            return role
    return None


def require_editor(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="API key with the editor or admin role")] = None,
    settings: Settings = Depends(get_settings),
) -> str:
    """Dependency of every write: 401 without a valid key, 403 for a read-only key."""
    role = role_of(x_api_key, settings)
    if role is None:
        raise HTTPException(401, "a valid X-API-Key header is required for writes",
                            headers={"WWW-Authenticate": "ApiKey"})
    if role not in ("editor", "admin"):
        raise HTTPException(403, f"the key's role {role!r} cannot write; editor or admin needed")
    # atomic claim against the time budget: a write starts only if not already abandoned
    if request.scope.setdefault(WRITE_FLAG, True) is not True:
        raise HTTPException(503, "the request waited too long before it could start; retry",
                            headers={"Retry-After": "5"})
    return role
