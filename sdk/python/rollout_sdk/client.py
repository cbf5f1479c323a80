"""The Python SDK's facade: local assignment, and exposures and events sent in the background.

    from rollout_sdk import RolloutClient

    client = RolloutClient("http://127.0.0.1:8000", "rk_...")       # an `sdk` key
    answer = client.assign("u1", "summary-tone", {"country": "DE"})  # no network call
    text = answer.prompt.render({"document": doc}) if answer.prompt else fallback
    client.track("u1", "summary-tone", "thumbs_up", 1)               # only enqueues

Why it is built this way:

- *Assignment never waits for the network.* The client keeps the SDK configuration
  (`GET /api/v1/sdk/config`) compiled in memory (`local_config`) and answers with the very
  function the service uses (`kernel.assignment.assign`), so a local answer is the service's
  answer. A background thread (`refresher`) refreshes it with `If-None-Match`. Without any
  configuration (the service was unreachable at start-up and no `bootstrap` document was given)
  every answer is the control variant, out of the experiment.
- *Reporting never blocks and never double-counts* (`sender`): `track` appends a tuple to a
  queue that a sender thread sends in batches, retried with backoff (`retry`).
- *Threads and fork.* Every method may be called from any thread. After `os.fork` (gunicorn with
  `--preload`, multiprocessing) the child starts its own threads and connections, clears the
  queues it inherited (the parent sends those) and draws new event ids, so nothing is sent twice
  and no id collides with the parent's. Queues are flushed at interpreter exit.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import math
import os
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Final
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from rollout_sdk.answers import ClientStats, Prompt, VariantAssignment
from rollout_sdk.kernel.assignment import assign as assign_compiled
from rollout_sdk.kernel.covariates import check_covariates
from rollout_sdk.kernel.document import read_messages
from rollout_sdk.local_config import LocalConfig, compile_document, messages_of
from rollout_sdk.refresher import ConfigRefresher
from rollout_sdk.retry import new_session
from rollout_sdk.sender import Sender
from rollout_sdk.throttled_log import ThrottledLog

log = logging.getLogger(__name__)

DEFAULT_CONTROL: Final = "control"
"""The variant answered for an experiment the client has no configuration for (see `controls`)."""

OFFLINE: Final = "offline"
"""The reason of answers given before any configuration arrived."""

UNKNOWN_EXPERIMENT: Final = "unknown_experiment"
"""The reason of answers for an experiment the configuration does not hold (draft or unknown)."""

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


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
        if exposure_cache_size < 0:
            raise ValueError("exposure_cache_size must not be negative")
        self._base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "User-Agent": "prompt-rollout-python",
        }
        self._timeout_s = timeout_s
        self._user_session = session
        self._controls = dict(controls or {})
        self._seen_max = exposure_cache_size
        self._close_timeout_s = close_timeout_s
        self._sender = Sender(
            self._base_url, self._headers, session=self._session(), batch_size=batch_size,
            flush_interval_s=flush_interval_s, max_queue=max_queue, timeout_s=timeout_s,
        )
        self._refresher = ConfigRefresher(
            self._base_url, self._headers, session=self._session(),
            interval_s=refresh_interval_s, timeout_s=timeout_s,
            config=None if bootstrap is None else compile_document(bootstrap, None),
            on_change=self._prefetch_prompts,
        )
        self._fallbacks: dict[tuple[str, str], VariantAssignment] = {}
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wanted_prompts: set[tuple[str, str]] = set()
        self._fetched_prompts: dict[tuple[str, int], Prompt] = {}
        self._failed_prompts: dict[tuple[str, str], int] = {}
        self._threads: list[threading.Thread] = []
        self._init_process_state()
        self._refresher.fetch(initial=True)
        self._start_threads()
        _CLIENTS.add(self)

    def _session(self) -> requests.Session:
        return self._user_session if self._user_session is not None else new_session()

    def _init_process_state(self) -> None:
        """What belongs to this process alone: its id and the event ids it draws."""
        self._pid = os.getpid()
        self._id_prefix = secrets.token_hex(8) + "-"
        self._sequence = itertools.count()
        self._log = ThrottledLog(log)
        self._covariates_dropped = 0

    def _start_threads(self) -> None:
        stop = self._sender.stop
        self._threads = []
        for target, name in ((lambda: self._refresher.run(stop), "rollout-config"),
                             (self._sender.run, "rollout-sender")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    # --- the hot path ----------------------------------------------------------------------------

    def assign(
        self,
        user_id: str,
        experiment: str,
        attributes: Mapping[str, Any] | None = None,
        covariates: Mapping[str, float] | None = None,
    ) -> VariantAssignment:
        """The user's variant, computed locally (no network); an answer in the experiment also
        queues the user's exposure, once per user as long as the user stays in the cache.

        `covariates` are numbers measured before the exposure (the user's requests of the last
        week, say) that metrics declaring them are adjusted for (CUPED); the service keeps those
        of the user's first exposure, as it keeps the segments of its `attributes`."""
        config = self._refresher.config
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
                self._expose(key, answer.variant, attributes, covariates)
        return answer

    def _expose(
        self,
        key: tuple[str, str],
        variant: str,
        attributes: Mapping[str, Any] | None,
        covariates: Mapping[str, float] | None,
    ) -> None:
        experiment, user_id = key
        sent_covariates = None
        if covariates:
            checked = check_covariates(covariates)
            sent_covariates = checked.accepted
            if checked.problems:
                self._covariates_dropped += len(covariates) - len(sent_covariates or ())
                self._log.log("covariates", logging.WARNING,
                              "rollout: covariates not sent with %s's exposure to %s: %s",
                              user_id, experiment, "; ".join(checked.problems))
        # Queued before it is remembered: a thread that finds the user in `seen` may track an
        # event at once, and that event must never overtake the exposure.
        exposure = (
            experiment,
            user_id,
            variant,
            dict(attributes) if attributes else None,
            sent_covariates,
        )
        if not self._sender.queue("exposures", exposure) or not self._seen_max:
            return
        seen = self._seen
        seen[key] = None
        if len(seen) > self._seen_max:
            try:  # noqa: SIM105
                seen.popitem(last=False)
            except KeyError:  # emptied by other threads in between
                pass

    def track(
        self,
        user_id: str,
        experiment: str,
        metric: str,
        value: float,
        denominator: float | None = None,
        *,
        event_id: str | None = None,
    ) -> str | None:
        """Queue one event and answer its `event_id` (None if the queue was full or closed).

        Only enqueues: the JSON is built by the sender thread. `value` and `denominator` must be
        finite numbers (a NaN would make the whole batch invalid JSON for the service). An
        `event_id` of the caller's own (rollout_sdk.llm derives one from the call it measures)
        makes the event count once however often it is tracked; by default each is fresh.
        """
        if not math.isfinite(value) or (denominator is not None and not math.isfinite(denominator)):
            raise ValueError("track: value and denominator must be finite numbers")
        if event_id is None:
            event_id = f"{self._id_prefix}{next(self._sequence):x}"
        event = (event_id, user_id, experiment, metric, value, denominator)
        return event_id if self._sender.queue("events", event) else None

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

    # --- prompts ---------------------------------------------------------------------------------

    def get_prompt(self, name: str, label: str | None = None) -> Prompt | None:
        """The version of prompt `name` that `label` points at, or None when there is none (or
        the client has never reached the service). Cached, and kept current with the config: the
        first call for a version the config does not carry fetches it once. Without `label`, the
        live version of the key's environment: the label named like the SDK document's
        environment (`production` for a production key)."""
        config = self._refresher.config
        if config is None:
            return None
        label = config.environment if label is None else label
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
        self, name: str, variables: Mapping[str, Any] | None = None, *, label: str | None = None
    ) -> str:
        """`get_prompt(name, label).render(variables)`; LookupError when there is no such prompt."""
        prompt = self.get_prompt(name, label)
        if prompt is None:
            shown = label or "of the environment"
            raise LookupError(f"prompt {name!r} has no version labelled {shown!r}")
        return prompt.render(variables)

    def _fetch_prompt(
        self, name: str, label: str, version: int, config_version: int
    ) -> Prompt | None:
        url = f"{self._base_url}/api/v1/prompts/{quote(name, safe='')}/resolve"
        try:
            response = self._refresher.session.get(
                url, params={"label": label}, headers=self._headers, timeout=self._timeout_s
            )
            if response.status_code != 200:
                raise requests.HTTPError(f"HTTP {response.status_code}: {response.text[:200]}")
            document = response.json()
            number = document.get("version", version)
            if not isinstance(number, int) or isinstance(number, bool):
                raise ValueError(f"version {number!r} is not a number")
            params = document.get("params")
            portable = document.get("portable")
            prompt = Prompt(
                name=name,
                version=number,
                template=document.get("template"),
                model=document.get("model"),
                params=MappingProxyType(dict(params or {})),
                messages=messages_of(read_messages(document.get("messages"), f"prompt {name}")),
                portable=portable if isinstance(portable, bool) else None,
            )
        except (requests.RequestException, ValueError, TypeError, KeyError, AttributeError) as exc:
            self._failed_prompts[(name, label)] = config_version
            self._log.log(f"prompt-{name}", logging.WARNING,
                          "rollout: cannot fetch prompt %s (label %s): %s", name, label, exc)
            return None
        self._fetched_prompts[(name, prompt.version)] = prompt
        return prompt

    def _prefetch_prompts(self, config: LocalConfig) -> None:
        """Fetch labelled versions that callers asked for before and the document lacks, so a
        label move reaches `get_prompt` without a round trip on the caller's thread."""
        for name, label in list(self._wanted_prompts):
            version = config.labels.get(name, _EMPTY).get(label)
            if version is None or (name, version) in config.prompts:
                continue
            if (name, version) not in self._fetched_prompts:
                self._fetch_prompt(name, label, version, config.version)

    # --- configuration ---------------------------------------------------------------------------

    @property
    def config_version(self) -> int | None:
        """The version of the configuration in use; None before any arrived."""
        config = self._refresher.config
        return None if config is None else config.version

    def refresh(self) -> bool:
        """Fetch the configuration now; True when it changed. Never raises for network errors."""
        return self._refresher.fetch()

    # --- flushing and closing --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now; True once the queues are empty and nothing is in flight,
        False if `timeout` seconds passed first (nothing is lost: the sender keeps trying)."""
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush (for at most `timeout`, default `close_timeout_s`), then stop the threads.

        Answers whether everything queued was sent; what could not be is logged. `assign` keeps
        answering from the last configuration after close; `track` counts as overflow.
        """
        sender = self._sender
        if sender.closed:
            return not sender.pending()
        wait = self._close_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + wait
        drained = sender.flush(wait)
        sender.close_by(deadline)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=max(0.1, deadline - time.monotonic()))
        if sender.pending():
            log.error("rollout: closing with %d exposures and %d events unsent",
                      len(sender.exposures), len(sender.events))
        if self._user_session is None:
            self._refresher.session.close()
            sender.session.close()
        _CLIENTS.discard(self)
        return drained and not sender.pending()

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
        sender, refresher = self._sender, self._refresher
        return ClientStats(
            config_version=self.config_version,
            config_fetches=refresher.fetches,
            config_not_modified=refresher.not_modified,
            config_errors=refresher.errors,
            exposures_queued=len(sender.exposures),
            events_queued=len(sender.events),
            exposures_accepted=sender.accepted["exposures"],
            exposures_duplicates=sender.duplicates["exposures"],
            exposures_rejected=sender.rejected["exposures"],
            exposures_dropped=sender.dropped["exposures"],
            exposures_overflow=sender.overflow["exposures"],
            events_accepted=sender.accepted["events"],
            events_duplicates=sender.duplicates["events"],
            events_rejected=sender.rejected["events"],
            events_dropped=sender.dropped["events"],
            events_overflow=sender.overflow["events"],
            requests=sender.requests,
            retries=sender.retries,
            covariates_dropped=self._covariates_dropped,
        )

    # --- fork ------------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Fresh locks, threads, connections, ids and counters; the inherited queues are the
        parent's to send. The configuration and the exposure cache stay (both still true)."""
        if self._user_session is not None:
            self._user_session.mount("http://", HTTPAdapter())
            self._user_session.mount("https://", HTTPAdapter())
        self._sender.reset(self._session())
        self._refresher.reset(self._session())
        self._init_process_state()
        if not self._sender.closed:
            self._start_threads()


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
