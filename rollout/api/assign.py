"""Assignment for applications (`sdk`): assign, the SDK configuration, and local exposures."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from experiments.errors import NotFound
from experiments.model import Covariates, FreeJson, Key, Role, Status, StrictFlag, UnitId
from experiments.prompts.version import PromptMessage
from experiments.store.exposures import ExposureWrite, exposure_write
from rollout.api.batches import BatchAnswer, validate_items
from rollout.api.routing import environment, environment_store, route, runtime
from rollout.errors import unreadable
from rollout.observability import count_assignment
from rollout_sdk.kernel.assignment import assign

blueprint = Blueprint("assign", __name__, url_prefix="/api/v1")

MAX_ATTRIBUTES = 100


class AssignRequest(BaseModel):
    """Parsed in one pass (`one_pass_body`): a number in `attributes` is refused unless finite
    (experiments/json_bounds.py), and so is every covariate (`Covariates`)."""

    model_config = ConfigDict(extra="forbid")
    user_id: UnitId
    attributes: FreeJson = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    covariates: Covariates = Field(default_factory=dict)
    experiments: list[Key] | None = Field(default=None, max_length=200)
    track: StrictFlag = True


class PromptContent(BaseModel):
    name: str
    version: int
    template: str | None = None
    messages: list[PromptMessage] | None = Field(
        default=None, description="a chat prompt's messages (then `template` is null)"
    )
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    portable: bool | None = Field(
        default=None, description="whether both SDKs render the template alike (docs/prompts.md)"
    )


class VariantAssignment(BaseModel):
    variant: str
    in_experiment: bool
    reason: str
    prompt: PromptContent | None = None
    config: dict[str, Any] | None = None


class AssignResponse(BaseModel):
    user_id: str
    assignments: dict[str, VariantAssignment]


class Exposure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UnitId
    experiment: Key
    variant: Key
    attributes: FreeJson = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    covariates: Covariates = Field(default_factory=dict)


class ExposuresRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exposures: list[Any] = Field(
        max_length=1000,
        description="up to 1000 items shaped as Exposure; each is checked alone, so one bad item"
        " is rejected by its index while the others count",
    )


class SdkConfig(BaseModel):
    version: int
    experiments: list[dict[str, Any]]
    prompts: dict[str, Any]


@route(
    blueprint,
    "/assign",
    "POST",
    summary="Which variant a user gets, recording the exposure",
    roles=[Role.SDK],
    body=AssignRequest,
    response=AssignResponse,
    errors=[404],
    one_pass_body=True,
)
def assign_user(body: AssignRequest) -> Any:
    rt = runtime()
    acting_in = environment().name
    snapshot = rt.live.snapshot(acting_in)
    if body.experiments is None:
        wanted = [k for k, e in snapshot.experiments.items() if e.status is Status.RUNNING]
    else:
        missing = [k for k in body.experiments if not snapshot.readable(k)]
        if missing:
            raise NotFound(
                f"unknown experiment(s): {', '.join(missing)}",
                [{"field": "experiments", "message": f"unknown experiment {k!r}"} for k in missing],
            )
        wanted = list(dict.fromkeys(body.experiments))
    answers = {key: assign(snapshot.compiled[key], body.user_id, body.attributes) for key in wanted}
    variants: dict[str, str] = {key: a.variant for key, a in answers.items()}
    if body.track:
        writes = [
            exposure_write(
                snapshot.experiments[key],
                body.user_id,
                snapshot.variant(key, a.variant)[0],
                body.attributes,
                body.covariates,
                snapshot.covariate_names(key),
            )
            for key, a in answers.items()
            if a.in_experiment
        ]
        recorded = rt.store.in_environment(acting_in).exposures.record(writes, rt.now())
        for write, record in zip(writes, recorded, strict=True):
            variants[write.experiment] = (
                snapshot.experiments[write.experiment].variants[record.variant_index].key
            )
    assignments = {}
    for key, answer in answers.items():
        experiment = snapshot.experiments[key]
        variant_key = variants[key]
        _, variant = snapshot.variant(key, variant_key)
        count_assignment(key, variant_key, answer.in_experiment)
        assignments[key] = {
            "variant": variant_key,
            "in_experiment": answer.in_experiment,
            "reason": answer.reason.value,
            "prompt": snapshot.prompt_of(experiment, variant_key),
            "config": variant.config,
        }
    return {"user_id": body.user_id, "assignments": assignments}


@route(
    blueprint,
    "/sdk/config",
    "GET",
    summary="Everything an SDK needs to assign locally (ETag; If-None-Match answers 304)",
    roles=[Role.SDK],
    response=SdkConfig,
    extra_responses={304: "not modified"},
)
def sdk_config() -> Response:
    document, etag = runtime().live.snapshot(environment().name).sdk_document()
    if request.if_none_match.contains_weak(etag.strip('"')):  # weak comparison (RFC 9110)
        response = Response(status=304)
    else:
        response = jsonify(document)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return response


@route(
    blueprint,
    "/exposures",
    "POST",
    summary="Record exposures assigned locally by an SDK",
    roles=[Role.SDK],
    body=ExposuresRequest,
    response=BatchAnswer,
    status=202,
)
def record_exposures(body: ExposuresRequest) -> Any:
    rt = runtime()
    snapshot = rt.live.snapshot(environment().name)
    answer = BatchAnswer()
    valid = validate_items(Exposure, body.exposures, "exposures", answer)
    writes: list[ExposureWrite] = []
    for index, item in valid:
        assert isinstance(item, Exposure)
        compiled = snapshot.compiled.get(item.experiment)
        if item.experiment in snapshot.unreadable:
            answer.reject(index, *unreadable(item.experiment))
            continue
        if compiled is None:
            answer.reject(index, "unknown_experiment", f"unknown experiment {item.experiment!r}")
            continue
        own = assign(compiled, item.user_id, item.attributes)
        if not own.in_experiment or own.variant != item.variant:
            answer.reject(
                index,
                "variant_mismatch",
                f"the service assigns {own.variant!r} (in_experiment={own.in_experiment}),"
                f" not {item.variant!r}",
            )
            continue
        writes.append(
            exposure_write(
                snapshot.experiments[item.experiment],
                item.user_id,
                snapshot.variant(item.experiment, item.variant)[0],
                item.attributes,
                item.covariates,
                snapshot.covariate_names(item.experiment),
            )
        )
    for record in environment_store().exposures.record(writes, rt.now()):
        if record.recorded_now:
            answer.accepted += 1
        else:
            answer.duplicates += 1
    return answer.model_dump(), 202
