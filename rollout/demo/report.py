"""What the demo prints: each controller action as it happens, a status line a second, and at
the end the outcome of each experiment, what the OpenAI integration measured per variant, and
its primary metric.

The demo watches the service as a client does, over HTTP: the results and history it reads are
the API's JSON answers, so they are read as JSON here, not as the domain's typed results
(experiments/results.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.demo.llm_server import LocalOpenAI
from rollout.demo.receiver import Webhooks
from rollout.demo.scenarios import CONTROL, NEW, PRIMARY, SCENARIOS, STAGES, Scenario
from rollout.demo.traffic import Traffic
from rollout.http import ServiceClient, api_path

ALWAYS_VALID = (
    "always-valid: an interval that stays trustworthy however often it is looked at, so the"
    " controller may decide after every event without raising its error rate"
)


class TimelineLog(logging.Handler):
    """The SDK's warnings (events the service refused, say), kept for the next status line, so
    they print after the controller action that caused them rather than before it."""

    def __init__(self, started: float) -> None:
        super().__init__(logging.WARNING)
        self.started = started  # Unix time, as the log record's
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = f"  {record.created - self.started:5.1f}s  sdk log: {record.getMessage()}"
        with self._pending_lock:
            self._pending.append(line)

    def drain(self) -> list[str]:
        with self._pending_lock:
            lines, self._pending = self._pending, []
        return lines


@dataclass
class Watch:
    """What the demo has printed so far for one experiment."""

    seen_history: int = 0
    finished_at: float | None = None
    last: dict[str, Any] = field(default_factory=dict)


def users_by_variant(results: Mapping[str, Any]) -> str:
    """`control 52 / new 50`: the users of each variant, named."""
    return " / ".join(f"{name} {v['users']}" for name, v in results["variants"].items())


def progress(
    release: ServiceClient,
    started: float,
    watches: dict[str, Watch],
    traffic: Traffic,
    sdk_log: TimelineLog,
) -> None:
    """Print every new controller action, the SDK's warnings, and one status line.

    `started` is Unix time, as the history's `at`: each action is shown at the time it was taken.
    """
    line = []
    for scenario in SCENARIOS:
        watch = watches[scenario.key]
        # History first: the status read after it is as new as the events printed, or newer.
        path = api_path("experiments", scenario.key)
        entries = release.get(f"{path}/history", limit=1000)["history"]
        experiment = release.get(path)
        results = release.get(f"{path}/results")
        for entry in entries[watch.seen_history :]:
            if entry["action"] == "advance" or entry["action"] in STOPS:
                print(
                    f"  {entry['at'] - started:5.1f}s  {scenario.key:<13} "
                    f"{entry['action'].upper():<8} {_short(entry)}",
                    flush=True,
                )
        watch.seen_history = len(entries)
        state = experiment["status"]
        if state == "running":
            state = f"stage {experiment['stage']} ({experiment['traffic']:.0%})"
        watch.last = {"experiment": experiment, "results": results, "history": entries}
        if watch.finished_at is None and _finished(experiment, results, entries):
            watch.finished_at = _stopped_at(entries, experiment) or time.time()
            watch.finished_at -= started
        line.append(f"{scenario.key} {state:<14} {users_by_variant(results):<22}")
    for logged in sdk_log.drain():
        print(logged, flush=True)
    print(
        f"  {time.time() - started:5.1f}s  " + " | ".join(line)
        + f" | {traffic.calls} LLM calls",
        flush=True,
    )


def _short(entry: dict[str, Any]) -> str:
    if entry["action"] == "advance":
        return f"-> stage {entry['changes']['stage']} ({entry['changes']['traffic']:.0%})"
    breached = [c for c in (entry.get("figures") or {}).get("comparisons", []) if c["breached"]]
    if breached:
        return "; ".join(_breach(c) for c in breached)
    return str(entry.get("reason") or "").split(";")[0][:100]


def _breach(comparison: Mapping[str, Any]) -> str:
    """`latency_ms of new: +112% measured, always-valid [+60%, +170%], tolerated +10%`."""
    lift, bounds = comparison.get("relative_lift"), comparison.get("sequential_relative_ci")
    measured = "" if lift is None else f" {lift:+.0%} measured,"
    tolerated = f"tolerated {comparison['max_regression']:+.0%}"
    if bounds is None:
        return (f"{comparison['metric']} of {comparison['variant']}:{measured} always-valid "
                f"harm beyond the {tolerated}")
    return (f"{comparison['metric']} of {comparison['variant']}:{measured} always-valid "
            f"[{bounds[0]:+.0%}, {bounds[1]:+.0%}], {tolerated}")


STOPS = ("rollback", "pause", "conclude")


def _stopped_at(entries: list[dict[str, Any]], experiment: Mapping[str, Any]) -> float | None:
    """When the experiment stopped (the Unix time of its last stop), or None while it runs."""
    if experiment["status"] == "running":
        return None
    return next((float(e["at"]) for e in reversed(entries) if e["action"] in STOPS), None)


def _finished(
    experiment: Mapping[str, Any], results: Mapping[str, Any], entries: list[dict[str, Any]]
) -> bool:
    """Stopped (once the history read before the status shows why), or done with its plan."""
    if experiment["status"] != "running":
        return any(e["action"] in STOPS for e in entries)
    return bool(results["decision"]["action"] == "complete")


def primary_outcome(results: Mapping[str, Any]) -> str:
    """`thumbs_up of new: +27% [+8%, +49%] always-valid, better`, from the last results."""
    metric = next((m for m in results["metrics"] if m["metric"] == PRIMARY), None)
    if metric is None or not metric.get("comparisons"):
        return f"{PRIMARY}: no figures yet"
    parts = []
    for c in metric["comparisons"]:
        lift, bounds = c.get("relative_lift"), c.get("sequential_relative_ci")
        shown = "n/a" if lift is None else f"{lift:+.0%}"
        span = "" if bounds is None else f" [{bounds[0]:+.0%}, {bounds[1]:+.0%}] always-valid"
        parts.append(f"{PRIMARY} of {c['variant']}: {shown}{span}, {c.get('verdict') or '-'}")
    return "; ".join(parts)


MEASURED = (("latency_ms", "{:.0f} ms"), ("output_tokens", "{:.0f}"), ("cost_usd", "${:.6f}"))
"""The integration's figures the summary shows, per call: the means of their ratio metrics."""


