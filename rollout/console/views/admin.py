"""API keys (admin: create with the secret shown once, list, revoke) and webhook deliveries."""

from __future__ import annotations

import time

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from experiments.errors import DomainError
from experiments.model import Role
from rollout.api.keys import KeyCreate
from rollout.api.routing import validate
from rollout.console import permissions
from rollout.console.blueprint import blueprint
from rollout.console.signed_in import ConsoleUser, runtime
from rollout.console.views.page import render, report, signed_in

DELIVERIES_SHOWN = 200


def _keys_page(user: ConsoleUser, created: dict[str, object] | None = None) -> str:
    keys = [k.public() for k in runtime().store.apikeys.list()]
    return render("keys.html", user, keys=keys, roles=[r.value for r in Role], created=created)


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
        key, secret = rt.store.apikeys.create(body.name, body.role, rt.now(), user.name)
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
