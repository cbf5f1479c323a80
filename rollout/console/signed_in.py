"""Who is signed in to the console: a key of role editor, release or admin, checked every request.

Signing in asks the service's own Authenticator about the secret, exactly as the API does; the
session then keeps the key's name and stored digest. Each request looks the digest up in the
store again (one read), so a revoked key is signed out at its very next request, and a key whose
role changed is seen with its new role.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import current_app, session

from experiments.model import Role
from experiments.store.apikeys import secret_hash
from rollout.auth import BOOTSTRAP_NAME, Principal
from rollout.errors import Forbidden, Unauthorized
from rollout.runtime import Runtime

CONSOLE_ROLES = (Role.ADMIN, Role.EDITOR, Role.RELEASE)


@dataclass(frozen=True)
class ConsoleUser:
    principal: Principal

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def role(self) -> Role:
        return self.principal.role


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["rollout"]
    return rt


def sign_in(secret: str) -> ConsoleUser:
    """Check `secret` as the API would; an `sdk` key is an application's, not a person's."""
    rt = runtime()
    principal = rt.auth.principal(f"Bearer {secret.strip()}")
    if principal.role not in CONSOLE_ROLES:
        raise Forbidden(
            f"key {principal.name!r} has role {principal.role.value!r}; the console is for"
            " editor, release and admin keys"
        )
    session.clear()  # a fresh session (and CSRF token) for every sign-in: no fixation
    session.permanent = True
    session["key"] = principal.name
    session["digest"] = secret_hash(secret.strip())
    return ConsoleUser(principal)


def sign_out() -> None:
    session.clear()


def current_user() -> ConsoleUser | None:
    """The signed-in user, or None (never signed in, expired, or the key was revoked)."""
    digest = session.get("digest")
    if not isinstance(digest, str):
        return None
    rt = runtime()
    admin_key = rt.settings.admin_key
    if admin_key and hmac.compare_digest(digest, secret_hash(admin_key)):
        return ConsoleUser(Principal(BOOTSTRAP_NAME, Role.ADMIN))
    key = rt.store.apikeys.by_hash(digest)
    if key is None or key.role not in CONSOLE_ROLES:
        session.clear()
        return None
    return ConsoleUser(Principal(key.name, key.role, key.environment))


def require_user() -> ConsoleUser:
    user = current_user()
    if user is None:
        raise Unauthorized("sign in with an API key to use the console")
    return user
