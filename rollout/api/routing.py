"""The one decorator every API route goes through: role check, body and query validation.

It also records each route's models, so /openapi.json is generated from the very models that
validate requests (rollout/openapi.py) and cannot drift from them.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import Blueprint, Request, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.local import LocalProxy
from werkzeug.wsgi import get_content_length

from experiments.environments import PRODUCTION, Environment, review_required
from experiments.errors import Invalid, NotFound, validation_details
from experiments.model import Role
from experiments.store import Store
from rollout.auth import Principal
from rollout.errors import Malformed, RateLimited, TooLarge, WrongEnvironment
from rollout.runtime import Runtime, runtime_of

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

ALL_ROLES = (Role.ADMIN, Role.EDITOR, Role.RELEASE, Role.SDK)
ENVIRONMENT_HEADER = "X-Rollout-Environment"
ENVIRONMENT_PARAMETER = "environment"


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    summary: str
    tag: str
    roles: tuple[Role, ...] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    extra_responses: dict[int, str] = field(default_factory=dict)


ROUTES: list[RouteSpec] = []


def route(
    blueprint: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    roles: Iterable[Role] | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: Iterable[int] = (),
    extra_responses: dict[int, str] | None = None,
    one_pass_body: bool = False,
) -> Callable[[F], F]:
    """Register a view; it receives `body=`/`query=` as validated models and `g.principal`.

    `one_pass_body` parses and validates the body in one pass (pydantic's `model_validate_json`),
    falling back to the two-step path for any refusal so that every error answer stays the same.
    Only for a body model that refuses every non-finite number (NaN, Infinity, 1e400), which the
    one-pass parser reads but the two-step path answers with 400: assign's, on its hottest route.
    """
    role_tuple = tuple(roles) if roles is not None else None
    prefix = blueprint.url_prefix or ""
    path = prefix + rule

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(**path_args: Any) -> Any:
            req = behind(request)
            rt = runtime_of(current_app)  # one read through the proxy: nothing to resolve
            if role_tuple is not None:
                # The environ's own entry: `request.headers` would build a header view first.
                principal = rt.auth.require(req.environ.get("HTTP_AUTHORIZATION"), role_tuple)
                acting_in = resolve_environment(rt, principal, req)
                request_globals = behind(g)
                request_globals.principal = principal
                request_globals.environment = acting_in
                limit = acting_in.settings.rate_limit_per_s or rt.settings.rate_limit_per_s
                if limit > 0:
                    enforce_rate_limit(rt, principal.name, limit)
            if body is not None:
                path_args["body"] = parse_body(body, one_pass_body, req, rt.settings.max_body_bytes)
            if query is not None:
                path_args["query"] = parse_query(query)
            result = view(**path_args)
            if isinstance(result, Response):
                return result
            payload, code = (result, status) if not isinstance(result, tuple) else result
            if code == 204:
                return Response(status=204)
            if isinstance(payload, BaseModel):
                payload = payload.model_dump(mode="json")
            response = jsonify(payload)
            response.status_code = code  # set directly: a (body, status) tuple is parsed again
            return response

        blueprint.add_url_rule(rule, view.__name__, wrapper, methods=[method])
        # 404: an environment named that does not exist (or is archived).
        auth_errors = (401, 403, 404, 429) if role_tuple is not None else ()
        validation_errors = (400, 413, 422) if body is not None else ()
        query_errors = (422,) if query is not None else ()
        all_errors = tuple(sorted({*auth_errors, *validation_errors, *query_errors, *errors, 503}))
        ROUTES.append(
            RouteSpec(
                path=path,
                method=method.lower(),
                summary=summary,
                tag=blueprint.name,
                roles=role_tuple,
                body=body,
                query=query,
                response=response,
                status=status,
                errors=all_errors,
                extra_responses=extra_responses or {},
            )
        )
        return view

    return decorate


def behind(proxy: T) -> T:
    """The object behind one of Flask's context proxies (`request`, `g`, `current_app`).

    Every attribute read through a proxy looks its context up again (Flask's "Notes On
    Proxies"): the route decorator resolves each once and hands the objects on.
    """
    return cast(LocalProxy[T], proxy)._get_current_object()


def enforce_rate_limit(rt: Runtime, key_name: str, limit: int) -> None:
    """429 once `key_name` has spent this second's budget (the environment's
    `rate_limit_per_s`, else ROLLOUT_RATE_LIMIT_PER_S)."""
    wait_s = rt.store.ratelimit.hit(key_name, rt.now(), limit)
    if wait_s is not None:
        raise RateLimited(
            f"key {key_name!r} is over its limit of {limit} requests a second; retry later",
            wait_s,
        )


ENVIRONMENT_ENVIRON_KEY = "HTTP_" + ENVIRONMENT_HEADER.upper().replace("-", "_")


def named_environment(req: Request) -> str | None:
    """The environment the request names: the header, else the `environment` query parameter.

    Read from the environ: `request.headers` and `request.args` would each build a view (and
    parse the query string) on every keyed request, most of which name neither.
    """
    environ = req.environ
    named: str | None = environ.get(ENVIRONMENT_ENVIRON_KEY)
    if named:
        return named
    if not environ.get("QUERY_STRING"):
        return None
    return req.args.get(ENVIRONMENT_PARAMETER)


def resolve_environment(rt: Runtime, principal: Principal, req: Request) -> Environment:
    """The environment the request acts in: a scoped key's own (naming another is 403
    `wrong_environment`), else the one named, default production. One not known, or
    archived, is 404 `environment_not_found`."""
    named = named_environment(req)
    if principal.environment is not None:
        if named and named != principal.environment:
            raise WrongEnvironment(
                f"key {principal.name!r} acts in environment {principal.environment!r} only,"
                f" not {named!r}"
            )
        name = principal.environment
    else:
        name = named or PRODUCTION
    found = rt.environments.all().get(name)
    if found is None or found.archived:
        raise NotFound(
            f"environment {name!r} not found" + (" (archived)" if found is not None else ""),
            code="environment_not_found",
        )
    return found


def environment() -> Environment:
    """The environment of the current request (resolved by `route` for every keyed route)."""
    found: Environment = g.environment
    return found


def check_spans(source: str, target: str) -> None:
    """A promotion acts in two environments: both must exist (not archived) and differ, and the
    key must act in both (an all-environments key; 403 `wrong_environment` otherwise)."""
    known = runtime_of(current_app).environments.all()
    for name in (source, target):
        if name not in known or known[name].archived:
            raise NotFound(f"environment {name!r} not found", code="environment_not_found")
    if source == target:
        message = f"promoting from {source!r} to itself changes nothing"
        raise Invalid(message, [{"field": "to", "message": message}])
    principal: Principal = g.principal
    if principal.environment is not None:
        raise WrongEnvironment(
            f"key {principal.name!r} acts in {principal.environment!r} only; promoting from"
            f" {source!r} to {target!r} needs a key of every environment"
        )


def review_in_environment() -> bool:
    """Whether starts and traffic raises wait for review in the request's environment."""
    return review_required(environment(), runtime_of(current_app).settings.require_review)


