"""API keys (admin: create with the secret shown once, list, revoke) and webhook deliveries."""

from __future__ import annotations

import time

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from experiments.errors import DomainError, Invalid
from experiments.model import Role
from rollout.api.keys import KeyCreate
from rollout.api.routing import validate
from rollout.console import permissions
from rollout.console.blueprint import blueprint
from rollout.console.environment import environment_of
from rollout.console.signed_in import ConsoleUser, runtime
from rollout.console.views.page import render, report, signed_in

DELIVERIES_SHOWN = 200


EVERY_ENVIRONMENT = "*"
"""The form's value for a key of every environment (a name never has this character)."""


def _keys_page(user: ConsoleUser, created: dict[str, object] | None = None) -> str:
    """The keys its user manages: all for an admin key of every environment, else those of its
    environment (as GET /api/v1/keys answers)."""
    scope = user.principal.environment
    keys = [k.public() for k in runtime().store.apikeys.list() if scope in (None, k.environment)]
    return render(
        "keys.html", user, keys=keys, roles=[r.value for r in Role], created=created,
        key_environments=_key_environments(user), every=EVERY_ENVIRONMENT,
    )


def _key_environments(user: ConsoleUser) -> list[str]:
    """What a new key may belong to: the console's environment first, then the others and
    every environment; only its own for an admin key of one environment."""
    here = environment_of(user).name
    if user.principal.environment is not None:
        return [here]
    others = [e.name for e in runtime().environments.active() if e.name != here]
    return [here, *others, EVERY_ENVIRONMENT]


def _environment_wanted(user: ConsoleUser, chosen: str) -> str | None:
    if chosen not in _key_environments(user):
        message = f"a key of {chosen!r} is not one this key may make"
        raise Invalid(message, [{"field": "environment", "message": message}])
    return None if chosen == EVERY_ENVIRONMENT else chosen


@blueprint.get("/keys")
@signed_in
def keys_page(user: ConsoleUser) -> ResponseReturnValue:
    permissions.require(user, permissions.KEY_ADMINS)
    return _keys_page(user)


@blueprint.post("/keys")
@signed_in
def key_create(user: ConsoleUser) -> ResponseReturnValue:
    """Answers the page itself, not a redirect: the secret is in this one response only."""
    permissions.require(user, permissions.KEY_ADMINS)
    rt = runtime()
    form = {"name": request.form.get("name", "").strip(), "role": request.form.get("role", "")}
    try:
        body = validate(KeyCreate, form)
        assert isinstance(body, KeyCreate)
        wanted = _environment_wanted(user, request.form.get("environment", ""))
        key, secret = rt.store.apikeys.create(
            body.name, body.role, rt.now(), user.name, wanted
        )
    except DomainError as error:
        report(error)
        return redirect(url_for("console.keys_page"))
    rt.store.announce_change()
    return _keys_page(user, created={**key.public(), "secret": secret})


@blueprint.post("/keys/<name>/revoke")
@signed_in
def key_revoke(user: ConsoleUser, name: str) -> ResponseReturnValue:
    permissions.require(user, permissions.KEY_ADMINS)
    rt = runtime()
    try:
        rt.store.apikeys.revoke(name)
    except DomainError as error:
        report(error)
        return redirect(url_for("console.keys_page"))
    rt.store.announce_change()
    rt.auth.forget()
    # As DELETE /api/v1/keys/{name}: answer once every worker has dropped its cached copy.
    time.sleep(rt.watcher.propagation_s)
    flash(f"key {name} revoked; its sessions are signed out", "ok")
    return redirect(url_for("console.keys_page"))


@blueprint.get("/webhooks")
@signed_in
def deliveries_page(user: ConsoleUser) -> ResponseReturnValue:
    permissions.require(user, permissions.DELIVERY_READERS)
    experiment = request.args.get("experiment", "").strip() or None
    log = runtime().store.controller.webhooks.deliveries(experiment, DELIVERIES_SHOWN)
    return render("webhooks.html", user, deliveries=log, experiment=experiment or "")
