"""Every Redis key the service uses, built in one place.

All keys live under `rollout:`. An experiment's keys share the hash tag `{exp:<key>}` and a
prompt's keys the tag `{prompt:<name>}`, so every multi-key script touches one Cluster slot.
Global keys (indexes, the configuration version, API keys) are only ever used one at a time.

An experiment with `shards: N` keeps its per-user state (exposures, sufficient statistics, user
totals, dedupe markers) in N parts, shard s of a user given by `shard_of` in the kernel's
hashing: shard 0 under `{exp:<key>}`, shard s > 0 under `{exp:<key>/s<s>}` (a key never holds a
"/"), so the shards spread over a Cluster's slots while each script still touches one slot.
Shard 0 is today's layout exactly: an experiment of one shard, and any data written before
shards existed, reads unchanged. The definition, history, timeline and controller keys are the
experiment's alone and stay under `{exp:<key>}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.environments import PRODUCTION as PRODUCTION_NAME

PREFIX = "rollout"

CONFIG_VERSION = f"{PREFIX}:config:version"
# A random token set once: it changes only when Redis loses its data (store/config_version.py).
CONFIG_EPOCH = f"{PREFIX}:config:epoch"
CONFIG_CHANNEL = f"{PREFIX}:config:changed"
PROMPT_INDEX = f"{PREFIX}:prompts"
API_KEYS_BY_NAME = f"{PREFIX}:{{apikeys}}:by-name"
API_KEYS_BY_HASH = f"{PREFIX}:{{apikeys}}:by-hash"
# The lease and its fencing counter share a hash tag: one script acquires both atomically.
CONTROLLER_LEASE = f"{PREFIX}:{{controller}}:lease"
CONTROLLER_FENCE = f"{PREFIX}:{{controller}}:fence"
WEBHOOKS_GLOBAL = f"{PREFIX}:webhooks"
WEBHOOK_DELIVERIES = f"{PREFIX}:webhooks:deliveries"
WEBHOOK_SCHEDULE = f"{PREFIX}:webhooks:schedule"
WEBHOOK_SECRET = f"{PREFIX}:webhooks:secret"

ENVIRONMENTS = f"{PREFIX}:environments"
"""Hash environment name -> its JSON document (experiments/environments.py)."""
SCHEMA_VERSION = f"{PREFIX}:schema"
"""The store layout's version, set by the migrations (store/migrations.py)."""


