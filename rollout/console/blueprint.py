"""The console's blueprint: its templates and static files, CSRF on every POST, and the CSP."""

from __future__ import annotations

from flask import Blueprint, Response

from rollout.console.security import CONTENT_SECURITY_POLICY, csrf, ensure_signing_key

blueprint = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


@blueprint.before_request
def _check_csrf() -> None:
    """Every form and action of the console carries the session's token (Flask-WTF)."""
    ensure_signing_key()
    csrf.protect()


@blueprint.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response
