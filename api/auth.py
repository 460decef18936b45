"""API keys with roles (:data:`twin.settings.ROLES`) from the settings.

Each protected handler depends on :func:`require_role` with the roles it accepts:
layer and address writes on :data:`require_editor` (editor, admin), emergency runs on
:data:`require_dispatcher` (dispatcher, admin). No or an unknown key is ``401``, a key of
another role ``403``. The dependency returns the :class:`Caller`, whose ``actor`` label
(role and a short hash of the key, never the key) names it in the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.deps import get_settings
from twin.settings import ROLES, Settings

__all__ = ["ROLES", "WRITE_FLAG", "Caller", "require_role", "require_editor",
           "require_dispatcher", "require_admin", "role_of", "key_label"]

#: Claimed in the ASGI scope by an authorised write (True) or by the time budget when it
#: gives up first ("abandoned"): a write that started is never abandoned, and an abandoned
#: request never starts writing, so a client is never told 503 for a stored edit.
WRITE_FLAG = "twin.write"
#: The ``X-API-Key`` header (a module-level alias: FastAPI resolves it by name).
ApiKeyHeader = Annotated[str | None, Header(description="API key with a role the endpoint "
                                                        "accepts (TWIN_API_KEYS)")]


@dataclass(frozen=True)
class Caller:
    """The authorised caller of a request: its role and an actor label for audit logs."""

    role: str
    actor: str

    def __str__(self) -> str:
        return self.role


def role_of(key: str | None, settings: Settings) -> str | None:
    """Role of an API key (constant-time comparison), or None."""
    if not key:
        return None
    for known, role in settings.api_keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            return role
    return None


def key_label(role: str, key: str) -> str:
    """``role:<8 hex digits of the key's SHA-256>``: names a key without revealing it."""
    return f"{role}:{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def require_role(*roles: str, write: bool = True) -> Callable[..., Caller]:
    """A dependency that admits keys with one of ``roles``.

    Parameters
    ----------
    *roles : str
        Accepted roles (from :data:`ROLES`).
    write : bool
        The request writes: it claims :data:`WRITE_FLAG` against the time budget (a
        write that started is never answered 503).

    Returns
    -------
    callable
        A FastAPI dependency returning the :class:`Caller`.

    Examples
    --------
    >>> @router.post("/scenarios")                                        # doctest: +SKIP
    ... def post_scenario(caller: Caller = Depends(require_role("planner", "admin"))): ...
    """
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; roles: {', '.join(ROLES)}")
    needed = " or ".join(roles)

    def dependency(request: Request, x_api_key: ApiKeyHeader = None,
                   settings: Settings = Depends(get_settings)) -> Caller:
        role = role_of(x_api_key, settings)
        if role is None or x_api_key is None:
            raise HTTPException(401, f"a valid X-API-Key header ({needed}) is required",
                                headers={"WWW-Authenticate": "ApiKey"})
        if role not in roles:
            raise HTTPException(403, f"the key's role {role!r} is not allowed here; "
                                     f"{needed} needed")
        # atomic claim against the time budget: a write starts only if not already abandoned
        if write and request.scope.setdefault(WRITE_FLAG, True) is not True:
            raise HTTPException(503, "the request waited too long before it could start; retry",
                                headers={"Retry-After": "5"})
        return Caller(role, key_label(role, x_api_key))

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    dependency.__doc__ = f"Dependency: 401 without a valid key, 403 unless the key is {needed}."
    return dependency


#: Layer and address writes.
require_editor = require_role("editor", "admin")
#: Creating, re-planning, ending and reading emergency runs.
require_dispatcher = require_role("dispatcher", "admin")
#: Reading the audit log.
require_admin = require_role("admin", write=False)
