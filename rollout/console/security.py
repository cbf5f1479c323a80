"""How the console's session cookie is signed and sent, and the Content-Security-Policy.

The cookie is Flask's signed session; it holds the signed-in key's name and the SHA-256 digest
the store keeps for it (never the secret), checked against the store on every request, so a
revoked key's sessions end at once. It is HttpOnly, SameSite=Lax, expires after
SESSION_LIFETIME, and is Secure whenever the request came over TLS (directly or through a proxy
that says so in X-Forwarded-Proto: that only ever makes the cookie stricter).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask, Request, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer

from rollout.controller.webhooks import master_secret
from rollout.runtime import runtime_of

SESSION_LIFETIME = timedelta(hours=8)
API_PREFIXES = ("/api/", "/v1/")
"""Paths of the API (/api/v1, and OTLP in at /v1/traces): bearer keys, never the cookie."""

# Flask-WTF's CSRF protection, asked for by the console's blueprint on each of its POSTs.
csrf = CSRFProtect()
SIGNING_LABEL = b"prompt-rollout console session"

# No inline script and no inline style anywhere; charts and htmx are files served from here.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def signing_key() -> str:
    """Every worker derives the same key from the service's master secret (kept in Redis or
    ROLLOUT_WEBHOOK_SECRET), under a label of its own so it signs nothing else."""
    rt = runtime_of(current_app)
    master = master_secret(rt.store, rt.settings)
    return hmac.new(master.encode(), SIGNING_LABEL, hashlib.sha256).hexdigest()


def ensure_signing_key() -> None:
    """A console page needs the key even before it has a cookie (its CSRF token is signed)."""
    if not current_app.secret_key:
        current_app.secret_key = signing_key()


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, keyed lazily (the store is reached on the first request,
    not at import) and Secure behind TLS."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An API request (bearer keys, never cookies) gets no session at all: `None` makes
        Flask hand it its null session, which it never saves, so neither the cookie parsing
        here nor `save_session` runs on the hottest routes. A request without the cookie
        (/healthz, /readyz, a first console page) gets an empty session without the signing
        key, so it never reaches Redis for it: with Redis down the probes still answer."""
        if request.path.startswith(API_PREFIXES):
            return None
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        ensure_signing_key()
        return super().get_signing_serializer(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.is_secure or forwarded == "https" or super().get_cookie_secure(app)
