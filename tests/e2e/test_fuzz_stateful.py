"""A bounded, seeded fuzz run against the real service under gunicorn: no request breaks it.

Two halves. Schemathesis' state machine walks an experiment's life through OpenAPI links (LINKS
below: define, read, change, start, pause, resume, roll back, conclude, assign, then events and
exposures of the assigned user), each step sending the key of a role the operation allows in
turn, and every fifth step the key of a role it refuses, so every role's key is used. Each
scenario starts from the same seeded store. Then adversarial requests that no schema would
generate (deep nesting, huge strings, lone surrogates, wrong types, NaN, non-UTF-8 bytes, wrong
content types, huge headers) go to every operation that takes a body.

Every answer must be JSON, below 500, of a status the operation documents and within its schema;
and after each adversarial run the service must still serve the seeded experiment to an SDK, since
one poisoned request must not take the service down for everyone. Gunicorn, not the WSGI test
client, is the server, because gunicorn itself answers some malformed requests (with HTML).

Everything is derandomized and bounded by examples, so a failure reproduces with the same command.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from experiments.store import keys
from rollout.embedded import EmbeddedRedis
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import Server

Operation = schemathesis.schemas.APIOperation[Any, Any, Any, Any]
ROLES = ("admin", "editor", "release", "sdk")
PROMPT = "fuzz-summary"
RUNNING = "fuzz-running"
METRIC = "thumbs_up"
# Bounds, measured on 2 busy cores: the whole module runs in well under 90 s.
STATEFUL_SCENARIOS = 50
STATEFUL_STEPS = 10
FORBIDDEN_EVERY = 5
# Path parameters that reach the seeded state, so requests are not simply turned away with a 404.
SEEDED_PATH_VALUES: dict[str, Any] = {"key": RUNNING, "prompt": PROMPT, "n": 1}
PATH_CHOICES: dict[str, list[Any]] = {
    "key": [RUNNING, "no-such-experiment"], "prompt": [PROMPT, "no-such-prompt"], "n": [1, 2],
}
# Operations that answer 2xx only for state that earlier steps made or left.
SUCCEEDED_ON_STATE = {
    "GET /api/v1/experiments/{key}",
    "POST /api/v1/experiments/{key}/pause",
    "POST /api/v1/experiments/{key}/rollback",
    "POST /api/v1/assign",
}
# Operations that no scenario starts with: only the links from an /assign answer reach them.
REACHED_ONLY_BY_LINKS = {"POST /api/v1/events", "POST /api/v1/exposures"}
ADVERSARIAL_EXAMPLES = 30
REQUEST_TIMEOUT_S = 10
# Answers that are not JSON by design: Prometheus text, the browser's API docs, and no body.
NON_JSON_PATHS = {"/metrics", "/docs"}
BODYLESS_STATUSES = {204, 304}

SCHEMA_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def answers_json(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> None:
    """A client reads every API answer, error or not, as JSON; an HTML page is a defect."""
    if case.path in NON_JSON_PATHS or response.status_code in BODYLESS_STATUSES:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"{case.method} {case.path} answered {response.status_code} as {content_type!r}: "
        f"{response.text[:200]!r}"
    )
    json.loads(response.content)


EXPERIMENT = "/api/v1/experiments/{key}"
# The experiment's life, walked through links: define, read, change, operate, assign, measure.
STATEFUL_PATHS = {
    "/api/v1/experiments", EXPERIMENT, f"{EXPERIMENT}/history", f"{EXPERIMENT}/results",
    *(f"{EXPERIMENT}/{action}" for action in ("start", "pause", "resume", "advance", "rollback",
                                              "conclude", "approve", "evaluate")),
    "/api/v1/sdk/config", "/api/v1/assign", "/api/v1/events", "/api/v1/exposures",
}
BY_KEY = {"path.key": "$request.path.key"}
CREATED_KEY = {"path.key": "$response.body#/key"}
LISTED_KEY = {"path.key": "$response.body#/experiments/0/key"}
ASSIGN_THIS = {"requestBody": {"experiments": ["$request.path.key"], "track": True}}
# source operation, status -> link name -> (target operationId, link fields)
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, Any]]]] = {
    ("post", "/api/v1/experiments", "201"): {
        "ReadCreated": ("get_api_v1_experiments_key", {"parameters": CREATED_KEY}),
        "ChangeCreated": ("patch_api_v1_experiments_key", {"parameters": CREATED_KEY}),
        "StartCreated": ("post_api_v1_experiments_key_start", {"parameters": CREATED_KEY}),
    },
    ("get", "/api/v1/experiments", "200"): {
        "ReadListed": ("get_api_v1_experiments_key", {"parameters": LISTED_KEY}),
    },
    ("get", EXPERIMENT, "200"): {
        "Change": ("patch_api_v1_experiments_key", {"parameters": BY_KEY}),
        "History": ("get_api_v1_experiments_key_history", {"parameters": BY_KEY}),
        "Results": ("get_api_v1_experiments_key_results", {"parameters": BY_KEY}),
        "AssignRead": ("post_api_v1_assign", {
            "requestBody": {"experiments": ["$response.body#/key"]}}),
    },
    ("patch", EXPERIMENT, "200"): {
        "ReadChanged": ("get_api_v1_experiments_key", {"parameters": BY_KEY}),
        "StartChanged": ("post_api_v1_experiments_key_start", {"parameters": BY_KEY}),
    },
    ("post", f"{EXPERIMENT}/start", "200"): {
        "Pause": ("post_api_v1_experiments_key_pause", {"parameters": BY_KEY}),
        "Advance": ("post_api_v1_experiments_key_advance", {"parameters": BY_KEY}),
        "Evaluate": ("post_api_v1_experiments_key_evaluate", {"parameters": BY_KEY}),
        "AssignStarted": ("post_api_v1_assign", ASSIGN_THIS),
    },
    ("post", f"{EXPERIMENT}/pause", "200"): {
        "Resume": ("post_api_v1_experiments_key_resume", {"parameters": BY_KEY}),
        "RollBack": ("post_api_v1_experiments_key_rollback", {"parameters": BY_KEY}),
        "AssignPaused": ("post_api_v1_assign", ASSIGN_THIS),
    },
    ("post", f"{EXPERIMENT}/resume", "200"): {
        "Conclude": ("post_api_v1_experiments_key_conclude", {"parameters": BY_KEY}),
        "AssignResumed": ("post_api_v1_assign", ASSIGN_THIS),
    },
    ("post", f"{EXPERIMENT}/rollback", "200"): {
        "AssignRolledBack": ("post_api_v1_assign", ASSIGN_THIS),
        "ResultsRolledBack": ("get_api_v1_experiments_key_results", {"parameters": BY_KEY}),
    },
    ("post", f"{EXPERIMENT}/conclude", "200"): {
        "AssignConcluded": ("post_api_v1_assign", ASSIGN_THIS),
    },
    ("get", "/api/v1/sdk/config", "200"): {
        "AssignConfigured": ("post_api_v1_assign", {
            "requestBody": {"experiments": ["$response.body#/experiments/0/key"]}}),
    },
    ("post", "/api/v1/assign", "200"): {
        "EventOfAssigned": ("post_api_v1_events", {"requestBody": {"events": [{
            "user_id": "$response.body#/user_id",
            "experiment": "$request.body#/experiments/0",
            "metric": METRIC,
        }]}}),
        "ExposureOfAssigned": ("post_api_v1_exposures", {"requestBody": {"exposures": [{
            "user_id": "$response.body#/user_id",
            "experiment": "$request.body#/experiments/0",
        }]}}),
    },
}


def linked_document(document: dict[str, Any]) -> dict[str, Any]:
    """The experiment operations of the service's document, with OpenAPI links between them.

    rollout/openapi.py publishes no links (see /work/notes/fuzz-findings.md); these say how an
    experiment's key flows from one answer into the next request, bodies included, which
    schemathesis' own inference cannot guess. Valid path parameters name the seeded experiment or
    one that does not exist: random keys only ever meet a 404 (test_schemathesis.py sends them),
    and lifecycle operations are roots that would otherwise never reach a running experiment.
    """
    linked = copy.deepcopy(document)
    linked["paths"] = {p: item for p, item in linked["paths"].items() if p in STATEFUL_PATHS}
    for item in linked["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in PATH_CHOICES:
                    parameter["schema"] = {"enum": PATH_CHOICES[parameter["name"]]}
    for (method, path, status), links in LINKS.items():
        response = linked["paths"][path][method]["responses"][status]
        response["links"] = {
            name: {"operationId": target, **fields} for name, (target, fields) in links.items()
        }
    return linked


def wipe(client: redis.Redis) -> None:
    """Forget everything but the configuration version, which workers only ever see grow."""
    for name in client.scan_iter(f"{keys.PREFIX}:*"):
        if name.decode() != keys.CONFIG_VERSION:
            client.delete(name)


def seed(server: Server, role_keys: dict[str, str]) -> None:
    """A key of each role (written into `role_keys`), a prompt and a running experiment using it."""
    role_keys["admin"] = ADMIN_KEY
    for role in ROLES[1:]:
        answer = server.request("POST", "/api/v1/keys", json={"name": f"fuzz-{role}", "role": role})
        assert answer.status_code == 201, answer.text
        role_keys[role] = answer.json()["secret"]
    created = server.request(
        "POST", f"/api/v1/prompts/{PROMPT}/versions", key=role_keys["editor"],
        json={"template": "Summarize {{ text }}", "model": "gpt-4o-mini", "params": {}},
    )
    assert created.status_code == 201, created.text
    experiment = {
        "key": RUNNING, "name": "Fuzzed", "owner": "team-fuzz",
        "variants": [
            {"key": "control", "weight": 0.5, "prompt": f"{PROMPT}@1"},
            {"key": "friendly", "weight": 0.5, "config": {"tone": "warm"}},
        ],
        "control": "control",
        "metrics": [{"key": METRIC, "type": "binary", "role": "primary", "direction": "increase"}],
    }
    defined = server.request("POST", "/api/v1/experiments", key=role_keys["editor"],
                             json=experiment)
    assert defined.status_code == 201, defined.text
    started = server.request("POST", f"/api/v1/experiments/{RUNNING}/start",
                             key=role_keys["release"], json={})
    assert started.status_code == 200, started.text
    assert assert_serves_sdk(server, role_keys["sdk"])["in_experiment"] is True


def assert_serves_sdk(server: Server, sdk_key: str) -> dict[str, Any]:
    """The service still configures SDKs and assigns the seeded experiment, whatever its state."""
    config = server.request("GET", "/api/v1/sdk/config", key=sdk_key)
    assert config.status_code == 200, config.text
    assigned = server.request("POST", "/api/v1/assign", key=sdk_key,
                              json={"user_id": "canary", "experiments": [RUNNING]})
    assert assigned.status_code == 200, assigned.text
    assignment: dict[str, Any] = assigned.json()["assignments"][RUNNING]
    return assignment


@pytest.fixture(scope="module")
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def role_keys(gunicorn: Server, redis_client: redis.Redis) -> dict[str, str]:
    """A fresh store for each test, seeded over the API as an operator would seed it."""
    wipe(redis_client)
    made: dict[str, str] = {}
    seed(gunicorn, made)
    return made


@pytest.fixture(scope="module")
def document(gunicorn: Server) -> dict[str, Any]:
    answer = requests.get(f"{gunicorn.base_url}/openapi.json", timeout=REQUEST_TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    published: dict[str, Any] = answer.json()
    return published


@pytest.fixture(scope="module")
def api_schema(document: dict[str, Any], gunicorn: Server) -> schemathesis.schemas.BaseSchema:
    """The whole published document, to judge answers by."""
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=gunicorn.base_url)
    return schema


@pytest.fixture(scope="module")
def linked_schema(document: dict[str, Any], gunicorn: Server) -> schemathesis.schemas.BaseSchema:
    schema = schemathesis.openapi.from_dict(linked_document(document))
    schema.config.update(base_url=gunicorn.base_url)
    # The links above only: inferred ones would spread the bounded budget over every pair.
    schema.config.phases.stateful.inference.algorithms = []
    return schema


FUZZ_SETTINGS = settings(
    max_examples=STATEFUL_SCENARIOS,
    stateful_step_count=STATEFUL_STEPS,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def documented_roles(operation: Operation) -> list[str]:
    """The roles an operation names in its description ("Roles: editor, release."), admin last."""
    description = operation.definition.raw.get("description", "")
    named = description.partition("Roles:")[2].strip().rstrip(".")
    roles = [role.strip() for role in named.split(",") if role.strip() in ROLES]
    return [*[role for role in roles if role != "admin"], "admin"]


def key_role(operation: Operation, step: int) -> str:
    """The role whose key a scenario's `step` sends: allowed ones in turn, a forbidden one at times.

    Allowed roles let a chain go on (an editor defines, release starts, an SDK assigns); every
    FORBIDDEN_EVERY-th step sends a role the operation refuses, whose 403 must be JSON too.
    """
    allowed = documented_roles(operation)
    forbidden = [role for role in ROLES if role not in allowed]
    if forbidden and step % FORBIDDEN_EVERY == FORBIDDEN_EVERY - 1:
        return forbidden[step // FORBIDDEN_EVERY % len(forbidden)]
    return allowed[step % len(allowed)]


def test_linked_scenarios_answer_json_within_the_schema_with_every_role_key(
    linked_schema: schemathesis.schemas.BaseSchema,
    role_keys: dict[str, str],
    gunicorn: Server,
    redis_client: redis.Redis,
) -> None:
    answered: Counter[tuple[str, str, int]] = Counter()
    base = linked_schema.as_state_machine()

    class Scenarios(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Each scenario starts from the same state, so replaying it replays the same answers.
            wipe(redis_client)
            seed(gunicorn, role_keys)
            self.steps = 0
            self.roles: dict[str, str] = {}

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            role = key_role(case.operation, self.steps)
            self.roles[case.id] = role
            self.steps += 1
            return {"headers": {"Authorization": f"Bearer {role_keys[role]}"},
                    "timeout": REQUEST_TIMEOUT_S}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)
            answered[(self.roles[case.id], case.operation.label, response.status_code)] += 1

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case[Any], **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=[*SCHEMA_CHECKS, answers_json])

    Scenarios.run(settings=FUZZ_SETTINGS)

    succeeded = {(role, label) for (role, label, status) in answered if status < 300}
    forbidden = {(role, label) for (role, label, status) in answered if status == 403}
    summary = "\n".join(f"{k}: {v}" for k, v in sorted(answered.items()))
    assert {role for role, _ in succeeded} == set(ROLES), summary
    assert {role for role, _ in forbidden} >= set(ROLES) - {"admin"}, summary
    assert {label for _, label in succeeded} >= SUCCEEDED_ON_STATE, summary
    assert REACHED_ONLY_BY_LINKS & {label for _, label, _ in answered}, summary
    assert_serves_sdk(gunicorn, role_keys["sdk"])


# --- adversarial requests: what no schema generates --------------------------------------------

VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/experiments"): {
        "key": "fuzz-new", "name": "n", "owner": "o", "control": "a",
        "variants": [{"key": "a", "weight": 0.5, "config": {"k": 1}},
                     {"key": "b", "weight": 0.5, "config": {"k": 2}}],
        "targeting": {"country": {"in": ["DE"]}},
        "metrics": [{"key": METRIC, "type": "binary", "role": "primary", "direction": "increase"}],
    },
    ("patch", "/api/v1/experiments/{key}"): {"traffic": 0.5, "name": "renamed",
                                             "targeting": {"country": {"eq": "DE"}}},
    ("post", "/api/v1/experiments/{key}/rollback"): {"reason": "fuzz"},
    ("post", "/api/v1/experiments/{key}/conclude"): {"winner": "control"},
    ("post", "/api/v1/assign"): {"user_id": "u1", "attributes": {"country": "DE"},
                                 "experiments": [RUNNING], "track": True},
    ("post", "/api/v1/events"): {"events": [{"event_id": "e-1", "user_id": "u1",
                                             "experiment": RUNNING, "metric": METRIC, "value": 1}]},
    ("post", "/api/v1/exposures"): {"exposures": [{"user_id": "u1", "experiment": RUNNING,
                                                   "variant": "control"}]},
    ("post", "/api/v1/prompts/{prompt}/versions"): {"template": "Hi {{ name }}", "model": "m",
                                                   "params": {"t": 0.2}, "message": "m"},
    ("post", "/api/v1/prompts/{prompt}/versions/{n}/render"): {"variables": {"name": "x"}},
    ("post", "/api/v1/keys"): {"name": "fuzz-made", "role": "sdk"},
}
ROLE_OF = {
    "/api/v1/assign": "sdk", "/api/v1/events": "sdk", "/api/v1/exposures": "sdk",
    "/api/v1/keys": "admin",
}
BODY_OPERATIONS = sorted(VALID_BODIES)


def deep(depth: int, kind: str) -> str:
    """JSON text nested `depth` levels, built as text: building it cannot hit a recursion limit."""
    if kind == "list":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position inside a JSON value, the value itself included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_in(item, (*prefix, index))


def replaced(value: Any, at: tuple[Any, ...], by: Any) -> Any:
    if not at:
        return by
    copied = copy.copy(value)
    copied[at[0]] = replaced(value[at[0]], at[1:], by)
    return copied


MARKER = "__fuzz_raw__"
WRONG_VALUES = st.sampled_from([
    None, True, False, 0, 1, -1, 1.5, 1e308, -1e308, 2**70, "", "1", "true", "DE", [], {},
    [None], {"": None}, "\x00", "\u202e", "🙂" * 50,
])
RAW_VALUES = st.sampled_from([
    '"\\ud800"', '"\\udfff x"', '{"\\ud800": 1}', "NaN", "Infinity", "-Infinity", "1e999",
    deep(40, "list"), deep(200, "dict"), deep(300, "list"), deep(1000, "dict"), deep(5000, "list"),
    json.dumps("x" * 300_000), json.dumps({f"k{i}": i for i in range(20_000)}),
    json.dumps(list(range(100_000))),
])


# Where each body holds free JSON or free text, which the schema cannot bound: hit these often.
FREE_POSITIONS: dict[tuple[str, str], list[tuple[Any, ...]]] = {
    ("post", "/api/v1/experiments"): [("variants", 0, "config"), ("variants", 0, "config", "k"),
                                      ("targeting", "country", "in", 0), ("name",)],
    ("patch", "/api/v1/experiments/{key}"): [("targeting", "country", "eq"), ("traffic",),
                                             ("name",)],
    ("post", "/api/v1/assign"): [("attributes", "country"), ("user_id",), ("track",)],
    ("post", "/api/v1/events"): [("events", 0, "value"), ("events", 0, "user_id")],
    ("post", "/api/v1/exposures"): [("exposures", 0, "user_id")],
    ("post", "/api/v1/prompts/{prompt}/versions"): [("params", "t"), ("template",)],
    ("post", "/api/v1/prompts/{prompt}/versions/{n}/render"): [("variables", "name")],
}


@st.composite
def hostile_bodies(
    draw: st.DrawFn, valid: dict[str, Any], free: list[tuple[Any, ...]]
) -> tuple[bytes, str]:
    """A request body and content type: a valid body with one position made hostile, or junk."""
    kind = draw(st.sampled_from(["wrong_type", "raw_value", "raw_value", "bytes", "content_type"]))
    if kind in {"wrong_type", "raw_value"}:
        on_free: bool = draw(st.booleans())
        positions = free if free and on_free else list(paths_in(valid))
        at = draw(st.sampled_from(positions))
        hostile = draw(WRONG_VALUES) if kind == "wrong_type" else MARKER
        text = json.dumps(replaced(valid, at, hostile))
        if kind == "raw_value":
            text = text.replace(json.dumps(MARKER), draw(RAW_VALUES), 1)
        return text.encode(), "application/json"
    if kind == "bytes":
        junk = draw(st.sampled_from([
            b"\xff\xfe\xfd", json.dumps(valid).encode("utf-16"), b'{"user_id": "\xc3\x28"}',
            b"\x00" * 1000, b"{" * 100_000, b"", b"null", b"[]", b'"x"', b"1",
            json.dumps(valid).encode()[:-1], b"x" * 2_000_000,
        ]))
        return junk, "application/json"
    content_type = draw(st.sampled_from([
        "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/xml", "application/json; charset=latin-1", "application/json; charset=utf-16",
        "", "application/json, text/html",
    ]))
    return json.dumps(valid).encode(), content_type


def assert_answer_within_schema(operation: Operation, answer: requests.Response, sent: str) -> None:
    """JSON, below 500, a documented status, and within that status' schema."""
    where = f"{operation.label} <- {sent[:300]}"
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]!r}"
    assert answer.headers.get("content-type", "").startswith("application/json"), (
        f"{where}: {answer.status_code} {answer.headers.get('content-type')!r} "
        f"{answer.text[:300]!r}"
    )
    documented = operation.definition.raw["responses"]
    assert str(answer.status_code) in documented, f"{where}: undocumented {answer.status_code}"
    operation.validate_response(answer)
    if answer.status_code >= 400:
        assert set(answer.json()["error"]) >= {"code", "message"}, where


