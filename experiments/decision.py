"""The rollout controller's decision: a pure function of (experiment, results, now).

`decide` reads only the experiment's definition and state and the typed results of
`experiments.analysis.results` (computed from the same snapshot), and answers what the
controller should do now and why. It does no I/O and reads no clock, so `GET .../results`, the
`/evaluate` endpoint and the background runner all reach the same decision for the same inputs,
and every branch is tested with an injected `now`. `transition` turns a decision into the
lifecycle change the runner applies (also pure); rollout/controller/runner.py does the reading
and writing.

The rules, in the order they are checked (docs/controller.md explains each):

1. Only a `running` experiment is acted on; any other status holds.
2. A sample ratio mismatch (SRM, `srm.ok` false) pauses the experiment: every comparison is then
   biased, so the reversible protective action is taken and a person looks. Contract `action`
   is `hold`; `effect` says `pause` (an extension: the contract's four actions have no pause).
3. A breach rolls back with `auto_rollback` whatever the stage's age; without it the decision
   holds and names the breach. A guardrail is breached when the results say so (`breached`: the
   one-sided always-valid test that the harm exceeds `max_regression`,
   experiments/stats/guardrail.py); a primary metric when its verdict is `worse`. Experiments
   without a rollout plan are watched the same way with `auto_rollback` on (the plan's
   default): a product team's plain A/B test is protected too. With segments, a guardrail
   breached in any segment rolls back the same way (`segment_guardrail_breach`, the reason
   naming the segment; experiments/stats/segments.py).
4. Without a rollout plan there is nothing to advance: hold.
5. The stage must have run `min_duration_s` and every variant (of positive weight) must have
   `min_users_per_variant` exposed users; otherwise hold and say what is missing.
6. Before the last stage: advance with `auto_advance`, else hold with "advance ready".
7. After the last stage: `complete`. With `auto_ship` it concludes with the winner, the variant
   that is `better` on every primary metric (the largest lift of the first primary among
   several), only when no guardrail is breached; otherwise nothing ships by itself.

Error rates: the results' always-valid figures are computed at `alpha / K` for the `K`
comparisons that can trigger a decision (see experiments/analysis.py), so the chance that an
experiment with no true difference is ever rolled back or shipped, however often it is
evaluated, stays at or below `alpha` (checked by tests/unit/test_controller_simulation.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from experiments import lifecycle
from experiments.model import (
    DECISION_ROLES,
    Experiment,
    HistoryEntry,
    Metric,
    MetricRole,
    Status,
)
from experiments.results import Comparison, Interval, Results, to_json

Action = Literal["advance", "hold", "rollback", "complete"]
Effect = Literal["advance", "rollback", "pause", "conclude"]
Applied = Literal["advanced", "proposed", "awaiting_approval", "rolled_back", "paused", "concluded"]


@dataclass(frozen=True)
class Decision:
    """What the controller should do now and why.

    `action` is the contract's vocabulary (`advance`, `hold`, `rollback`, `complete`); `effect`
    is the lifecycle operation it leads to, if any (`pause` for SRM, `conclude` for an automatic
    ship); `codes` are machine-readable reason codes in the order of `reasons`; `figures` are the
    comparisons and counts that drove it, as the JSON stored with the history entry.
    """

    action: Action
    reasons: tuple[str, ...]
    codes: tuple[str, ...]
    figures: Mapping[str, Any] = field(default_factory=dict)
    effect: Effect | None = None
    winner: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "codes": list(self.codes),
            "effect": self.effect,
            "winner": self.winner,
            "figures": dict(self.figures),
        }

    def signature(self, experiment: Experiment) -> str:
        """What makes two decisions "the same" for the history: the runner records a hold only
        when this changes, so an experiment evaluated every 10 s does not flood its history."""
        breached = sorted(
            f"{c['metric']}/{c['variant']}" + (f"@{c['segment']}" if "segment" in c else "")
            for c in self.figures.get("comparisons", [])
            if c["breached"]
        )
        return json.dumps(
            [
                experiment.status.value,
                experiment.stage,
                self.action,
                self.effect,
                self.codes,
                breached,
                self.winner,
            ]
        )


@dataclass(frozen=True)
class _Check:
    """One decision comparison (a treatment on a primary or guardrail metric), judged."""

    metric: Metric
    comparison: Comparison
    breached: bool
    why: str | None
    segment: str | None = None
    """`<attribute>=<value>` of a segment's guardrail (the per-segment rule), else None."""

    def figures(self) -> dict[str, Any]:
        """The comparison's figures as the history records them (JSON); a segment's name them."""
        c = self.comparison
        where = {} if self.segment is None else {"segment": self.segment}
        return where | {
            "metric": self.metric.key,
            "role": self.metric.role.value,
            "direction": self.metric.direction.value,
            "max_regression": self.metric.max_regression,
            "variant": c.variant,
            "baseline": c.baseline,
            "diff": c.diff,
            "relative_lift": c.relative_lift,
            "sequential_ci": _listed(c.sequential_ci),
            "sequential_relative_ci": _listed(c.sequential_relative_ci),
            "sequential_p_value": c.sequential_p_value,
            "harm_bound": c.harm_bound,
            "verdict": c.verdict,
            "breached": self.breached,
        }


