"""The Lua scripts of the store, loaded once per client and called by name."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from redis.exceptions import NoScriptError

from experiments.store.connection import Redis

ScriptCall = tuple[Sequence[str], Sequence[str]]


@cache
def source(name: str) -> str:
    return (files("experiments.store") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Registered scripts for one client: EVALSHA, falling back to EVAL after a SCRIPT FLUSH."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts: dict[str, Any] = {}
        self._loaded: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._redis.register_script(source(name))
            self._scripts[name] = script
        return script

    def run_many(self, name: str, calls: Sequence[ScriptCall]) -> list[Any]:
        """Run one script several times (keys, args) in one round trip.

        redis-py's pipeline asks SCRIPT EXISTS before every execution, a second round trip on
        the hottest paths (assign, events); here the script is loaded once per process, and a
        NOSCRIPT answer (Redis restarted or flushed) reloads it and runs again. Every call of
        the pipeline names the same script, so on NOSCRIPT none of them ran and the retry
        cannot apply anything twice.
        """
        script = self[name]
        if len(calls) == 1:
            keys, args = calls[0]
            return [script(keys=list(keys), args=list(args))]
        for attempt in range(2):
            if name not in self._loaded or attempt:
                self._redis.script_load(script.script)
                self._loaded.add(name)
            pipe = self._redis.pipeline(transaction=False)
            for keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            try:
                return list(pipe.execute())
            except NoScriptError:
                continue
        raise NoScriptError(f"script {name} could not be loaded")