def environment_store() -> Store:
    """The store acting in the current request's environment: experiment state goes here."""
    return runtime_of(current_app).store.in_environment(environment().name)


def raw_body(req: Request, limit: int | None) -> bytes:
    """The request's body (read once: call it once), or 413 when it is over `limit` bytes
    (the app's MAX_CONTENT_LENGTH, passed in: `request.max_content_length` reads it through
    `current_app` on every call).

    A body with a Content-Length within the limit is one read of exactly that many bytes from
    the server's input, which PEP 3333 has the server end there; Werkzeug's guarded stream
    would wrap it first and then ask the server for 64 KiB again until it answers that the
    body is over: three more calls into gunicorn's reader. Any other body (chunked, or over the
    limit, which Werkzeug refuses with 413) goes through Werkzeug's stream.
    """
    # From the environ: `request.content_length` builds the request's header view to read it.
    length = get_content_length(req.environ)
    if length is not None and (limit is None or length <= limit):
        body: bytes = req.environ["wsgi.input"].read(length)
        return body
    raw = req.get_data(cache=True)
    if length is None and limit is not None and len(raw) >= limit:
        # A body without Content-Length (chunked) is cut at the limit by Werkzeug, not refused.
        raise TooLarge(f"the request body is larger than {limit} bytes")
    return raw


def json_body(raw: bytes) -> Any:
    """The body's JSON, or 400 naming what is wrong with it; an empty body reads as {}."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise Malformed("the request body is nested too deeply") from None


def _not_json(constant: str) -> float:
    """Python's parser accepts NaN and Infinity; JSON does not, and they would not round-trip."""
    raise ValueError(f"{constant} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def parse_body(
    model: type[BaseModel], one_pass: bool, req: Request, limit: int | None
) -> BaseModel:
    raw = raw_body(req, limit)
    if one_pass:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # refused: the two-step path below names the error as it always has
    data = json_body(raw)
    if not isinstance(data, dict):
        raise Malformed("the request body must be a JSON object")
    return validate(model, data)


def validate(model: type[BaseModel], data: Any, prefix: str = "") -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc, prefix)
        fields = ", ".join(d["field"] for d in details)
        raise Invalid(f"invalid fields: {fields}", details) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for name in request.args:
        if name == ENVIRONMENT_PARAMETER:
            continue  # every route's, read by resolve_environment
        values = request.args.getlist(name)
        data[name] = values if len(values) > 1 else values[0]
    return validate(model, data)


def principal_name() -> str:
    principal = getattr(g, "principal", None)
    return principal.name if principal is not None else "anonymous"


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return runtime_of(current_app)
