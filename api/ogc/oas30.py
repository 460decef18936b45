"""The OGC part of the app's OpenAPI document, as OpenAPI 3.0 (the ``oas30`` classes).

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12); OGC API – Features and Tiles ask for an
OpenAPI 3.0 definition. :func:`ogc_openapi30` takes the app's own document (so it is
generated from the same routes), keeps the ``/ogc`` paths and the components they use,
and rewrites the 3.1-only schema keywords into their 3.0 forms.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["to_oas30", "ogc_openapi30"]

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains")
_DROP = ("$schema", "$id", "contentMediaType", "contentEncoding", "$comment")


def to_oas30(schema: Any) -> Any:
    """A JSON Schema 2020-12 (OpenAPI 3.1) schema rewritten as an OpenAPI 3.0 schema.

    ``anyOf`` with ``null`` and ``type`` lists become ``nullable``; ``const`` becomes a
    one-value ``enum``; ``examples`` becomes ``example``; numeric ``exclusiveMinimum`` /
    ``exclusiveMaximum`` become boolean flags; keywords 3.0 lacks are dropped.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: to_oas30(v) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_oas30(v) for v in value]
        elif key in _SCHEMA_ONE:
            out[key] = to_oas30(value)
        else:
            out[key] = value
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "examples" in out:
        examples = out.pop("examples")
        if isinstance(examples, list) and examples:
            out["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[flag] = out.pop(bound)
            out[bound] = True
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        if len(types) < len(out["type"]):
            out["nullable"] = True
        if len(types) == 1:
            out["type"] = types[0]
        else:
            out.pop("type")
            out["anyOf"] = [{"type": t} for t in types]
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            out.pop(key)
            out["nullable"] = True
            if len(rest) == 1:
                out.update({k: v for k, v in rest[0].items() if k not in out})
            else:
                out[key] = rest
    if out.get("nullable") and not any(k in out for k in ("type", "allOf", "anyOf", "oneOf")):
        out.pop("nullable")  # 3.0: nullable needs a type
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    for param in op.get("parameters", []):
        if "schema" in param:
            param["schema"] = to_oas30(param["schema"])
    for response in op.get("responses", {}).values():
        for media in response.get("content", {}).values():
            if "schema" in media:
                media["schema"] = to_oas30(media["schema"])
    body = op.get("requestBody", {})
    for media in body.get("content", {}).values():
        if "schema" in media:
            media["schema"] = to_oas30(media["schema"])
    return op


def ogc_openapi30(spec: dict[str, Any], *, prefix: str = "/ogc", server: str | None = None,
                  title: str = "citytwin OGC API") -> dict[str, Any]:
    """OpenAPI 3.0.3 of the ``prefix`` paths of an OpenAPI 3.1 document.

    Parameters
    ----------
    spec : dict
        The app's document (``app.openapi()``); not modified.
    prefix : str
        Paths kept.
    server : str, optional
        Base URL of the service (paths stay absolute, so the server is the host root).
    title : str
        Title of the document.
    """
    paths = {path: {method: _operation(copy.deepcopy(op)) for method, op in item.items()}
             for path, item in spec.get("paths", {}).items()
             if path == prefix or path.startswith(prefix + "/")}
    schemas = spec.get("components", {}).get("schemas", {})
    wanted: set[str] = set()
    _refs(paths, wanted)
    todo = list(wanted)
    while todo:  # components that reference others
        found: set[str] = set()
        _refs(schemas.get(todo.pop(), {}), found)
        todo.extend(found - wanted)
        wanted |= found
    info = dict(spec.get("info", {}))
    info.pop("summary", None)  # 3.1 only
    info["title"] = title
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": info,
        "paths": paths,
        "components": {"schemas": {name: to_oas30(copy.deepcopy(schemas[name]))
                                   for name in sorted(wanted) if name in schemas}},
    }
    if server:
        doc["servers"] = [{"url": server}]
    return doc
