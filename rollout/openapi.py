"""/openapi.json, generated from the pydantic models that the routes validate with."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from experiments.model import KEY_PATTERN
from rollout.api.routing import ENVIRONMENT_HEADER, ENVIRONMENT_PARAMETER, ROUTES, RouteSpec

REF = "#/components/schemas/{model}"
FLASK_PARAM = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_]+)>")

SERVER_REFUSALS = (414, 431)
"""Refused by the HTTP server before any route runs (a request line or headers over gunicorn's
limits, deploy/gunicorn.conf.py), answered with the same error document, so every operation
can answer them."""

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


_ENVIRONMENT_DESCRIPTION = (
    "the environment the request acts in (default: the key's own, production for a key of"
    " every environment); a key of one environment naming another is 403 wrong_environment,"
    " an unknown or archived one 404 environment_not_found"
)
ENVIRONMENT_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": ENVIRONMENT_HEADER,
        "in": "header",
        "required": False,
        "description": _ENVIRONMENT_DESCRIPTION,
        "schema": {"type": "string", "pattern": KEY_PATTERN},
    },
    {
        "name": ENVIRONMENT_PARAMETER,
        "in": "query",
        "required": False,
        "description": f"as the {ENVIRONMENT_HEADER} header",
        "schema": {"type": "string", "pattern": KEY_PATTERN},
    },
]
"""Every keyed operation acts in one environment, named by the header or the query."""


def build_openapi(version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for spec in ROUTES:
        for model in (spec.body, spec.response):
            if model is not None:
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, definitions = models_json_schema(
        [(m, "validation" if _is_input(m) else "serialization") for m in ordered],
        ref_template=REF,
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        path = FLASK_PARAM.sub(r"{\1}", spec.path)
        paths.setdefault(path, {})[spec.method] = _operation(spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prompt-rollout",
            "version": version,
            "description": "A/B experiments and gradual rollouts for LLM prompts.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _is_input(model: type[BaseModel]) -> bool:
    return any(spec.body is model for spec in ROUTES)


def _operation(spec: RouteSpec, refs: dict[Any, Any]) -> dict[str, Any]:
    plain_path = FLASK_PARAM.sub(r"\1", spec.path).strip("/").replace("/", "_")
    operation: dict[str, Any] = {
        "summary": spec.summary,
        "tags": [spec.tag],
        "operationId": f"{spec.method}_{plain_path}",
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(name)}
        for name in FLASK_PARAM.findall(spec.path)
    ]
    if spec.query is not None:
        query_schema = spec.query.model_json_schema()
        for name, prop in query_schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in query_schema.get("required", []),
                    "schema": _inline(prop, query_schema.get("$defs", {})),
                }
            )
    if spec.roles is not None:
        parameters += ENVIRONMENT_PARAMETERS
    if parameters:
        operation["parameters"] = parameters
    if spec.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = "Roles: " + ", ".join(r.value for r in spec.roles) + "."
    if spec.body is not None:
        mode = "validation"
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, mode)]}},
        }
    ok: dict[str, Any] = {"description": "success"}
    if spec.response is not None:
        mode = "validation" if _is_input(spec.response) else "serialization"
        ok["content"] = {"application/json": {"schema": refs[(spec.response, mode)]}}
    responses: dict[str, Any] = {str(spec.status): ok}
    for status, description in spec.extra_responses.items():
        responses[str(status)] = {"description": description}
    for status in (*spec.errors, *SERVER_REFUSALS):
        responses.setdefault(
            str(status),
            {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            },
        )
    operation["responses"] = responses
    return operation


def _path_schema(name: str) -> dict[str, Any]:
    if name in {"n", "a", "b", "version"}:
        return {"type": "integer", "minimum": 1}
    return {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,63}$"}


def _inline(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Query parameters are scalars; anyOf [T, null] becomes T, and a reference to one of the
    model's own definitions (an enum) is copied in, since those are not among the components."""
    if "anyOf" in prop:
        options = [o for o in prop["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            merged = {k: v for k, v in prop.items() if k != "anyOf"}
            merged.update(options[0])
            prop = merged
    ref = prop.get("$ref", "")
    if ref.startswith("#/$defs/"):
        prop = {k: v for k, v in prop.items() if k != "$ref"} | defs[ref.removeprefix("#/$defs/")]
    return prop
