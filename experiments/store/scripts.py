"""The Lua scripts of the store, loaded once per client and called by name.

`Scripts.run_many` runs one script for several experiments in one round trip per Redis server:
on one Redis a single pipeline; on a Redis Cluster, where redis-py refuses EVALSHA in a cluster
pipeline, the calls are grouped by the master that holds each call's slot (every key of one call
shares its experiment's hash tag) and each group is one pipeline on that master's connection.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import suppress
from functools import cache
from importlib.resources import files
from typing import Any

from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    NoScriptError,
    RedisError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from experiments.store.connection import Redis
from experiments.store.process_id import current_pid

ScriptCall = tuple[Sequence[str], Sequence[str]]

REDIRECTS = (AskError, ClusterDownError, TryAgainError)
"""Answers of a cluster node that did not run the command (MovedError is an AskError): the
slot is elsewhere or not served right now, so running the call again cannot apply it twice."""


@cache
def source(name: str) -> str:
    return (files("experiments.store") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """Registered scripts for one client: EVALSHA, loading the script again after NOSCRIPT."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts: dict[str, Any] = {}
        # One Redis (not a cluster, whose client routes each call by its slot): a single call
        # runs on a connection each thread takes from this pool once and keeps (`_call`).
        self._pool = None if isinstance(redis, RedisCluster) else redis.connection_pool
        self._held = threading.local()

    def __getitem__(self, name: str) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._redis.register_script(source(name))
            self._scripts[name] = script
        return script

    def run_one(self, name: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        """One call by digest (a tracked assign's only write). NOSCRIPT (Redis restarted,
        flushed, or a replica newly promoted) means the call did not run: the script is loaded
        and the call sent once more. On a Redis Cluster the client routes it by its keys, which
        share one slot, and follows redirects.
        """
        script = self[name]
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return self._call(command)
        except NoScriptError:
            self._redis.script_load(script.script)
            return self._call(command)

    def _call(self, command: Sequence[Any]) -> Any:
        """One command on this thread's own connection: sent, and its answer read.

        redis-py's `execute_command` wraps each command in observability hooks, deprecation
        checks and a retry closure, and the pool's checkout and return lock and check the
        process: together more client CPU than the round trip's own work (bench/assign.py,
        tracked). The connection is taken from the pool once per thread and kept (the pool
        still closes it on `disconnect`; a forked child takes its own). Only a lost connection
        needs the client's retry policy, so that case goes through `execute_command`, which
        runs the command again as it always did (the scripts are written to be run twice:
        set-if-absent exposures, events deduplicated by id).
        """
        if self._pool is None:
            return self._redis.execute_command(*command)
        connection = self._thread_connection()
        try:
            connection.send_command(*command)
            return connection.read_response()
        except ResponseError:
            raise  # Redis answered: the connection is in step
        except (ConnectionError, TimeoutError):
            connection.disconnect()
            return self._redis.execute_command(*command)
        except BaseException:
            connection.disconnect()  # an answer may be left unread on it
            raise

    def _thread_connection(self) -> Any:
        held: tuple[int, Any] | None = getattr(self._held, "connection", None)
        pid = current_pid()
        if held is None or held[0] != pid:
            assert self._pool is not None  # `_call` asks for one on a single Redis only
            held = (pid, self._pool.get_connection())
            self._held.connection = held
        return held[1]

    def run_many(self, name: str, calls: Sequence[ScriptCall]) -> list[Any]:
        """Run one script several times (keys, args) in one round trip per server.

        redis-py's pipeline asks SCRIPT EXISTS before every execution, a second round trip on
        the hottest paths (assign, events); here the script is sent by its digest, and the calls
        that answer NOSCRIPT (Redis restarted, flushed, or a replica newly promoted) load it and
        run again: exactly those calls did not run, so none is applied twice.
        """
        if len(calls) == 1:
            keys, args = calls[0]
            return [self.run_one(name, keys, args)]
        script = self[name]
        if isinstance(self._redis, RedisCluster):
            return self._run_per_master(script, calls)
        return _raise_first_error(_pipelined(self._redis, script, calls))

    def _run_per_master(self, script: Any, calls: Sequence[ScriptCall]) -> list[Any]:
        """One pipeline per master holding the calls' slots; a call that a node redirects (the
        slot moved, a failover is under way) runs alone through the cluster client, which
        follows redirects and refreshes its slot map.

        A node that cannot be reached leaves its calls in doubt (sent, maybe run): that is an
        error for the caller, as on one Redis, after the slot map is refreshed so that the next
        request finds the replica that takes over.
        """
        groups: dict[str, tuple[Any, list[int]]] = {}
        for position, (keys, _) in enumerate(calls):
            node = self._redis.get_node_from_key(keys[0])
            groups.setdefault(node.name, (node, []))[1].append(position)
        answers: list[Any] = [None] * len(calls)
        for node, positions in groups.values():
            client = self._redis.get_redis_connection(node)
            try:
                results = _pipelined(client, script, [calls[p] for p in positions])
            except (ConnectionError, TimeoutError):
                self._refresh_slots()
                raise
            for position, result in zip(positions, results, strict=True):
                answers[position] = result
        for position, answer in enumerate(answers):
            if isinstance(answer, REDIRECTS):
                keys, args = calls[position]
                answers[position] = script(keys=list(keys), args=list(args))
        return _raise_first_error(answers)

    def _refresh_slots(self) -> None:
        # While the cluster elects a master this may fail too; the next request refreshes again.
        with suppress(RedisError):
            self._redis.nodes_manager.initialize()


def _pipelined(client: Any, script: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """EVALSHA every call in one pipeline on one server; answers (or errors) in call order."""
    answers: list[Any] = [None] * len(calls)
    pending = list(range(len(calls)))
    for attempt in range(2):
        if attempt:
            client.script_load(script.script)
        pipe = client.pipeline(transaction=False)
        for position in pending:
            keys, args = calls[position]
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        missing = []
        for position, result in zip(pending, pipe.execute(raise_on_error=False), strict=True):
            answers[position] = result
            if isinstance(result, NoScriptError):
                missing.append(position)
        if not missing:
            return answers
        pending = missing
    return answers


def _raise_first_error(answers: list[Any]) -> list[Any]:
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers
