"""The OpenAPI document states every error an operation can answer, with one error schema.

FastAPI documents only 200 and its own 422 shape; the service answers errors as
``{"detail": reason, ...}`` (see :mod:`api.errors`) from handlers and middleware (413, 429,
503). This module adds those statuses to every operation, so clients and schema-based
fuzzers see the real contract.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["ERROR_SCHEMA", "install_openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "what went wrong and what to change"},
        "error": {"type": "string", "description": "error class"},
        "errors": {"type": "array", "items": {"type": "object"},
                   "description": "each invalid parameter (422)"},
        "current_version": {"type": "integer", "description": "on 409: the version to edit"},
        "candidates": {"type": "array", "items": {}},
        "existing_code": {"type": "string"},
    },
}

#: Statuses any operation may answer (middleware and the error table), with a description.
COMMON = {
    "400": "invalid request (reason in detail)",
    "404": "not found",
    "413": "request body or batch too large",
    "422": "invalid parameters (each listed in errors)",
    "429": "rate limit exceeded; see Retry-After",
    "503": "temporarily unavailable (database down or time budget exceeded); see Retry-After",
}
WRITE = {"401": "missing or unknown X-API-Key", "403": "the key's role cannot write",
         "409": "stale version or duplicate; current_version tells what to reload"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for item in spec.get("paths", {}).values():
        for op in item.values():
            responses = op.setdefault("responses", {})
            writes = any(p.get("name", "").lower() == "x-api-key" for p in op.get("parameters", []))
            for status, text in {**COMMON, **(WRITE if writes else {})}.items():
                responses[status] = _error(text)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the schema with every error status documented."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_errors(get_openapi(
                title=app.title, version=app.version, summary=app.summary,
                description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