@dataclass(frozen=True)
class EnvironmentKeys:
    """The keys of one environment's experiment state.

    Production keeps the layout from before environments existed, so a store written then is
    production's state: `rollout:experiments`, `rollout:{exp:<key>}:...`. Another environment E
    prefixes its global keys with `rollout:env:E:` and tags an experiment `{exp:E/<key>}`
    (shards `{exp:E/<key>/s<s>}`): one tag per experiment and environment, so every script still
    touches one Cluster slot. A key never holds a "/", so no two environments share a tag.
    """

    environment: str

    @property
    def _global(self) -> str:
        if self.environment == PRODUCTION_NAME:
            return PREFIX
        return f"{PREFIX}:env:{self.environment}"

    def tag(self, key: str) -> str:
        """The experiment's name inside its hash tag: `<key>`, or `E/<key>` outside production."""
        return key if self.environment == PRODUCTION_NAME else f"{self.environment}/{key}"

    def _exp(self, key: str) -> str:
        return f"{PREFIX}:{{exp:{self.tag(key)}}}"

    def _shard(self, key: str, shard: int) -> str:
        return self._exp(key) if shard == 0 else f"{PREFIX}:{{exp:{self.tag(key)}/s{shard}}}"

    @property
    def experiment_index(self) -> str:
        """Set of the environment's experiment keys."""
        return f"{self._global}:experiments"

    @property
    def controller_outbox_index(self) -> str:
        """Set of the environment's experiments that may have follow-ups to carry out."""
        return f"{self._global}:controller:outbox-index"

    def experiment(self, key: str) -> str:
        """The experiment's definition and state, one JSON document."""
        return f"{self._exp(key)}:def"

    def experiment_history(self, key: str) -> str:
        return f"{self._exp(key)}:history"

    def exposures(self, key: str, shard: int = 0) -> str:
        """Hash user id -> "<variant index>:<unix seconds>" of the user's first exposure."""
        return f"{self._shard(key, shard)}:exposures"

    def sufficient_stats(self, key: str, shard: int = 0) -> str:
        """Hash of running sums per variant and metric; results read only this and the
        definition."""
        return f"{self._shard(key, shard)}:stats"

    def user_totals(self, key: str, shard: int = 0) -> str:
        """Hash "<metric>|<user>" -> the user's running totals, needed to update sums of
        squares."""
        return f"{self._shard(key, shard)}:totals"

    def event_seen(self, key: str, event_id: str, shard: int = 0) -> str:
        """Marks an event id as counted; expires after the dedupe window. Written before the
        bucketed `event_ids_counted`, and only read now, until the last of them has expired."""
        return f"{self._shard(key, shard)}:seen:{event_id}"

    def event_ids_counted(self, key: str, bucket_s: int, shard: int = 0) -> str:
        """Prefix of the hashes event id -> the second it was counted (from its bucket's start),
        one a shard of a time bucket of `bucket_s` seconds: ingest_events.lua appends
        "<bucket>:<shard>" (bucket = unix seconds // bucket_s), and "meta" for the shard counts.
        Those shards split a time bucket's hash; the `shard` argument is the experiment's own."""
        return f"{self._shard(key, shard)}:counted:{bucket_s}:"

    def timeline(self, key: str) -> str:
        """List of per-evaluation results snapshots (JSON), oldest first; thinned when full."""
        return f"{self._exp(key)}:timeline"

    def controller_fence(self, key: str) -> str:
        """The highest controller fencing token that applied a decision to the experiment."""
        return f"{self._exp(key)}:fence"

    def controller_decision(self, key: str) -> str:
        """The signature of the experiment's last recorded decision (history entries on
        change)."""
        return f"{self._exp(key)}:decision"

    def controller_outbox(self, key: str) -> str:
        """Follow-ups of applied decisions (announce, layer, webhooks) not yet carried out."""
        return f"{self._exp(key)}:outbox"

    def layer(self, name: str) -> str:
        """Hash experiment key -> "lo,hi": the layer ranges held by experiments of the layer."""
        tag = name if self.environment == PRODUCTION_NAME else f"{self.environment}/{name}"
        return f"{PREFIX}:{{layer:{tag}}}:ranges"


PRODUCTION_KEYS = EnvironmentKeys(PRODUCTION_NAME)
"""Production's keys, today's layout; the module functions below are its, for tools and tests."""
EXPERIMENT_INDEX = PRODUCTION_KEYS.experiment_index
CONTROLLER_OUTBOX_INDEX = PRODUCTION_KEYS.controller_outbox_index
experiment = PRODUCTION_KEYS.experiment
experiment_history = PRODUCTION_KEYS.experiment_history
exposures = PRODUCTION_KEYS.exposures
sufficient_stats = PRODUCTION_KEYS.sufficient_stats
user_totals = PRODUCTION_KEYS.user_totals
event_seen = PRODUCTION_KEYS.event_seen
event_ids_counted = PRODUCTION_KEYS.event_ids_counted
timeline = PRODUCTION_KEYS.timeline
controller_fence = PRODUCTION_KEYS.controller_fence
controller_decision = PRODUCTION_KEYS.controller_decision
controller_outbox = PRODUCTION_KEYS.controller_outbox
layer = PRODUCTION_KEYS.layer


def _prompt(name: str) -> str:
    return f"{PREFIX}:{{prompt:{name}}}"


def prompt_versions(name: str) -> str:
    """List of version documents (JSON); version n is index n - 1."""
    return f"{_prompt(name)}:versions"


def prompt_labels(name: str) -> str:
    return f"{_prompt(name)}:labels"


def prompt_history(name: str) -> str:
    return f"{_prompt(name)}:history"


def prompt_pending(name: str) -> str:
    """Hash label -> the JSON proposal of a label move waiting for review."""
    return f"{_prompt(name)}:pending"


def prompt_archived(name: str) -> str:
    """The JSON record (who, when, why) of an archived prompt; absent while it is not archived."""
    return f"{_prompt(name)}:archived"


def prompt_pins(name: str) -> str:
    """Hash version -> experiments referencing it; a pinned version is never removed."""
    return f"{_prompt(name)}:pins"


def rate_limit(key_name: str, window: int) -> str:
    return f"{PREFIX}:ratelimit:{key_name}:{window}"
