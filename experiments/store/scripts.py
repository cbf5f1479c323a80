"""The Lua scripts of the store, loaded once per client and called by name."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from experiments.store.connection import Redis


@cache
def source(name: str) -> str:
    return (files("experiments.store") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Registered scripts for one client: EVALSHA, falling back to EVAL after a SCRIPT FLUSH."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._redis.register_script(source(name))
            self._scripts[name] = script
        return script