def decide(experiment: Experiment, results: Results, now: float) -> Decision:
    """The controller's decision for `experiment` given its `results` at time `now`."""
    if experiment.status is not Status.RUNNING:
        why = f"experiment is {experiment.status.value}; only running experiments are acted on"
        return _hold({"status": experiment.status.value}, ("not_running", why))
    checks = _checks(experiment, results)
    breaches = [c for c in checks if c.breached] + _segment_breaches(experiment, results)
    base = _base_figures(experiment, results, now)
    shown = breaches or checks
    figures = base | {"comparisons": [c.figures() for c in shown]}

    if not results.srm.ok:
        reasons = [("srm", _srm_reason(experiment, results))]
        reasons += [("breach_seen", f"also seen: {c.why}") for c in breaches]
        return Decision("hold", *_split(reasons), figures=figures, effect="pause")

    plan = experiment.rollout
    if breaches:
        reasons = [(_breach_code(c), str(c.why)) for c in breaches]
        if plan is None or plan.auto_rollback:
            return Decision("rollback", *_split(reasons), figures=figures, effect="rollback")
        reasons.append(("auto_rollback_off", "auto_rollback is off: roll back by hand"))
        return Decision("hold", *_split(reasons), figures=figures)

    if plan is None:
        why = (
            f"no rollout plan: traffic {_pct(experiment.traffic)} is set by hand; guardrails "
            "and the primary metric are watched"
        )
        return _hold(figures, ("no_rollout_plan", why))
    if experiment.stage is None:
        why = (
            "the rollout plan was added after the start, so no stage is running (a plan takes "
            "effect when an experiment starts); traffic is set by hand"
        )
        return _hold(figures, ("no_stage", why))

    stage = plan.stages[experiment.stage]
    waits = _waits(experiment, results, now)
    if waits:
        return _hold(figures, *waits)

    done = (
        f"stage {experiment.stage} has run {_seconds(figures['stage_age_s'])} s of "
        f"{stage.min_duration_s} s with at least {stage.min_users_per_variant} users per variant, "
        "sample ratio ok, nothing breached"
    )
    last = experiment.stage == len(plan.stages) - 1
    if not last:
        nxt = plan.stages[experiment.stage + 1]
        step = f"stage {experiment.stage + 1} (traffic {_pct(nxt.traffic)})"
        if plan.auto_advance:
            return Decision(
                "advance",
                *_split([("advance", f"{done}: advancing to {step}")]),
                figures=figures,
                effect="advance",
            )
        why = f"advance ready: {done}; auto_advance is off, advance by hand to {step}"
        return _hold(figures, ("advance_ready", why))

    complete = f"the last stage is complete: {done}"
    if not plan.auto_ship:
        reasons = [
            ("complete", complete),
            ("auto_ship_off", "auto_ship is off: conclude by hand with the winner"),
        ]
        return Decision("complete", *_split(reasons), figures=figures)
    winner = _winner(experiment, checks)
    if winner is None:
        reasons = [
            ("complete", complete),
            (
                "no_winner",
                "auto_ship: no variant is better on every primary metric, so "
                "nothing ships by itself; conclude by hand",
            ),
        ]
        return Decision("complete", *_split(reasons), figures=figures)
    reasons = [
        ("complete", complete),
        (
            "ship",
            f"auto_ship: {winner} is better on every primary metric; concluding with {winner}",
        ),
    ]
    return Decision("complete", *_split(reasons), figures=figures, effect="conclude", winner=winner)


def _hold(figures: Mapping[str, Any], *reasons: tuple[str, str]) -> Decision:
    return Decision("hold", *_split(reasons), figures=figures)


