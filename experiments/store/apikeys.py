"""API keys: only a SHA-256 of each secret is stored; the secret is shown once, at creation."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass

import redis

from experiments.environments import PRODUCTION
from experiments.errors import Conflict, NotFound
from experiments.model import Role
from experiments.store import keys
from experiments.store.connection import Redis

SECRET_PREFIX = "rk_"


def new_secret() -> str:
    """256 bits from the OS generator: high enough entropy that a fast hash is the right store."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: Role
    hash: str
    created_at: float
    created_by: str | None = None
    environment: str | None = PRODUCTION
    """The one environment the key acts in; None: every environment (chosen per request)."""

    def public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role.value,
            "environment": self.environment,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


class ApiKeyStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def create(
        self,
        name: str,
        role: Role,
        now: float,
        created_by: str | None,
        environment: str | None = PRODUCTION,
    ) -> tuple[ApiKey, str]:
        secret = new_secret()
        key = ApiKey(name, role, secret_hash(secret), now, created_by, environment)
        document = json.dumps(asdict(key))
        if not self._redis.hsetnx(keys.API_KEYS_BY_NAME, name, document):
            raise Conflict(f"an API key named {name!r} exists", code="already_exists")
        self._redis.hset(keys.API_KEYS_BY_HASH, key.hash, name)
        return key, secret

    def list(self) -> list[ApiKey]:
        return sorted(
            (_decode(raw) for raw in self._redis.hvals(keys.API_KEYS_BY_NAME)),
            key=lambda k: k.name,
        )

    def by_hash(self, digest: str) -> ApiKey | None:
        name = self._redis.hget(keys.API_KEYS_BY_HASH, digest)
        if name is None:
            return None
        raw = self._redis.hget(keys.API_KEYS_BY_NAME, name)
        return None if raw is None else _decode(raw)

    def revoke(self, name: str) -> None:
        raw = self._redis.hget(keys.API_KEYS_BY_NAME, name)
        if raw is None:
            raise NotFound(f"no API key named {name!r}")
        pipe = self._redis.pipeline(transaction=True)
        pipe.hdel(keys.API_KEYS_BY_HASH, _decode(raw).hash)
        pipe.hdel(keys.API_KEYS_BY_NAME, name)
        pipe.execute()

    def stamp_environments(self) -> tuple[str, ...]:
        """Write the environment of every key stored before keys had one (the migration): what
        `_decode` reads them as, production, or every environment for an admin key. Answers the
        names stamped."""
        stamped = []
        for name, raw in self._redis.hgetall(keys.API_KEYS_BY_NAME).items():
            if "environment" not in json.loads(raw) and self._stamp(name):
                stamped.append(name)
        return tuple(sorted(stamped))

    def _stamp(self, name: str) -> bool:
        """Stamp one key under WATCH, so a key revoked meanwhile is never written back."""
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(keys.API_KEYS_BY_NAME)
                    raw = pipe.hget(keys.API_KEYS_BY_NAME, name)
                    if raw is None or "environment" in json.loads(raw):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(keys.API_KEYS_BY_NAME, name, json.dumps(asdict(_decode(raw))))
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue


def _decode(raw: str) -> ApiKey:
    data = json.loads(raw)
    role = Role(data["role"])
    return ApiKey(
        name=data["name"],
        role=role,
        hash=data["hash"],
        created_at=data["created_at"],
        created_by=data.get("created_by"),
        environment=data["environment"] if "environment" in data else _unstamped(role),
    )


def _unstamped(role: Role) -> str | None:
    """The environment of a key written before keys had one: all of them for an admin key, as
    its role already spanned everything, else production, where all its state now is."""
    return None if role is Role.ADMIN else PRODUCTION
