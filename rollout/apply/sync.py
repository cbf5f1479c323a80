"""`rollout apply` against the service: read what it holds, plan, and carry the plan out."""

from __future__ import annotations

from rollout.apply.plan import SYMBOL, Plan, PromptState, plan_experiment, plan_prompt
from rollout.apply.spec import Bundle
from rollout.http import ServiceClient, ServiceError, api_path

DEFAULT_ENVIRONMENTS = frozenset({"development", "staging", "production"})
"""The environments every service has: the ones a key that may not list them can still name."""


def acting_environment(client: ServiceClient) -> str | None:
    """The environment the client's requests act in, as the service says (the key's own, the
    one named, else production); None from a service that predates environments."""
    answer = client.get("/api/v1/experiments", limit=1)
    named = answer.get("environment")
    return str(named) if named is not None else None


def other_environments(client: ServiceClient) -> frozenset[str]:
    """The environments besides the one the client acts in: their labels are theirs to move."""
    acting = acting_environment(client)
    if acting is None:
        return frozenset()
    try:
        listed = client.get("/api/v1/environments")["environments"]
        names = frozenset(str(e["name"]) for e in listed) | DEFAULT_ENVIRONMENTS
    except ServiceError as exc:
        if exc.status not in (401, 403):
            raise
        names = DEFAULT_ENVIRONMENTS  # the defaults exist everywhere, listed or not
    return names - {acting}


def make_plan(client: ServiceClient, bundle: Bundle) -> Plan:
    """Read what the service holds for each file's subject and plan the difference, in the
    environment the client names."""
    plan = Plan()
    others = other_environments(client)
    for spec in bundle.prompts:
        detail = client.find(api_path("prompts", spec.name))
        state = None if detail is None else PromptState.from_detail(detail)
        part = plan_prompt(spec, state, others)
        plan.steps += part.steps
        plan.notes += part.notes
    for experiment in bundle.experiments:
        current = client.find(api_path("experiments", experiment.body.key))
        plan.steps.append(plan_experiment(experiment, current))
    return plan


class StepRefused(ServiceError):
    """The service refused one step of the plan; the message names the step."""

    def __init__(self, step: str, error: ServiceError) -> None:
        super().__init__(error.status, error.code, error.message, error.details)
        self.step = step

    def __str__(self) -> str:
        return f"{self.step}: {super().__str__()}"


def execute(client: ServiceClient, plan: Plan) -> list[str]:
    """Carry out the plan's requests in order (versions, labels, experiments); stop at the
    first refusal, raising StepRefused, since later steps may depend on it."""
    done = []
    for step in plan.to_apply:
        assert step.request is not None
        request, subject = step.request, f"{step.kind} {step.subject}"
        try:
            answer = client.exchange(request.method, request.path, request.body)
        except ServiceError as exc:
            raise StepRefused(subject, exc) from None
        found = (answer.document or {}).get("version")
        if step.expect_version is not None and found != step.expect_version:
            raise StepRefused(subject, ServiceError(
                409, "conflict",
                f"the service answered version {found}, not {step.expect_version}: the prompt"
                " changed meanwhile; run apply again",
            ))
        if answer.status == 202:
            change = (answer.document.get("pending") or {}).get("id", "?")
            done.append(f"? {subject}: waits for review (change {change})")
        else:
            done.append(f"{SYMBOL[step.action]} {subject}: {step.action.value}")
    return done
