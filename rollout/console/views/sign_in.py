"""Sign in with an API key (editor, release or admin), and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from experiments.errors import DomainError
from rollout.console import signed_in
from rollout.console.blueprint import blueprint
from rollout.console.views.page import refused, render


def local_target(target: str | None) -> str:
    """Only a path on this site: `next=https://elsewhere` must not become an open redirect."""
    if not target:
        return url_for("console.experiments_page")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("console.experiments_page")
    return target


@blueprint.get("/sign-in")
def sign_in_page() -> ResponseReturnValue:
    return render("sign_in.html", None, next=request.args.get("next", ""), message=None)


@blueprint.post("/sign-in")
def sign_in() -> ResponseReturnValue:
    try:
        signed_in.sign_in(request.form.get("key", ""))
    except DomainError as error:
        page = render("sign_in.html", None, next=request.form.get("next", ""),
                      message=refused(error))
        return page, 401 if error.code == "unauthorized" else 403
    return redirect(local_target(request.form.get("next")))


@blueprint.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    signed_in.sign_out()
    return redirect(url_for("console.sign_in_page"))
