"""The Python SDK: local assignment, and exposures and events sent in the background.

    from rollout.client import RolloutClient

    client = RolloutClient("http://127.0.0.1:8000", "rk_...")       # an `sdk` key
    answer = client.assign("u1", "summary-tone", {"country": "DE"})  # no network call
    text = answer.prompt.render({"document": doc}) if answer.prompt else fallback
    client.track("u1", "summary-tone", "thumbs_up", 1)               # only enqueues

Why it is built this way:

- *Assignment never waits for the network.* The client keeps the SDK configuration
  (`GET /api/v1/sdk/config`) compiled in memory and answers with the very function the service
  uses (`experiments.assignment.assign`), so a local answer is the service's answer. A background
  thread refreshes the configuration with `If-None-Match`, so an unchanged one costs a 304.
  Without any configuration (the service was unreachable at start-up and no `bootstrap` document
  was given) every answer is the control variant, out of the experiment.
- *Reporting never blocks and never double-counts.* `track` appends a tuple to a deque; a sender
  thread builds the JSON at send time, in batches (by size and by time), exposures before events
  (an event of a user whose exposure the service has not seen would be rejected). A failed batch
  is retried with exponential backoff and jitter on connection errors, 5xx and 429 (honouring
  `Retry-After`); every event carries an `event_id` and exposures are set-if-absent, so a batch the
  service received but could not acknowledge is never counted twice. Other 4xx answers are not
  retried: the batch is dropped, logged and counted. The queues are bounded (`max_queue` each);
  what does not fit is counted and logged, and what is queued is never lost while the service is
  away.
- *Threads and fork.* Every method may be called from any thread. After `os.fork` (gunicorn with
  `--preload`, multiprocessing) the child starts its own threads and connections, clears the
  queues it inherited (the parent sends those) and draws new event ids, so nothing is sent twice
  and no id collides with the parent's. Queues are flushed at interpreter exit.
"""

from __future__ import annotations

import atexit
import email.utils
import itertools
import json
import logging
import math
import os
import random
import secrets
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from experiments.model import Experiment
from experiments.sdk_document import assignment_spec
from rollout_sdk.kernel.assignment import Assignment, CompiledExperiment, compile_experiment
from rollout_sdk.kernel.assignment import assign as assign_compiled

log = logging.getLogger(__name__)

DEFAULT_CONTROL: Final = "control"
"""The variant answered for an experiment the client has no configuration for (see `controls`)."""

OFFLINE: Final = "offline"
"""The reason of answers given before any configuration arrived."""

UNKNOWN_EXPERIMENT: Final = "unknown_experiment"
"""The reason of answers for an experiment the configuration does not hold (draft or unknown)."""

MAX_BATCH: Final = 1000
"""The service accepts at most this many exposures or events in one request."""

BACKOFF_BASE_S: Final = 0.2
BACKOFF_CAP_S: Final = 30.0
RETRY_AFTER_CAP_S: Final = 300.0
LOG_EVERY_S: Final = 10.0

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


# --- what applications get -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prompt:
    """One immutable prompt version, as assignment hands it out."""

    name: str
    version: int
    template: str | None
    model: str | None
    params: Mapping[str, Any]

    def render(self, variables: Mapping[str, Any] | None = None, /, **more: Any) -> str:
        """The template rendered in the same sandbox as the service's render endpoint.

        Raises `experiments.prompts.PromptError` (MissingVariable, ...) like the service would.
        """
        from experiments.prompts import render

        if self.template is None:
            raise ValueError(f"prompt {self.name}@{self.version} has no template")
        return render(self.template, {**(variables or {}), **more})

    def as_dict(self) -> dict[str, Any]:
        """The JSON the service answers for this prompt."""
        return {
            "name": self.name,
            "version": self.version,
            "template": self.template,
            "model": self.model,
            "params": dict(self.params),
        }


