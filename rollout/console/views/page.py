"""What every console page shares: the signed-in user, the answer to a refused action, and
error pages in HTML (the API keeps its JSON errors; these handlers are the blueprint's own)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from experiments.errors import DomainError
from rollout.console import permissions
from rollout.console.blueprint import blueprint
from rollout.console.environment import whereabouts
from rollout.console.signed_in import ConsoleUser, current_user
from rollout.errors import Unauthorized, status_of

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def signed_in(view: F) -> F:
    """The view receives `user=`; without a session (or with a revoked key) it is sign-in."""

    @functools.wraps(view)
    def wrapper(**kwargs: Any) -> ResponseReturnValue:
        user = current_user()
        if user is None:
            raise Unauthorized("sign in with an API key to use the console")
        return view(user=user, **kwargs)

    return wrapper  # type: ignore[return-value]


def refused(error: DomainError) -> str:
    """The service's own answer, as the API would give it: status, code and message."""
    details = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in error.details)
    text = f"{status_of(error)} {error.code}: {error.message}"
    return f"{text} ({details})" if details else text


def report(error: DomainError) -> None:
    flash(refused(error), "error")


def render(template: str, user: ConsoleUser | None, **context: Any) -> str:
    """A page, with the environment it acts in (named in the header of every page)."""
    try:
        where = whereabouts(user) if user is not None else None
    except DomainError:  # the key's own environment is archived: the page says why, unplaced
        where = None
    return render_template(
        template, user=user, where=where, may=permissions.may, P=permissions, **context
    )


@blueprint.app_template_filter("when")
def when(at: float) -> str:
    """A Unix time as people read it, in UTC so every reader sees the same."""
    return datetime.fromtimestamp(float(at), UTC).strftime("%Y-%m-%d %H:%M:%S")


@blueprint.errorhandler(Unauthorized)
def _sign_in_first(error: Unauthorized) -> ResponseReturnValue:
    target = url_for("console.sign_in_page", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        return "", 401, {"HX-Redirect": target}
    return redirect(target)


@blueprint.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> ResponseReturnValue:
    message = f"400 csrf: {error.description} Reload the page and try again."
    return render("error.html", current_user(), message=message), 400


@blueprint.errorhandler(DomainError)
def _domain_error(error: DomainError) -> ResponseReturnValue:
    return render("error.html", current_user(), message=refused(error)), status_of(error)
