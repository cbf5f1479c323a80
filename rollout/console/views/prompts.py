"""Prompts: the list, and one prompt's versions, labels, diff, render preview and tests."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from experiments.errors import DomainError, Invalid
from experiments.prompts.content import prompt_content, readable_text, render_readable
from experiments.prompts.prompt_tests import run_prompt_tests
from experiments.prompts.version import PromptTest
from rollout.console import permissions
from rollout.console.blueprint import blueprint
from rollout.console.environment import (
    check_label_in_reach,
    labels_in_reach,
    reviewed_labels,
    store_of,
)
from rollout.console.side_by_side import settings_text, side_by_side
from rollout.console.signed_in import ConsoleUser, runtime
from rollout.console.views.page import refused, render, report, signed_in
from rollout.operations import prompts as prompt_operations


@blueprint.get("/prompts")
@signed_in
def prompts_page(user: ConsoleUser) -> ResponseReturnValue:
    permissions.require(user, permissions.PROMPT_READERS)
    prompts = runtime().store.prompts
    names = prompts.names()
    archived = prompts.archived(names)  # hidden here as from the API's list (archiving.py)
    shown = [name for name in names if name not in archived]
    summaries = [
        s | {"labels": labels_in_reach(user, s["labels"])} for s in prompts.summaries(shown)
    ]
    return render("prompts.html", user, prompts=summaries)


def _number(name: str, default: int) -> int:
    raw = request.values.get(name, "")
    return int(raw) if raw.isdigit() else default


def _prompt_context(user: ConsoleUser, name: str) -> dict[str, Any]:
    prompts = runtime().store.prompts
    versions = prompts.versions(name)
    if not versions:
        prompts.require(name)
    pins = prompts.pins(name)
    labels = labels_in_reach(user, prompts.labels(name))
    # Pins name `E/<key>` outside production: this page lists its environment's experiments.
    prefix = store_of(user).qualified("")
    latest = len(versions)
    chosen = min(max(_number("version", latest), 1), latest)
    old = min(max(_number("from", max(latest - 1, 1)), 1), latest)
    new = min(max(_number("to", latest), 1), latest)
    before, after = prompts.get_version(name, old), prompts.get_version(name, new)
    document = prompts.get_version(name, chosen)
    tests = [PromptTest.model_validate(t) for t in document.get("tests") or []]
    failures = {f.index: f.reasons for f in run_prompt_tests(prompt_content(document), tests)}
    return {
        "name": name,
        "versions": versions,
        "labels": labels,
        "labels_of": {v: sorted(k for k, n in labels.items() if n == v) for v in labels.values()},
        "experiments_of": {
            version: sorted({
                ref.partition(":")[0].removeprefix(prefix)
                for ref in refs
                if _pinned_here(ref.partition(":")[0], prefix)
            })
            for version, refs in pins.items()
        },
        "pending": prompts.pending(name),
        "old": old,
        "new": new,
        "rows": side_by_side(
            readable_text(prompt_content(before)), readable_text(prompt_content(after))
        ),
        "settings_rows": side_by_side(settings_text(before), settings_text(after)),
        "chosen": document,
        "chosen_text": readable_text(prompt_content(document)),
        "tests": [(test, failures.get(i)) for i, test in enumerate(tests)],
        "rendered": None,
        "render_error": None,
    }


def _pinned_here(qualified: str, prefix: str) -> bool:
    return qualified.startswith(prefix) if prefix else "/" not in qualified


@blueprint.get("/prompts/<name>")
@signed_in
def prompt_page(user: ConsoleUser, name: str) -> ResponseReturnValue:
    permissions.require(user, permissions.PROMPT_READERS)
    return render("prompt.html", user, **_prompt_context(user, name))


@blueprint.post("/prompts/<name>/render")
@signed_in
def prompt_render(user: ConsoleUser, name: str) -> ResponseReturnValue:
    """A preview: renders in the same sandbox as the API's render route, writes nothing."""
    permissions.require(user, permissions.PROMPT_READERS)
    context = _prompt_context(user, name)
    variables = {
        field.removeprefix("var."): value
        for field, value in request.form.items()
        if field.startswith("var.")
    }
    try:
        context["rendered"] = render_readable(prompt_content(context["chosen"]), variables)
    except DomainError as error:
        context["render_error"] = refused(error)
    return render("prompt.html", user, variables=variables, **context)


@blueprint.post("/prompts/<name>/labels")
@signed_in
def prompt_label(user: ConsoleUser, name: str) -> ResponseReturnValue:
    rt = runtime()
    try:
        permissions.require(user, permissions.PROMPT_WRITERS)
        label = request.form.get("label", "").strip()
        version = request.form.get("version", "")
        if not version.isdigit():
            raise Invalid("pick a version", [{"field": "version", "message": "pick a version"}])
        check_label_in_reach(user, label)
        outcome = prompt_operations.move_label(
            rt.store, name, label, int(version), user.name, rt.now(),
            True, request.form.get("reason", "").strip() or None, reviewed_labels(),
        )
    except DomainError as error:
        report(error)
    else:
        if outcome.changed:
            flash(f"label {outcome.label} now points at version {outcome.version}", "ok")
        elif outcome.pending is not None:
            flash(f"moving {outcome.label} waits for approval by another key", "ok")
        else:
            flash(f"label {outcome.label} already points at version {outcome.version}", "ok")
    return redirect(url_for("console.prompt_page", name=name))


@blueprint.post("/prompts/<name>/approve")
@signed_in
def prompt_approve(user: ConsoleUser, name: str) -> ResponseReturnValue:
    rt = runtime()
    try:
        permissions.require(user, permissions.PROMPT_APPROVERS)
        change = request.form.get("change", "")
        for proposal in runtime().store.prompts.pending(name):
            if proposal.id == change:
                check_label_in_reach(user, proposal.label)
        outcome = prompt_operations.approve_label(
            rt.store, name, change, user.name, rt.now()
        )
    except DomainError as error:
        report(error)
    else:
        flash(f"approved: {outcome.label} now points at version {outcome.version}", "ok")
    return redirect(url_for("console.prompt_page", name=name))