@dataclass(frozen=True, slots=True)
class VariantAssignment:
    """The answer of `RolloutClient.assign`: exactly what `POST /api/v1/assign` would answer.

    `config` and `prompt.params` are shared between answers: treat them as read-only.
    """

    experiment: str
    variant: str
    in_experiment: bool
    reason: str
    prompt: Prompt | None
    config: Mapping[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """The service's JSON for this answer (one entry of `assignments`)."""
        return {
            "variant": self.variant,
            "in_experiment": self.in_experiment,
            "reason": self.reason,
            "prompt": None if self.prompt is None else self.prompt.as_dict(),
            "config": None if self.config is None else dict(self.config),
        }


@dataclass(frozen=True, slots=True)
class ClientStats:
    """What the client has done so far in this process (counters start at 0 after a fork)."""

    config_version: int | None
    config_fetches: int
    config_not_modified: int
    config_errors: int
    exposures_queued: int
    events_queued: int
    exposures_accepted: int
    exposures_duplicates: int
    exposures_rejected: int
    exposures_dropped: int
    exposures_overflow: int
    events_accepted: int
    events_duplicates: int
    events_rejected: int
    events_dropped: int
    events_overflow: int
    requests: int
    retries: int


# --- the configuration, compiled (pure) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalExperiment:
    """One experiment of the SDK document, compiled, with its answers built in advance.

    `answers` maps the identity of each `Assignment` that `compile_experiment` precomputed to the
    `VariantAssignment` an application gets, so the hot path is one dict lookup by `id`; any other
    `Assignment` (none today) is converted by `answer_for`.
    """

    compiled: CompiledExperiment
    variants: Mapping[str, tuple[Prompt | None, Mapping[str, Any] | None]]
    answers: Mapping[int, VariantAssignment]

    def answer_for(self, decided: Assignment) -> VariantAssignment:
        prompt, config = self.variants[decided.variant]
        return VariantAssignment(
            decided.experiment, decided.variant, decided.in_experiment, decided.reason.value,
            prompt, config,
        )


@dataclass(frozen=True, slots=True)
class LocalConfig:
    """An SDK document, compiled: what `assign` and `get_prompt` read, swapped whole on refresh.

    Never mutated once built (plain dicts rather than read-only proxies: a proxy's lookup costs
    more, and these are read on every `assign`).
    """

    version: int
    etag: str | None
    experiments: Mapping[str, LocalExperiment]
    labels: Mapping[str, Mapping[str, int]]
    prompts: Mapping[tuple[str, int], Prompt]


def prompt_of(content: Mapping[str, Any] | None) -> Prompt | None:
    """A `Prompt` from the service's JSON (`{name, version, template, model, params}`)."""
    if not content:
        return None
    return Prompt(
        name=str(content["name"]),
        version=int(content["version"]),
        template=content.get("template"),
        model=content.get("model"),
        params=MappingProxyType(dict(content.get("params") or {})),
    )


def experiment_of(document: Mapping[str, Any]) -> Experiment:
    """The `Experiment` that `compile_experiment` needs, from one SDK document entry.

    The document carries each variant's prompt *content*, while `Variant.prompt` is a `name@ref`
    reference; assignment never reads either, so the prompt stays out of the model and the content
    is kept beside it (`LocalExperiment.variants`).
    """
    key = document["key"]
    return Experiment.model_validate(
        {
            "key": key,
            "name": key,
            "variants": [
                {"key": v["key"], "weight": v["weight"], "config": v.get("config")}
                for v in document["variants"]
            ],
            "control": document["control"],
            "traffic": document["traffic"],
            "targeting": document.get("targeting"),
            "layer": document.get("layer"),
            "layer_range": document.get("layer_range"),
            "status": document["status"],
            "seed": document.get("seed") or key,
            "winner": document.get("winner"),
        }
    )


def local_experiment(document: Mapping[str, Any]) -> LocalExperiment:
    """Compile one SDK document entry; raises ValueError or ValidationError if it is unusable."""
    compiled = compile_experiment(assignment_spec(experiment_of(document)))
    variants: dict[str, tuple[Prompt | None, Mapping[str, Any] | None]] = {}
    for variant in document["variants"]:
        config = variant.get("config")
        variants[variant["key"]] = (
            prompt_of(variant.get("prompt")),
            None if config is None else MappingProxyType(dict(config)),
        )
    decided = [
        compiled.fixed,
        *compiled.assigned,
        compiled.by_targeting,
        compiled.by_layer,
        compiled.by_traffic,
    ]
    answers: dict[int, VariantAssignment] = {}
    for assignment in decided:
        if assignment is not None:
            prompt, config = variants[assignment.variant]
            answers[id(assignment)] = VariantAssignment(
                assignment.experiment,
                assignment.variant,
                assignment.in_experiment,
                assignment.reason.value,
                prompt,
                config,
            )
    return LocalExperiment(compiled, variants, answers)


def compile_document(document: Mapping[str, Any], etag: str | None) -> LocalConfig:
    """Compile a whole SDK document. An entry that cannot be compiled is left out and logged:
    one bad experiment must not take the others' configuration away."""
    experiments: dict[str, LocalExperiment] = {}
    prompts: dict[tuple[str, int], Prompt] = {}
    for entry in document.get("experiments") or []:
        try:
            local = local_experiment(entry)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            log.error("rollout: experiment %r of the SDK config is unusable: %s",
                      entry.get("key") if isinstance(entry, Mapping) else entry, exc)
            continue
        experiments[local.compiled.key] = local
        for prompt, _ in local.variants.values():
            if prompt is not None:
                prompts[(prompt.name, prompt.version)] = prompt
    labels: dict[str, Mapping[str, int]] = {}
    for name, entry in (document.get("prompts") or {}).items():
        labels[name] = {k: int(v) for k, v in (entry.get("labels") or {}).items()}
        # A document that also carries the content of labelled versions saves a round trip.
        for version, content in (entry.get("versions") or {}).items():
            prompt = prompt_of({"name": name, "version": version, **content})
            if prompt is not None:
                prompts[(name, prompt.version)] = prompt
    return LocalConfig(
        version=int(document.get("version") or 0),
        etag=etag,
        experiments=experiments,
        labels=labels,
        prompts=prompts,
    )


def backoff_delay(attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential with equal jitter.

    The ceiling doubles from BACKOFF_BASE_S up to BACKOFF_CAP_S and the delay is drawn from
    [ceiling/2, ceiling], so clients that failed together do not retry together; a server's
    `Retry-After` is a floor.
    """
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
    delay = ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)
    return max(delay, retry_after_s or 0.0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - now), RETRY_AFTER_CAP_S)


# --- the client ----------------------------------------------------------------------------------

Exposure = tuple[str, str, str, dict[str, Any] | None]
"""experiment, user id, variant, attributes (the service re-checks targeting with them)."""

Event = tuple[str, str, str, str, float, float | None]
"""event id, user id, experiment, metric, value, denominator."""

Kind = Literal["exposures", "events"]


class _Counters:
    """Mutable counters behind `ClientStats`; the sender thread is their main writer."""

    def __init__(self) -> None:
        self.config_fetches = 0
        self.config_not_modified = 0
        self.config_errors = 0
        self.accepted = {"exposures": 0, "events": 0}
        self.duplicates = {"exposures": 0, "events": 0}
        self.rejected = {"exposures": 0, "events": 0}
        self.dropped = {"exposures": 0, "events": 0}
        self.overflow = {"exposures": 0, "events": 0}
        self.requests = 0
        self.retries = 0


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one POST came to: settled (sent or dropped for good), retry later, or split in two."""

    action: Literal["settled", "retry", "split"]
    retry_after_s: float | None = None


class RolloutClient:
    """Assign locally, report in the background; see the module docstring for the guarantees.

    - `refresh_interval_s`: how often the configuration is re-read (a 304 when unchanged).
    - `flush_interval_s`, `batch_size`: a batch leaves when it is full or when this much time has
      passed, whichever comes first (`batch_size` is at most 1000, the service's limit).
    - `max_queue`: exposures and events each queue at most this many; more are counted as
      overflow and dropped (`stats()`), with a warning in the log.
    - `timeout_s`: each HTTP request, including the configuration fetch at start-up.
    - `session`: a `requests.Session` to send with (proxies, TLS settings); after a fork the child
      mounts fresh connection pools on it, never sharing a socket with the parent.
    - `controls`: the control variant of experiments, for answers before any configuration
      arrives or for experiments it does not hold (default "control").
    - `bootstrap`: an SDK document (as saved from `GET /api/v1/sdk/config`) to answer from until
      the service has been reached.
    - `exposure_cache_size`: how many (experiment, user) pairs are remembered as exposed, so hot
      users do not send an exposure on every request (the service dedupes the rest).
    - `close_timeout_s`: how long `close()` and the flush at interpreter exit wait for the queues.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        refresh_interval_s: float = 5.0,
        flush_interval_s: float = 1.0,
        batch_size: int = 500,
        max_queue: int = 100_000,
        timeout_s: float = 5.0,
        session: requests.Session | None = None,
        controls: Mapping[str, str] | None = None,
        bootstrap: Mapping[str, Any] | None = None,
        exposure_cache_size: int = 100_000,
        close_timeout_s: float = 10.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if max_queue < 1 or exposure_cache_size < 0:
            raise ValueError("max_queue must be positive and exposure_cache_size not negative")
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "User-Agent": "prompt-rollout-python",
        }
        self._refresh_interval_s = refresh_interval_s
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._max_queue = max_queue
        self._timeout_s = timeout_s
        self._user_session = session
        self._controls = dict(controls or {})
        self._seen_max = exposure_cache_size
        self._close_timeout_s = close_timeout_s

        self._config: LocalConfig | None = None
        if bootstrap is not None:
            self._config = compile_document(bootstrap, None)
        self._fallbacks: dict[tuple[str, str], VariantAssignment] = {}
        self._exposures: deque[Exposure] = deque()
        self._events: deque[Event] = deque()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wanted_prompts: set[tuple[str, str]] = set()
        self._fetched_prompts: dict[tuple[str, int], Prompt] = {}
        self._failed_prompts: dict[tuple[str, str], int] = {}
        self._closed = False
        self._close_deadline: float | None = None
        self._rng = random.Random()
        self._init_process_state()
        self._refresh_now(initial=True)
        self._start_threads()
        _CLIENTS.add(self)

    def _init_process_state(self) -> None:
        """Everything that belongs to one process: locks, threads, connections, ids, counters."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._settled = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._stop = threading.Event()
        self._refresh_lock = threading.Lock()
        self._in_flight = False
        self._id_prefix = secrets.token_hex(8) + "-"
        self._sequence = itertools.count()
        self._counters = _Counters()
        self._last_log: dict[str, float] = {}
        self._config_failing = False
        self._threads: list[threading.Thread] = []
        if self._user_session is not None:
            self._config_session = self._sender_session = self._user_session
        else:
            self._config_session = _new_session()
            self._sender_session = _new_session()

    def _start_threads(self) -> None:
        for target, name in ((self._refresh_loop, "rollout-config"),
                             (self._send_loop, "rollout-sender")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    # --- the hot path ----------------------------------------------------------------------------

    def assign(
        self, user_id: str, experiment: str, attributes: Mapping[str, Any] | None = None
    ) -> VariantAssignment:
        """The user's variant, computed locally (no network); an answer in the experiment also
        queues the user's exposure, once per user as long as the user stays in the cache."""
        config = self._config
        local = None if config is None else config.experiments.get(experiment)
        if local is None:
            return self._fallback(experiment, OFFLINE if config is None else UNKNOWN_EXPERIMENT)
        decided = assign_compiled(local.compiled, user_id, attributes)
        answer = local.answers.get(id(decided)) or local.answer_for(decided)
        if decided.in_experiment:
            seen = self._seen
            key = (experiment, user_id)
            if key in seen:
                # try/except, not contextlib.suppress: this is the hot path of hot users.
                try:  # noqa: SIM105
                    seen.move_to_end(key)
                except KeyError:  # evicted by another thread in between: harmless
                    pass
            else:
                self._expose(key, answer.variant, attributes)
        return answer

    def _expose(
        self, key: tuple[str, str], variant: str, attributes: Mapping[str, Any] | None
    ) -> None:
        experiment, user_id = key
        seen = self._seen
        exposures = self._exposures
        if len(exposures) >= self._max_queue or self._closed:
            self._overflowed("exposures")
            return
        # Queued before it is remembered: a thread that finds the user in `seen` may track an
        # event at once, and that event must never overtake the exposure.
        exposures.append((experiment, user_id, variant, dict(attributes) if attributes else None))
        if self._seen_max:
            seen[key] = None
            if len(seen) > self._seen_max:
                try:  # noqa: SIM105
                    seen.popitem(last=False)
                except KeyError:  # emptied by other threads in between
                    pass
        if len(exposures) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def track(
        self,
        user_id: str,
        experiment: str,
        metric: str,
        value: float,
        denominator: float | None = None,
    ) -> str | None:
        """Queue one event and answer its `event_id` (None if the queue was full or closed).

        Only enqueues: the JSON is built by the sender thread. `value` and `denominator` must be
        finite numbers (a NaN would make the whole batch invalid JSON for the service).
        """
        if not math.isfinite(value) or (denominator is not None and not math.isfinite(denominator)):
            raise ValueError("track: value and denominator must be finite numbers")
        events = self._events
        if len(events) >= self._max_queue or self._closed:
            self._overflowed("events")
            return None
        event_id = f"{self._id_prefix}{next(self._sequence):x}"
        events.append((event_id, user_id, experiment, metric, value, denominator))
        if len(events) >= self._batch_size and not self._wake.is_set():
            self._wake.set()
        return event_id

    def _fallback(self, experiment: str, reason: str) -> VariantAssignment:
        key = (experiment, reason)
        answer = self._fallbacks.get(key)
        if answer is None:
            variant = self._controls.get(experiment, DEFAULT_CONTROL)
            answer = VariantAssignment(experiment, variant, False, reason, None, None)
            if len(self._fallbacks) < 10_000:
                self._fallbacks[key] = answer
            if reason == UNKNOWN_EXPERIMENT:
                log.warning("rollout: experiment %r is not in the SDK config (not started, or"
                            " unknown): answering %r", experiment, variant)
        return answer

    def _overflowed(self, kind: Kind) -> None:
        with self._lock:
            self._counters.overflow[kind] += 1
        self._log_limited(
            f"overflow-{kind}", logging.WARNING,
            "rollout: %s queue full (%d) or client closed; %d dropped so far",
            kind, self._max_queue, self._counters.overflow[kind],
        )

    # --- prompts ---------------------------------------------------------------------------------

    def get_prompt(self, name: str, label: str = "production") -> Prompt | None:
        """The version of prompt `name` that `label` points at, or None when there is none (or
        the client has never reached the service). Cached, and kept current with the config: the
        first call for a version the config does not carry fetches it once."""
        config = self._config
        if config is None:
            return None
        self._wanted_prompts.add((name, label))
        version = config.labels.get(name, _EMPTY).get(label)
        if version is None:
            return None
        prompt = config.prompts.get((name, version)) or self._fetched_prompts.get((name, version))
        if prompt is not None:
            return prompt
        if self._failed_prompts.get((name, label)) == config.version:
            return None
        return self._fetch_prompt(name, label, version, config.version)

    def render(
        self, name: str, variables: Mapping[str, Any] | None = None, *, label: str = "production"
    ) -> str:
        """`get_prompt(name, label).render(variables)`; LookupError when there is no such prompt."""
        prompt = self.get_prompt(name, label)
        if prompt is None:
            raise LookupError(f"prompt {name!r} has no version labelled {label!r}")
        return prompt.render(variables)

    def _fetch_prompt(
        self, name: str, label: str, version: int, config_version: int
    ) -> Prompt | None:
        url = f"{self._base_url}/api/v1/prompts/{quote(name, safe='')}/resolve"
        try:
            response = self._config_session.get(
                url, params={"label": label}, headers=self._headers, timeout=self._timeout_s
            )
            if response.status_code != 200:
                raise requests.HTTPError(f"HTTP {response.status_code}: {response.text[:200]}")
            document = response.json()
            prompt = prompt_of(
                {
                    "name": name,
                    "version": document.get("version", version),
                    "template": document.get("template"),
                    "model": document.get("model"),
                    "params": document.get("params"),
                }
            )
        except (requests.RequestException, ValueError, TypeError, KeyError) as exc:
            self._failed_prompts[(name, label)] = config_version
            self._log_limited(f"prompt-{name}", logging.WARNING,
                              "rollout: cannot fetch prompt %s (label %s): %s", name, label, exc)
            return None
        if prompt is not None:
            self._fetched_prompts[(name, prompt.version)] = prompt
        return prompt

    # --- configuration ---------------------------------------------------------------------------

    @property
    def config_version(self) -> int | None:
        """The version of the configuration in use; None before any arrived."""
        config = self._config
        return None if config is None else config.version

    def refresh(self) -> bool:
        """Fetch the configuration now; True when it changed. Never raises for network errors."""
        return self._refresh_now(initial=False)

    def _refresh_now(self, *, initial: bool) -> bool:
        # One fetch at a time, so an older answer can never replace a newer configuration.
        with self._refresh_lock:
            return self._fetch_config(initial=initial)

    def _fetch_config(self, *, initial: bool) -> bool:
        config = self._config
        headers = dict(self._headers)
        if config is not None and config.etag is not None:
            headers["If-None-Match"] = config.etag
        try:
            response = self._config_session.get(
                f"{self._base_url}/api/v1/sdk/config", headers=headers, timeout=self._timeout_s
            )
            if response.status_code == 304:
                self._counters.config_not_modified += 1
                self._config_recovered()
                return False
            if response.status_code != 200:
                raise requests.HTTPError(f"HTTP {response.status_code}: {response.text[:200]}")
            document = response.json()
            fresh = compile_document(document, response.headers.get("ETag"))
        except (requests.RequestException, ValueError, TypeError, AttributeError) as exc:
            self._counters.config_errors += 1
            if initial or not self._config_failing:
                log.warning(
                    "rollout: cannot load the SDK config from %s (%s); answering from %s",
                    self._base_url, exc,
                    "the last config" if self._config is not None else "control variants",
                )
            self._config_failing = True
            return False
        self._counters.config_fetches += 1
        self._config_recovered()
        changed = config is None or fresh.version != config.version or fresh.etag != config.etag
        self._config = fresh
        self._prefetch_prompts(fresh)
        return changed

    def _config_recovered(self) -> None:
        if self._config_failing:
            log.warning("rollout: the SDK config is reachable again at %s", self._base_url)
        self._config_failing = False

    def _prefetch_prompts(self, config: LocalConfig) -> None:
        """Fetch labelled versions that callers asked for before and the document lacks, so a
        label move reaches `get_prompt` without a round trip on the caller's thread."""
        for name, label in list(self._wanted_prompts):
            version = config.labels.get(name, _EMPTY).get(label)
            if version is None or (name, version) in config.prompts:
                continue
            if (name, version) not in self._fetched_prompts:
                self._fetch_prompt(name, label, version, config.version)

    def _refresh_loop(self) -> None:
        stop = self._stop
        failures = 0
        while True:
            interval = self._refresh_interval_s
            if self._config_failing:
                interval = min(interval, backoff_delay(failures + 1, self._rng))
            if stop.wait(interval):
                return
            self._refresh_now(initial=False)
            failures = failures + 1 if self._config_failing else 0

    # --- sending ---------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        """One cycle when a queue reaches `batch_size` (or on flush and close), else every
        `flush_interval_s`; each cycle sends what was queued when it began."""
        wake, stop = self._wake, self._stop
        while True:
            wake.wait(self._flush_interval_s)
            wake.clear()
            self._send_cycle()
            if stop.is_set():
                return

    def _send_cycle(self) -> None:
        # Events are counted before exposures: each event's exposure was queued before the event
        # (assign runs before track, and `_expose` queues before it remembers), so every exposure
        # those events need is among the exposures counted next, and is sent first.
        events_ready = len(self._events)
        exposures_ready = len(self._exposures)
        if not (
            self._send_queued("exposures", self._exposures, exposures_ready)
            and self._send_queued("events", self._events, events_ready)
        ):
            return
        if not self._pending():
            with self._settled:
                self._settled.notify_all()

    def _pending(self) -> bool:
        return bool(self._exposures or self._events)

    def _send_queued(self, kind: Kind, queue: deque[Any], count: int) -> bool:
        """Send the first `count` items of `queue` in batches; False when the client gave up."""
        while count > 0:
            size = min(count, self._batch_size)
            with self._settled:
                self._in_flight = True
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
            try:
                delivered = self._deliver(kind, batch)
                if not delivered:
                    queue.extendleft(reversed(batch))
                    return False
            finally:
                with self._settled:
                    self._in_flight = False
                    self._settled.notify_all()
            count -= size
        return True

    def _deliver(self, kind: Kind, batch: Sequence[Any]) -> bool:
        """POST `batch` until it is settled; False only when a closing client runs out of time."""
        if not batch:
            return True
        body = json.dumps({kind: self._items(kind, batch)}, separators=(",", ":")).encode()
        attempt = 0
        self._hurry.clear()  # a flush asked for before this batch has nothing to hurry
        while True:
            outcome = self._post(kind, body, len(batch))
            if outcome.action == "settled":
                return True
            if outcome.action == "split":
                half = len(batch) // 2
                return self._deliver(kind, batch[:half]) and self._deliver(kind, batch[half:])
            attempt += 1
            self._counters.retries += 1
            delay = backoff_delay(attempt, self._rng, outcome.retry_after_s)
            if not self._pause(delay, outcome.retry_after_s or 0.0):
                return False

    def _pause(self, delay: float, floor: float) -> bool:
        """Wait `delay` seconds before a retry. flush() and close() cut the wait short, but
        never below `floor` (the server's Retry-After); a closing client waits at most until its
        deadline. False when that deadline comes before the server would take a retry."""
        started = time.monotonic()
        not_before, until = started + floor, started + delay
        while True:
            now = time.monotonic()
            if self._stop.is_set():
                deadline = self._close_deadline or now
                if not_before >= deadline:
                    return False
                until = min(until, deadline)
            if now >= until:
                return True
            if self._hurry.wait(until - now):
                self._hurry.clear()
                until = max(not_before, time.monotonic())

    @staticmethod
    def _items(kind: Kind, batch: Sequence[Any]) -> list[dict[str, Any]]:
        if kind == "exposures":
            items = []
            for experiment, user_id, variant, attributes in batch:
                item: dict[str, Any] = {
                    "user_id": user_id, "experiment": experiment, "variant": variant,
                }
                if attributes:
                    item["attributes"] = attributes
                items.append(item)
            return items
        events = []
        for event_id, user_id, experiment, metric, value, denominator in batch:
            event: dict[str, Any] = {
                "event_id": event_id, "user_id": user_id, "experiment": experiment,
                "metric": metric, "value": value,
            }
            if denominator is not None:
                event["denominator"] = denominator
            events.append(event)
        return events

    def _post(self, kind: Kind, body: bytes, size: int) -> _Outcome:
        counters = self._counters
        counters.requests += 1
        try:
            response = self._sender_session.post(
                f"{self._base_url}/api/v1/{kind}", data=body, headers=self._headers,
                timeout=self._timeout_s,
            )
        except requests.RequestException as exc:
            self._log_limited(f"send-{kind}", logging.WARNING,
                              "rollout: sending %d %s failed (%s); retrying", size, kind, exc)
            return _Outcome("retry")
        status = response.status_code
        if 200 <= status < 300:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                answer = {}
            counters.accepted[kind] += int(answer.get("accepted", 0))
            counters.duplicates[kind] += int(answer.get("duplicates", 0))
            rejected = answer.get("rejected") or []
            counters.rejected[kind] += len(rejected)
            if rejected:
                self._log_limited(f"rejected-{kind}", logging.WARNING,
                                  "rollout: the service rejected %d of %d %s, e.g. %s",
                                  len(rejected), size, kind, rejected[0])
            return _Outcome("settled")
        if status == 429 or status >= 500:
            self._log_limited(f"send-{kind}", logging.WARNING,
                              "rollout: sending %d %s answered HTTP %d; retrying", size, kind,
                              status)
            return _Outcome("retry", parse_retry_after(response.headers.get("Retry-After"),
                                                       time.time()))
        if status == 413 and size > 1:
            return _Outcome("split")
        counters.dropped[kind] += size
        log.error("rollout: the service refused %d %s with HTTP %d (%s); dropped, not retried",
                  size, kind, status, _error_message(response))
        return _Outcome("settled")

    def _log_limited(self, topic: str, level: int, message: str, *args: Any) -> None:
        """Log at most once per LOG_EVERY_S per topic, so an outage does not flood the log."""
        now = time.monotonic()
        if now - self._last_log.get(topic, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._last_log[topic] = now
            log.log(level, message, *args)

    # --- flushing and closing --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now; True once the queues are empty and nothing is in flight,
        False if `timeout` seconds passed first (nothing is lost: the sender keeps trying)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._hurry.set()
        with self._settled:
            while self._pending() or self._in_flight:
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._settled.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush (for at most `timeout`, default `close_timeout_s`), then stop the threads.

        Answers whether everything queued was sent; what could not be is logged. `assign` keeps
        answering from the last configuration after close; `track` counts as overflow.
        """
        if self._closed:
            return not self._pending()
        wait = self._close_timeout_s if timeout is None else timeout
        deadline = self._close_deadline = time.monotonic() + wait
        drained = self.flush(wait)
        self._closed = True
        self._stop.set()
        self._hurry.set()
        self._wake.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.1, deadline - time.monotonic()))
        if self._pending():
            log.error("rollout: closing with %d exposures and %d events unsent",
                      len(self._exposures), len(self._events))
        if self._user_session is None:
            self._config_session.close()
            self._sender_session.close()
        _CLIENTS.discard(self)
        return drained and not self._pending()

    def __enter__(self) -> RolloutClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> ClientStats:
        c = self._counters
        return ClientStats(
            config_version=self.config_version,
            config_fetches=c.config_fetches,
            config_not_modified=c.config_not_modified,
            config_errors=c.config_errors,
            exposures_queued=len(self._exposures),
            events_queued=len(self._events),
            exposures_accepted=c.accepted["exposures"],
            exposures_duplicates=c.duplicates["exposures"],
            exposures_rejected=c.rejected["exposures"],
            exposures_dropped=c.dropped["exposures"],
            exposures_overflow=c.overflow["exposures"],
            events_accepted=c.accepted["events"],
            events_duplicates=c.duplicates["events"],
            events_rejected=c.rejected["events"],
            events_dropped=c.dropped["events"],
            events_overflow=c.overflow["events"],
            requests=c.requests,
            retries=c.retries,
        )

    # --- fork ------------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Fresh locks, threads, connections, ids and counters; the inherited queues are the
        parent's to send. The configuration and the exposure cache stay (both still true)."""
        if self._user_session is not None:
            self._user_session.mount("http://", HTTPAdapter())
            self._user_session.mount("https://", HTTPAdapter())
        self._exposures.clear()
        self._events.clear()
        self._init_process_state()
        if not self._closed:
            self._start_threads()


def _new_session() -> requests.Session:
    """A session whose GETs are retried once at once: a server may close an idle keep-alive
    connection just as the next refresh reuses it. POSTs are left to the client's own retries."""
    session = requests.Session()
    retry = Retry(total=1, connect=0, read=1, status=0, allowed_methods=frozenset({"GET"}),
                  raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def _error_message(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
        return str(error.get("message") or error)
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:200]


_CLIENTS: weakref.WeakSet[RolloutClient] = weakref.WeakSet()


def _open_clients() -> Iterator[RolloutClient]:
    return iter(list(_CLIENTS))


def _after_fork_in_child() -> None:
    for client in _open_clients():
        client._after_fork_in_child()


def _close_at_exit() -> None:
    for client in _open_clients():
        if client._pid == os.getpid():
            client.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)
