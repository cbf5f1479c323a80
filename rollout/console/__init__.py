"""The console: a server-rendered web UI for product teams and release managers, at `/`.

It is a shell over the same functions the API calls (rollout/operations/, the store via the
app's runtime, experiments/analysis.py): it
decides nothing itself, it only shows and asks. It may import from rollout/ and experiments/;
nothing outside this package imports from it except rollout/app.py, which registers it.
Browser libraries are vendored under static/vendor (see vendor/refresh.sh), never a CDN.
"""

from __future__ import annotations

from flask import Flask

from rollout.console.blueprint import blueprint
from rollout.console.security import SESSION_LIFETIME, ConsoleSessions, csrf


def register_console(app: Flask) -> None:
    """Mount the console; its session cookie and CSRF checks stay out of the /api/v1 routes."""
    from rollout.console import views  # noqa: F401  (registers the views on the blueprint)

    app.config.update(
        SESSION_COOKIE_NAME="rollout_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The API is authenticated by bearer keys, not cookies, so it needs no CSRF check; the
        # console's blueprint asks for one on every POST (blueprint.py).
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as its session, so a page left open keeps working until expiry.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = ConsoleSessions()
    csrf.init_app(app)
    app.register_blueprint(blueprint)
