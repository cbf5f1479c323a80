"""Who is calling: API keys by role, checked on every /api/v1 route.

Secrets are never stored; a SHA-256 of each is. A request's secret is hashed and looked up; the
lookup is by digest, so timing reveals nothing about any stored secret, and the final comparison
is constant-time. Each worker caches the digests it has seen and drops them when the
configuration version moves (a key created or revoked announces a change), so a revoked key is
refused by the revoking worker at once and by every other worker within the watcher's delay,
which the revoke waits out before it answers.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from experiments.model import Role
from experiments.store.apikeys import ApiKey, ApiKeyStore, secret_hash
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
        return self.role is Role.ADMIN or self.role in set(roles)


class Authenticator:
    def __init__(self, keys: ApiKeyStore, watcher: ConfigWatcher, admin_key: str | None) -> None:
        self._keys = keys
        self._watcher = watcher
        self._admin_hash = secret_hash(admin_key) if admin_key else None
        self._cache: dict[str, ApiKey] = {}
        self._cache_stamp: ConfigStamp | None = None
        self._lock = threading.Lock()

    def principal(self, authorization: str | None) -> Principal:
        secret = _bearer(authorization)
        digest = secret_hash(secret)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return Principal(BOOTSTRAP_NAME, Role.ADMIN, None)
        key = self._lookup(digest)
        if key is None or not hmac.compare_digest(digest, key.hash):
            raise Unauthorized("unknown API key")
        return Principal(key.name, key.role, key.environment)

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
            self._cache.clear()

    def _lookup(self, digest: str) -> ApiKey | None:
        stamp = self._watcher.stamp
        with self._lock:
            if stamp != self._cache_stamp:
                self._cache.clear()
                self._cache_stamp = stamp
            cached = self._cache.get(digest)
        if cached is not None:
            return cached
        key = self._keys.by_hash(digest)
        if key is not None:
            with self._lock:
                if self._cache_stamp == stamp:
                    self._cache[digest] = key
        return key


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