def _split(reasons: Sequence[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(code, text) pairs -> (texts, codes), the order Decision takes them in."""
    return tuple(text for _, text in reasons), tuple(code for code, _ in reasons)


def _checks(experiment: Experiment, results: Results) -> list[_Check]:
    """Every treatment of every primary and guardrail metric, judged on the results' figures."""
    checks = []
    for entry in results.metrics:
        metric = experiment.metric(entry.metric)
        if metric is None or metric.role not in DECISION_ROLES:
            continue
        for comparison in entry.comparisons:
            breached, why = _judge(metric, comparison)
            checks.append(_Check(metric, comparison, breached, why))
    return checks


def _segment_breaches(experiment: Experiment, results: Results) -> list[_Check]:
    """Every treatment of every guardrail breached in a segment (the per-segment rule, at the
    per-segment level of experiments/stats/segments.py)."""
    breaches = []
    for dimension in results.segments or ():
        for segment in dimension.segments:
            where = f"{dimension.attribute}={segment.value}"
            for entry in segment.metrics:
                metric = experiment.metric(entry.metric)
                if metric is None or metric.role is not MetricRole.GUARDRAIL:
                    continue
                for comparison in entry.comparisons:
                    breached, why = _judge(metric, comparison, where)
                    if breached:
                        breaches.append(_Check(metric, comparison, True, why, where))
    return breaches


def _judge(
    metric: Metric, comparison: Comparison, segment: str | None = None
) -> tuple[bool, str | None]:
    """Whether one comparison (of the whole, or of `segment`) is breached, and the sentence
    that says so."""
    variant = comparison.variant
    direction = metric.direction.value
    if metric.role is MetricRole.PRIMARY:
        if comparison.verdict != "worse":
            return False, None
        return True, (
            f"primary {metric.key} of {variant} is worse: always-valid interval of the difference "
            f"{_interval(comparison.sequential_ci)} (good direction: {direction})"
        )
    if comparison.breached is not True:
        return False, None
    side = "above" if metric.direction.value == "decrease" else "below"
    tolerated = metric.max_regression if side == "above" else -metric.max_regression
    relative = comparison.sequential_relative_ci
    shown = (
        "unbounded: the control mean cannot be told from zero"
        if relative is None
        else _relative_interval(relative)
    )
    where = "" if segment is None else f" in segment {segment}"
    return True, (
        f"guardrail {metric.key} of {variant} breached{where}: the one-sided always-valid test "
        f"puts its change wholly {side} the tolerated {_signed_pct(tolerated)} (relative "
        f"interval {shown}; good direction: {direction})"
    )


def _breach_code(check: _Check) -> str:
    if check.metric.role is MetricRole.PRIMARY:
        return "primary_worse"
    return "guardrail_breach" if check.segment is None else "segment_guardrail_breach"


def _waits(experiment: Experiment, results: Results, now: float) -> list[tuple[str, str]]:
    """What the current stage still needs before it may advance or complete."""
    assert experiment.rollout is not None and experiment.stage is not None
    stage = experiment.rollout.stages[experiment.stage]
    waits = []
    age = _stage_age(experiment, now)
    if age < stage.min_duration_s:
        waits.append(
            (
                "stage_too_young",
                f"stage {experiment.stage} has run {_seconds(age)} s of {stage.min_duration_s} s",
            )
        )
    users = results.users()
    for variant in experiment.variants:
        if variant.weight <= 0:
            continue
        have = users[variant.key]
        if have < stage.min_users_per_variant:
            waits.append(
                (
                    "too_few_users",
                    f"variant {variant.key} has {have} of {stage.min_users_per_variant} users "
                    f"needed in stage {experiment.stage}",
                )
            )
    return waits


def _winner(experiment: Experiment, checks: Sequence[_Check]) -> str | None:
    """The treatment that is `better` on every primary metric; the largest first-primary lift
    among several. None without a primary metric: nothing can be shown better."""
    primaries = [m.key for m in experiment.metrics if m.role is MetricRole.PRIMARY]
    if not primaries:
        return None
    candidates: list[tuple[float, str]] = []
    for variant in experiment.variant_keys():
        if variant == experiment.control:
            continue
        verdicts = {
            c.metric.key: c.comparison
            for c in checks
            if c.metric.role is MetricRole.PRIMARY and c.comparison.variant == variant
        }
        if all(m in verdicts and verdicts[m].verdict == "better" for m in primaries):
            first_comparison = verdicts[primaries[0]]
            size = first_comparison.relative_lift
            if size is None:
                size = first_comparison.diff
            oriented = 0.0 if size is None else size
            first = experiment.metric(primaries[0])
            if first is not None and first.direction.value == "decrease":
                oriented = -oriented
            candidates.append((oriented, variant))
    if not candidates:
        return None
    return max(candidates)[1]


def _base_figures(experiment: Experiment, results: Results, now: float) -> dict[str, Any]:
    """The counts a decision rests on, as the history records them (JSON)."""
    figures: dict[str, Any] = {
        "stage": experiment.stage,
        "traffic": experiment.effective_traffic,
        "users": results.users(),
        "srm": to_json(results.srm),
        "alpha": experiment.alpha,
        "sequential_alpha": results.sequential_alpha,
        "stage_age_s": None,
    }
    if experiment.rollout is not None and experiment.stage is not None:
        stage = experiment.rollout.stages[experiment.stage]
        figures |= {
            "stage_age_s": _stage_age(experiment, now),
            "min_duration_s": stage.min_duration_s,
            "min_users_per_variant": stage.min_users_per_variant,
            "stages": len(experiment.rollout.stages),
        }
    return figures


def _stage_age(experiment: Experiment, now: float) -> float:
    started = experiment.stage_started_at or experiment.started_at or now
    return max(0.0, now - started)


def _srm_reason(experiment: Experiment, results: Results) -> str:
    srm, users = results.srm, results.users()
    split = ", ".join(
        f"{v.key} {users[v.key]} (weight {v.weight:g})" for v in experiment.variants
    )
    return (
        f"sample ratio mismatch: users {split}, sequential p = {srm.sequential_p_value:.2g} < "
        f"{srm.level:g}; pausing: every comparison is biased until the cause is found"
    )


def _listed(interval: Interval | None) -> list[float] | None:
    return None if interval is None else list(interval)


def _interval(interval: Interval | None) -> str:
    return "unavailable" if interval is None else f"[{interval[0]:.4g}, {interval[1]:.4g}]"


def _relative_interval(pair: Interval) -> str:
    return f"[{_signed_pct(pair[0])}, {_signed_pct(pair[1])}]"


def _signed_pct(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def _seconds(value: float) -> str:
    return f"{value:.0f}"


@dataclass(frozen=True)
class Change:
    """A decision turned into a lifecycle change: the new document (None when nothing changes),
    the history entries that explain it, and what was applied."""

    experiment: Experiment | None
    entries: list[HistoryEntry]
    applied: Applied | None


def transition(
    experiment: Experiment,
    decision: Decision,
    now: float,
    actor: str,
    review_required: bool,
) -> Change:
    """The lifecycle change a decision makes; pure, like the lifecycle functions it calls.

    A raise of traffic under review (`ROLLOUT_REQUIRE_REVIEW` or `review: true`) becomes a
    proposal that a key other than the controller approves, as for a manual advance; a proposal
    already pending for the same stage is left alone. Rollback and pause never wait for review.
    """
    reason = "; ".join(decision.reasons)
    figures = decision.as_dict()["figures"] | {"codes": list(decision.codes)}
    if decision.effect == "rollback":
        updated, entries = lifecycle.rollback(experiment, now, actor, reason, figures)
        return Change(updated, entries, "rolled_back")
    if decision.effect == "pause":
        updated, entries = lifecycle.pause(experiment, now, actor, reason, figures)
        return Change(updated, entries, "paused")
    if decision.effect == "conclude":
        assert decision.winner is not None
        updated, entries = lifecycle.conclude(
            experiment, now, actor, decision.winner, reason, figures
        )
        return Change(updated, entries, "concluded")
    if decision.effect == "advance":
        updated, entries, pending = lifecycle.advance_or_propose(
            experiment, now, actor, review_required, reason, figures
        )
        if pending is None:
            return Change(updated, entries, "advanced")
        if not entries:
            return Change(None, [], "awaiting_approval")
        return Change(updated, entries, "proposed")
    return Change(None, [], None)


def decision_entry(decision: Decision, now: float, actor: str) -> HistoryEntry:
    """The history entry of a decision that changes nothing (a hold, a `complete` by hand)."""
    return HistoryEntry(
        at=now,
        actor=actor,
        action="decision",
        reason="; ".join(decision.reasons),
        changes={"decision": decision.action, "effect": decision.effect},
        figures=decision.as_dict()["figures"] | {"codes": list(decision.codes)},
    )
