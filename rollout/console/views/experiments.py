"""The experiments list, one experiment's page (with its live part for polling), and its actions.

Each action calls the same function of rollout/operations/experiments.py as its API route, with
the same role check and review setting; a refusal is shown as the service's own error.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from experiments.errors import DomainError, Invalid
from experiments.model import DECISION_ROLES, Role, Status
from rollout.console import charts, permissions, ramp
from rollout.console.blueprint import blueprint
from rollout.console.environment import (
    choose,
    environment_of,
    promotion_targets,
    review_of,
    store_of,
)
from rollout.console.figures import figures_of, primary_verdict, results_of
from rollout.console.signed_in import ConsoleUser, runtime
from rollout.console.verdicts import percent, verdict_of
from rollout.console.views.page import render, report, signed_in
from rollout.operations import experiments as operations
from rollout.operations import promotion

ACTIONS = ("start", "pause", "resume", "advance", "rollback", "conclude")
OFFERED: dict[Status, tuple[str, ...]] = {
    Status.DRAFT: ("start",),
    Status.RUNNING: ("pause", "advance", "rollback", "conclude"),
    Status.PAUSED: ("resume", "rollback", "conclude"),
}
LIST_FILTERS = ("status", "owner", "layer", "q")
PROMOTERS = (Role.RELEASE,)
"""Who may promote (as POST /api/v1/experiments/{key}/promote): release, and admin."""
POLL_SECONDS = 5


@blueprint.get("/")
@signed_in
def experiments_page(user: ConsoleUser) -> ResponseReturnValue:
    permissions.require(user, permissions.EXPERIMENT_READERS)
    rt, store = runtime(), store_of(user)
    chosen = {name: request.args.get(name, "").strip() for name in LIST_FILTERS}
    everything = store.experiments.all()
    shown = [
        e
        for e in everything
        if e.archived_at is None  # hidden here as from the API's list (archiving.py)
        and (not chosen["status"] or e.status.value == chosen["status"])
        and (not chosen["owner"] or e.owner == chosen["owner"])
        and (not chosen["layer"] or e.layer == chosen["layer"])
        and (not chosen["q"] or chosen["q"].lower() in e.key.lower())
    ]
    rows = []
    for experiment in sorted(shown, key=lambda e: e.key):
        verdict = None
        if experiment.status is not Status.DRAFT:
            verdict = primary_verdict(results_of(store, experiment.key, rt.now()).results)
        rows.append(
            {"experiment": experiment, "traffic": ramp.traffic_words(experiment),
             "verdict": verdict}
        )
    return render(
        "experiments.html",
        user,
        rows=rows,
        chosen=chosen,
        statuses=[s.value for s in Status],
        owners=sorted({e.owner for e in everything if e.owner}),
        layers=sorted({e.layer for e in everything if e.layer}),
    )


def _live_context(user: ConsoleUser, key: str) -> dict[str, Any]:
    rt = runtime()
    figures = figures_of(store_of(user), key, rt.now())
    experiment, results = figures.judged.experiment, figures.judged.results
    history = [h.model_dump(mode="json") for h in figures.history]
    metrics = [
        {
            "metric": metric,
            "verdicts": [verdict_of(metric, c) for c in metric.comparisons],
            "interval_chart": charts.interval_chart(metric),
            "timeline_chart": charts.timeline_chart(metric.metric, figures.timeline, history),
        }
        for metric in results.metrics
    ]
    # Per dimension, every segment's primary and guardrail comparisons with their verdict (a
    # guardrail's is the per-segment rule the controller rolls back on).
    segments = [
        {
            "dimension": dimension,
            "rows": [
                {"segment": segment, "metric": metric, "comparison": c,
                 "verdict": verdict_of(metric, c)}
                for segment in dimension.segments
                for metric in segment.metrics
                if metric.role in DECISION_ROLES
                for c in metric.comparisons
            ],
        }
        for dimension in results.segments or ()
    ]
    return {
        "experiment": experiment,
        "results": results,
        "decision": figures.judged.decision,
        "metrics": metrics,
        "segments": segments,
        "stages": ramp.stages_of(experiment, results, rt.now()),
        "traffic": ramp.traffic_words(experiment),
        "history": list(reversed(history)),
        "timeline_count": len(figures.timeline),
        "actions": [
            a for a in OFFERED.get(experiment.status, ())
            if a != "advance" or experiment.rollout is not None
        ] if permissions.may(user, permissions.OPERATORS) else [],
        "may_approve": permissions.may(user, permissions.EXPERIMENT_APPROVERS),
        "promote_to": promotion_targets(user) if permissions.may(user, PROMOTERS) else [],
        "percent": percent,
        "poll_seconds": POLL_SECONDS,
    }


@blueprint.get("/experiments/<key>")
@signed_in
def experiment_page(user: ConsoleUser, key: str) -> ResponseReturnValue:
    permissions.require(user, permissions.EXPERIMENT_READERS)
    return render("experiment.html", user, **_live_context(user, key))


@blueprint.get("/experiments/<key>/live")
@signed_in
def experiment_live(user: ConsoleUser, key: str) -> ResponseReturnValue:
    """The part of the page that changes, polled by htmx while the page is open."""
    permissions.require(user, permissions.EXPERIMENT_READERS)
    return render("_experiment_live.html", user, **_live_context(user, key))


@blueprint.post("/experiments/<key>/actions/<action>")
@signed_in
def experiment_action(user: ConsoleUser, key: str, action: str) -> ResponseReturnValue:
    back = redirect(url_for("console.experiment_page", key=key))
    try:
        permissions.require(user, permissions.OPERATORS)
        outcome = _run(action, key, user)
    except DomainError as error:
        report(error)
        return back
    if outcome.pending is not None:
        flash(
            f"{action} proposed: it waits for approval by a key other than {user.name}",
            "ok",
        )
    else:
        flash(f"{action}: done; the experiment is now {outcome.experiment.status.value}", "ok")
    return back


def _run(action: str, key: str, user: ConsoleUser) -> operations.Outcome:
    rt = runtime()
    now, store, review, actor = rt.now(), store_of(user), review_of(user), user.name
    reason = request.form.get("reason", "").strip() or None
    if action == "start":
        return operations.start(store, key, actor, now, review, reason)
    if action == "pause":
        return operations.pause(store, key, actor, now, reason)
    if action == "resume":
        return operations.resume(store, key, actor, now, reason)
    if action == "advance":
        return operations.advance(store, key, actor, now, review, reason)
    if action == "rollback":
        if reason is None:
            raise _missing("reason", "a rollback needs a reason")
        return operations.rollback(store, key, actor, now, reason)
    if action == "conclude":
        winner = request.form.get("winner", "").strip()
        if not winner:
            raise _missing("winner", "concluding needs a winner")
        return operations.conclude(store, key, actor, now, winner, reason)
    raise _missing("action", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


def _missing(field: str, message: str) -> Invalid:
    return Invalid(message, [{"field": field, "message": message}])


@blueprint.post("/experiments/<key>/approve")
@signed_in
def experiment_approve(user: ConsoleUser, key: str) -> ResponseReturnValue:
    rt = runtime()
    try:
        permissions.require(user, permissions.EXPERIMENT_APPROVERS)
        change = request.form.get("change", "")
        outcome = operations.approve(store_of(user), key, change, user.name, rt.now())
    except DomainError as error:
        report(error)
    else:
        flash(f"approved; the experiment is now {outcome.experiment.status.value}", "ok")
    return redirect(url_for("console.experiment_page", key=key))


@blueprint.post("/experiments/<key>/promote")
@signed_in
def experiment_promote(user: ConsoleUser, key: str) -> ResponseReturnValue:
    """Copy the experiment's definition into another environment as a draft, as the API's
    promote route does; the page of the copy is shown, in that environment."""
    rt = runtime()
    here = environment_of(user).name
    target = request.form.get("to", "").strip()
    try:
        permissions.require(user, PROMOTERS)
        if target not in {e.name for e in promotion_targets(user)}:
            raise _missing("to", f"pick an environment to promote to, other than {here}")
        copy = promotion.promote(
            store_of(user), rt.store.in_environment(target), key, user.name, rt.now()
        )
    except DomainError as error:
        report(error)
        return redirect(url_for("console.experiment_page", key=key))
    choose(user, target)
    flash(f"promoted {key} from {here} to {target}: a {copy.status.value} there", "ok")
    return redirect(url_for("console.experiment_page", key=key))
