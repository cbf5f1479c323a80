"""Prompt versions (append-only lists), labels, label proposals and pins in Redis.

A version is never rewritten or removed: the list only grows (nothing in the service deletes from
it), and a version that an experiment references is also recorded as pinned so tooling can tell
which versions are in use. A prompt's keys share one hash tag, so its multi-key steps are atomic
on a Redis Cluster too.
"""

from __future__ import annotations

import json
from typing import Any

from experiments.errors import Conflict, NotFound
from experiments.prompt_labels import LabelProposal
from experiments.store import keys
from experiments.store.connection import Redis
from experiments.store.scripts import Scripts
from experiments.store.stored_json import stored_json
from rollout_sdk.kernel.portability import is_portable

MAX_VERSION = 2**31
"""No prompt reaches this many versions; a larger number in a URL simply finds nothing."""


def _version_of(raw: str) -> dict[str, Any]:
    """A stored version as it reads today. Versions stored before `portable` existed (set once
    when a version is created) get it computed from their template: it depends on nothing else."""
    document: dict[str, Any] = json.loads(raw)
    if "portable" not in document:
        document["portable"] = is_portable(document["template"])
    return document


class PromptStore:
    def __init__(self, redis: Redis, scripts: Scripts) -> None:
        self._redis = redis
        self._scripts = scripts

    def add_version(
        self, name: str, sha256: str, document: dict[str, Any], entry: dict[str, Any]
    ) -> tuple[int, bool]:
        """Append unless the content equals the latest version; answers (version, created)."""
        version, created = self._scripts["add_prompt_version"](
            keys=[keys.prompt_versions(name), keys.prompt_history(name)],
            args=[sha256, json.dumps(document), json.dumps(entry)],
        )
        if created:
            self._redis.sadd(keys.PROMPT_INDEX, name)
        return int(version), bool(created)

    def require(self, name: str) -> None:
        """NotFound unless the prompt has a version (every prompt has one from its creation)."""
        if not self._redis.exists(keys.prompt_versions(name)):
            raise NotFound(f"prompt {name!r} not found")

    def names(self) -> list[str]:
        return sorted(self._redis.smembers(keys.PROMPT_INDEX))

    def summaries(self, names: list[str]) -> list[dict[str, Any]]:
        """For a page of the list: each prompt's version count, latest version and labels."""
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.llen(keys.prompt_versions(name))
            pipe.lindex(keys.prompt_versions(name), -1)
            pipe.hgetall(keys.prompt_labels(name))
        raw = pipe.execute()
        found = []
        for index, name in enumerate(names):
            count, latest, labels = raw[3 * index : 3 * index + 3]
            if not count:
                continue
            found.append(
                {
                    "name": name,
                    "versions": int(count),
                    "latest": _version_of(latest),
                    "labels": {k: int(v) for k, v in labels.items()},
                }
            )
        return found

    def versions(self, name: str) -> list[dict[str, Any]]:
        raw = self._redis.lrange(keys.prompt_versions(name), 0, -1)
        if not raw:
            raise NotFound(f"prompt {name!r} not found")
        return [_version_of(item) for item in raw]

    def version_count(self, name: str) -> int:
        return int(self._redis.llen(keys.prompt_versions(name)))

    def get_version(self, name: str, version: int) -> dict[str, Any]:
        in_range = 1 <= version <= MAX_VERSION  # beyond, Redis refuses the index outright
        raw = self._redis.lindex(keys.prompt_versions(name), version - 1) if in_range else None
        if raw is None:
            raise NotFound(f"prompt version {name}@{version} not found")
        return _version_of(raw)

    def content(self, name: str, version: int) -> dict[str, Any] | None:
        """What an assignment carries: name, version, template or messages, model, params,
        portable."""
        try:
            doc = self.get_version(name, version)
        except NotFound:
            return None
        return {
            "name": name,
            "version": version,
            "template": doc.get("template"),
            "messages": doc.get("messages"),
            "model": doc.get("model"),
            "params": doc.get("params") or {},
            "portable": doc["portable"],
        }

    def labels(self, name: str) -> dict[str, int]:
        return {k: int(v) for k, v in self._redis.hgetall(keys.prompt_labels(name)).items()}

    def all_labels(self) -> dict[str, dict[str, int]]:
        names = self.names()
        if not names:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.prompt_labels(name))
        return {
            name: {k: int(v) for k, v in raw.items()}
            for name, raw in zip(names, pipe.execute(), strict=True)
            if raw
        }

    def set_label(self, name: str, label: str, version: int, entry: dict[str, Any]) -> None:
        """Move a label at once; a proposal to move it waits no more (it is superseded)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.prompt_labels(name), label, version)
        pipe.hdel(keys.prompt_pending(name), label)
        pipe.rpush(keys.prompt_history(name), json.dumps(entry))
        pipe.execute()

    def pending(self, name: str) -> list[LabelProposal]:
        raw = self._redis.hvals(keys.prompt_pending(name))
        return sorted(
            (LabelProposal.model_validate_json(item) for item in raw), key=lambda p: p.label
        )

    def propose_label(self, name: str, proposal: LabelProposal, entry: dict[str, Any]) -> None:
        """Record a label move waiting for review; it replaces an older proposal for the label."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.prompt_pending(name), proposal.label, stored_json(proposal))
        pipe.rpush(keys.prompt_history(name), json.dumps(entry))
        pipe.execute()

    def approve_label(
        self, name: str, proposal: LabelProposal, entries: list[dict[str, Any]]
    ) -> None:
        """Apply an approved proposal if neither it nor its label changed since it was read."""
        expected = "" if proposal.previous is None else str(proposal.previous)
        result = self._scripts["approve_prompt_label"](
            keys=[
                keys.prompt_labels(name),
                keys.prompt_pending(name),
                keys.prompt_history(name),
            ],
            args=[
                proposal.label,
                proposal.id,
                expected,
                str(proposal.version),
                *(json.dumps(entry) for entry in entries),
            ],
        )
        if int(result) != 1:
            raise Conflict(
                f"the proposal {proposal.id!r} is stale: label {proposal.label!r} or its proposal"
                " changed meanwhile",
                code="stale_approval",
            )

    def resolve(self, name: str, ref: str) -> int | None:
        """A version number for "3" or for a label; None when there is no such version."""
        if ref.isdigit():
            version = int(ref)
            return version if 1 <= version <= self.version_count(name) else None
        raw = self._redis.hget(keys.prompt_labels(name), ref)
        return None if raw is None else int(raw)

    def set_archived(self, name: str, record: dict[str, Any] | None, entry: dict[str, Any]) -> bool:
        """Archive the prompt with `record` (who, when, why), or unarchive it with None, and say
        so in its history, in one script; False (nothing written) when it already was so."""
        changed = self._scripts["set_prompt_archive"](
            keys=[keys.prompt_archived(name), keys.prompt_history(name)],
            args=["" if record is None else json.dumps(record), json.dumps(entry)],
        )
        return bool(changed)

    def archived(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The archive record of each of `names` that is archived, in one pipelined round trip."""
        if not names:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.get(keys.prompt_archived(name))
        return {
            name: json.loads(raw)
            for name, raw in zip(names, pipe.execute(), strict=True)
            if raw is not None
        }

    def pin(self, name: str, version: int, experiment: str) -> None:
        self._redis.hset(keys.prompt_pins(name), f"{version}|{experiment}", "1")

    def pins(self, name: str) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for field in self._redis.hkeys(keys.prompt_pins(name)):
            version, _, experiment = field.partition("|")
            found.setdefault(int(version), []).append(experiment)
        return found

    def history(self, name: str, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Every change of the prompt, oldest first: versions, label moves, proposals, approvals."""
        raw = self._redis.lrange(keys.prompt_history(name), offset, offset + limit - 1)
        return [json.loads(item) for item in raw]
