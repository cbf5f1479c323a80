"""What the demo prints: each controller action as it happens, a status line a second, and the
outcome of each experiment at the end, its primary metric's included."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.demo.receiver import Webhooks
from rollout.demo.scenarios import PRIMARY, SCENARIOS, STAGES, Scenario
from rollout.demo.traffic import Traffic
from rollout.http import ServiceClient, api_path

ALWAYS_VALID = (
    "always-valid: an interval that stays trustworthy however often it is looked at, so the"
    " controller may decide after every event without raising its error rate"
)


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
    release: ServiceClient, started: float, watches: dict[str, Watch], traffic: Traffic
) -> None:
    """Print every new controller action as it happens, and one status line."""
    line = []
    for scenario in SCENARIOS:
        watch = watches[scenario.key]
        # History first: the status read after it is as new as the events printed, or newer.
        path = api_path("experiments", scenario.key)
        entries = release.get(f"{path}/history", limit=1000)["history"]
        experiment = release.get(path)
        results = release.get(f"{path}/results")
        for entry in entries[watch.seen_history :]:
            if entry["action"] in ("advance", "rollback", "pause", "conclude"):
                print(
                    f"  {time.monotonic() - started:5.1f}s  {scenario.key:<13} "
                    f"{entry['action'].upper():<8} {_short(entry)}",
                    flush=True,
                )
        watch.seen_history = len(entries)
        state = experiment["status"]
        if state == "running":
            state = f"stage {experiment['stage']} ({experiment['traffic']:.0%})"
        watch.last = {"experiment": experiment, "results": results, "history": entries}
        if watch.finished_at is None and _finished(experiment, results):
            watch.finished_at = time.monotonic() - started
        line.append(f"{scenario.key} {state:<14} {users_by_variant(results):<22}")
    print(
        f"  {time.monotonic() - started:5.1f}s  " + " | ".join(line)
        + f" | {traffic.users} users sent",
        flush=True,
    )


def _short(entry: dict[str, Any]) -> str:
    if entry["action"] == "advance":
        return f"-> stage {entry['changes']['stage']} ({entry['changes']['traffic']:.0%})"
    breached = [c for c in (entry.get("figures") or {}).get("comparisons", []) if c["breached"]]
    if breached:
        return "; ".join(
            f"{c['metric']} of {c['variant']}: always-valid relative change "
            f"[{c['sequential_relative_ci'][0]:+.0%}, {c['sequential_relative_ci'][1]:+.0%}], "
            f"tolerated {c['max_regression']:+.0%}"
            for c in breached
            if c["sequential_relative_ci"] is not None
        )
    return str(entry.get("reason") or "").split(";")[0][:100]


def _finished(experiment: Mapping[str, Any], results: Mapping[str, Any]) -> bool:
    if experiment["status"] != "running":
        return True
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


def summary(watches: dict[str, Watch], hooks: Webhooks, traffic: Traffic, took: float) -> bool:
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
    print(
        f"{traffic.users} simulated users in {took:.0f} s ({traffic.errors} failed requests); "
        f"{len(hooks.received)} webhook deliveries with a valid signature, "
        f"{hooks.bad_signatures} invalid"
    )
    print()
    print("primary metric, new variant against control:")
    for scenario in SCENARIOS:
        results = watches[scenario.key].last["results"]
        print(f"  {scenario.key:<14} {primary_outcome(results)}")
    return ok
