"""The environment switcher's one action: choose the environment the console's pages act in."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from experiments.errors import DomainError
from rollout.console.blueprint import blueprint
from rollout.console.environment import choose
from rollout.console.signed_in import ConsoleUser
from rollout.console.views.page import report, signed_in
from rollout.console.views.sign_in import local_target


@blueprint.post("/environment")
@signed_in
def environment_switch(user: ConsoleUser) -> ResponseReturnValue:
    """Back to the page the switch was made on; from one experiment's page, to the list: the
    same key may name another experiment, or none, in the environment chosen."""
    back = local_target(request.form.get("next"))
    if back.startswith(url_for("console.experiments_page") + "experiments/"):
        back = url_for("console.experiments_page")
    try:
        chosen = choose(user, request.form.get("environment", "").strip())
    except DomainError as error:
        report(error)
    else:
        flash(f"now in {chosen.display_name} ({chosen.name})", "ok")
    return redirect(back)
