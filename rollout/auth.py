"""Who is calling: API keys by role, checked on every /api/v1 route.

Secrets are never stored; a SHA-256 of each is. A secret the worker has not verified yet is
hashed and looked up by digest, so timing reveals nothing about any stored secret, and the final
comparison is constant-time. Each worker then keeps the principal of each secret it verified
(only those: an unknown secret is never kept), keyed by the secret, so a known key costs neither
the SHA-256 nor the store's lookup on its next requests. The whole cache is dropped when the
configuration version moves (a key created or revoked announces a change), so a revoked key is
refused by the revoking worker at once and by every other worker within the watcher's delay,
which the revoke waits out before it answers.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from experiments.model import Role
from experiments.store.apikeys import ApiKeyStore, secret_hash
from experiments.store.config_version import ConfigStamp
from rollout.config.watcher import ConfigWatcher
from rollout.errors import Forbidden, Unauthorized

BOOTSTRAP_NAME = "bootstrap-admin"
MAX_SECRET_LENGTH = 512


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    environment: str | None = None
    """The one environment the key acts in; None: any, chosen per request (default production)."""

    def may(self, roles: Iterable[Role]) -> bool:
        return self.role is Role.ADMIN or self.role in tuple(roles)


class Authenticator:
    def __init__(self, keys: ApiKeyStore, watcher: ConfigWatcher, admin_key: str | None) -> None:
        self._keys = keys
        self._watcher = watcher
        self._admin_hash = secret_hash(admin_key) if admin_key else None
        self._verified: dict[str, Principal] = {}
        self._verified_stamp: ConfigStamp | None = None
        self._lock = threading.Lock()

    def principal(self, authorization: str | None) -> Principal:
        secret = _bearer(authorization)
        try:
            stamp = self._watcher.stamp
        except (redis.ConnectionError, redis.TimeoutError):
            # A worker started while Redis is down knows no version to bind the cache to; the
            # bootstrap admin key is still verified (by its digest), a stored key needs Redis.
            return self._verify(secret)
        with self._lock:
            # `is` first: the watcher hands out the same stamp until the version moves, and a
            # stamp's own comparison costs more than the rest of a cached lookup.
            if stamp is not self._verified_stamp and stamp != self._verified_stamp:
                self._verified.clear()
                self._verified_stamp = stamp
            known = self._verified.get(secret)
        if known is not None:
            return known
        principal = self._verify(secret)
        with self._lock:
            if self._verified_stamp == stamp:
                self._verified[secret] = principal
        return principal

    def require(self, authorization: str | None, roles: Iterable[Role]) -> Principal:
        principal = self.principal(authorization)
        roles = tuple(roles)
        if not principal.may(roles):
            wanted = " or ".join(r.value for r in roles)
            raise Forbidden(
                f"key {principal.name!r} has role {principal.role.value!r}; needs {wanted}"
            )
        return principal

    def require_metrics(self, authorization: str | None, token: str | None) -> None:
        """/metrics names every experiment: with ROLLOUT_METRICS_TOKEN set, it needs that bearer
        token (what a Prometheus scrape config holds) or an admin key; without it, it is open."""
        if token is None:
            return
        secret = _bearer(authorization)
        if hmac.compare_digest(secret_hash(secret), secret_hash(token)):
            return
        self.require(authorization, [Role.ADMIN])

    def forget(self) -> None:
        with self._lock:
            self._verified.clear()

    def _verify(self, secret: str) -> Principal:
        """The principal of a secret, from its digest: the bootstrap admin's or a stored key's."""
        digest = secret_hash(secret)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(BOOTSTRAP_NAME, Role.ADMIN, None)
        key = self._keys.by_hash(digest)
        if key is None or not hmac.compare_digest(digest, key.hash):
            raise Unauthorized("unknown API key")
        return Principal(key.name, key.role, key.environment)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <key> header")
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    if len(secret) > MAX_SECRET_LENGTH:
        raise Unauthorized("unknown API key")
    return secret