def send(server: Server, method: str, path: str, key: str, body: bytes, content_type: str,
         headers: dict[str, str] | None = None) -> requests.Response:
    sent_headers = {"Content-Type": content_type, **(headers or {})}
    return server.request(method.upper(), path, key=key, data=body, headers=sent_headers)


def concrete(path: str) -> str:
    return path.format(**SEEDED_PATH_VALUES) if "{" in path else path


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=[f"{m.upper()} {p}"
                                                                  for m, p in BODY_OPERATIONS])
def test_hostile_bodies_answer_json_within_the_schema(
    api_schema: schemathesis.schemas.BaseSchema,
    role_keys: dict[str, str],
    gunicorn: Server,
    method: str,
    path: str,
) -> None:
    operation = api_schema[path][method]
    key = role_keys[ROLE_OF.get(path, "admin")]

    @given(hostile=hostile_bodies(VALID_BODIES[(method, path)],
                                  FREE_POSITIONS.get((method, path), [])))
    @settings(max_examples=ADVERSARIAL_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(hostile: tuple[bytes, str]) -> None:
        body, content_type = hostile
        answer = send(gunicorn, method, concrete(path), key, body, content_type)
        assert_answer_within_schema(operation, answer, f"{content_type!r} {body[:300]!r}")

    run()
    assert_serves_sdk(gunicorn, role_keys["sdk"])


HUGE_HEADERS: dict[str, Callable[[], dict[str, str]]] = {
    "one 16 KB header": lambda: {"X-Fuzz": "a" * 16_384},
    "one 100 KB header": lambda: {"X-Fuzz": "a" * 100_000},
    "150 headers": lambda: {f"X-Fuzz-{i}": "v" for i in range(150)},
    "a 16 KB bearer key": lambda: {"Authorization": "Bearer " + "k" * 16_384},
    "a non-ASCII bearer key": lambda: {"Authorization": "Bearer \u00e9\u00e8"},
}


@pytest.mark.parametrize("headers", list(HUGE_HEADERS))
def test_huge_headers_answer_json(
    api_schema: schemathesis.schemas.BaseSchema,
    role_keys: dict[str, str],
    gunicorn: Server,
    headers: str,
) -> None:
    operation = api_schema["/api/v1/assign"]["post"]
    body = json.dumps(VALID_BODIES[("post", "/api/v1/assign")]).encode()
    answer = send(gunicorn, "post", "/api/v1/assign", role_keys["sdk"], body, "application/json",
                  headers=HUGE_HEADERS[headers]())
    assert_answer_within_schema(operation, answer, headers)
    assert_serves_sdk(gunicorn, role_keys["sdk"])


def test_a_huge_url_answers_json(
    api_schema: schemathesis.schemas.BaseSchema, role_keys: dict[str, str], gunicorn: Server
) -> None:
    operation = api_schema["/api/v1/experiments/{key}"]["get"]
    answer = gunicorn.request("GET", "/api/v1/experiments/" + "k" * 20_000, key=role_keys["editor"])
    assert_answer_within_schema(operation, answer, "a 20 KB path")