def measured(results: Mapping[str, Any]) -> str:
    """`latency_ms 67 ms / 101 ms, ...`: control's and the new variant's mean per call."""
    metrics = {m["metric"]: m for m in results["metrics"]}
    parts = []
    for key, shown in MEASURED:
        arms = metrics.get(key, {}).get("variants", {})
        means = [arms.get(variant, {}).get("mean") for variant in (CONTROL, NEW)]
        parts.append(f"{key} " + " / ".join(
            "n/a" if mean is None else shown.format(mean) for mean in means
        ))
    return ", ".join(parts)


def _outcome(scenario: Scenario, watch: Watch) -> tuple[str, bool]:
    """The experiment's outcome in words, and whether it is the one the demo expects."""
    experiment, results = watch.last["experiment"], watch.last["results"]
    advances = sum(1 for e in watch.last["history"] if e["action"] == "advance")
    if experiment["status"] == "rolled_back":
        outcome = f"rolled back at stage {experiment['stage']}"
    elif experiment["status"] == "running":
        outcome = f"stage {experiment['stage']} ({experiment['traffic']:.0%}), {advances} advances"
        if results["decision"]["action"] == "complete":
            outcome += ", complete"
    else:
        outcome = experiment["status"]
    if watch.finished_at is not None:
        outcome += f" after {watch.finished_at:.0f} s"
    if scenario.should_roll_back:
        return outcome, experiment["status"] == "rolled_back"
    return outcome, experiment["status"] == "running" and advances == len(STAGES) - 1


def summary(
    watches: dict[str, Watch], hooks: Webhooks, traffic: Traffic, llm: LocalOpenAI, took: float
) -> bool:
    """The table at the end; True when both experiments did what the demo expects."""
    print()
    header = f"{'experiment':<14} {'expected':<28} {'outcome':<48} users per variant"
    print(header)
    print("-" * len(header))
    ok = True
    for scenario in SCENARIOS:
        outcome, expected = _outcome(scenario, watches[scenario.key])
        ok &= expected
        users = users_by_variant(watches[scenario.key].last["results"])
        print(f"{scenario.key:<14} {scenario.expect:<28} {outcome:<48} {users}")
    print()
    stats = traffic.stats()
    served = ", ".join(f"{model} {count}" for model, count in sorted(llm.served.items()))
    print(
        f"{traffic.users} simulated users in {took:.0f} s; {traffic.calls} OpenAI calls through "
        f"RolloutOpenAI ({traffic.failed_calls} failed)"
    )
    print(f"the local server answered {served}")
    print(
        f"the SDK sent {stats.events_accepted} events ({stats.events_rejected} refused); "
        f"{len(hooks.received)} webhook deliveries with a valid signature, "
        f"{hooks.bad_signatures} invalid"
    )
    print()
    print(f"measured by the integration, mean per call, {CONTROL} / {NEW}:")
    for scenario in SCENARIOS:
        print(f"  {scenario.key:<14} {measured(watches[scenario.key].last['results'])}")
    print()
    print("primary metric, new variant against control:")
    for scenario in SCENARIOS:
        results = watches[scenario.key].last["results"]
        print(f"  {scenario.key:<14} {primary_outcome(results)}")
    return ok
