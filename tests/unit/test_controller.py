"""decide(): every rule of the rollout controller, on hand-built results, with an injected clock."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from experiments.decision import decide, decision_entry, transition
from experiments.model import Experiment, Status
from experiments.results import (
    ArmSummary,
    Comparison,
    Interval,
    MetricResult,
    Results,
    SrmCheck,
    VariantUsers,
)
from experiments.stats.sequential import Verdict

T0 = 1_750_000_000.0
PLAN = {
    "stages": [
        {"traffic": 0.02, "min_duration_s": 3600, "min_users_per_variant": 200},
        {"traffic": 0.10, "min_duration_s": 3600, "min_users_per_variant": 1000},
        {"traffic": 0.50, "min_duration_s": 86400, "min_users_per_variant": 5000},
    ],
    "auto_advance": True,
    "auto_rollback": True,
}


def make_experiment(
    *, stage: int | None = 0, status: Status = Status.RUNNING, **overrides: Any
) -> Experiment:
    plan = overrides.pop("rollout", PLAN)
    body: dict[str, Any] = {
        "key": "summary-tone",
        "name": "Friendlier summaries",
        "variants": [
            {"key": "control", "weight": 0.5},
            {"key": "friendly", "weight": 0.5},
        ],
        "control": "control",
        "metrics": [
            {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
            {
                "key": "latency_ms",
                "type": "mean",
                "role": "guardrail",
                "direction": "decrease",
                "max_regression": 0.10,
            },
            {
                "key": "quality",
                "type": "mean",
                "role": "guardrail",
                "direction": "increase",
                "max_regression": 0.05,
            },
            {"key": "length", "type": "mean", "role": "secondary", "direction": "decrease"},
        ],
        "rollout": plan,
        "status": status,
        "revision": 3,
        "started_at": T0,
        "stage": stage if plan is not None else None,
        "stage_started_at": T0 if plan is not None and stage is not None else None,
    }
    body.update(overrides)
    if plan is not None and body["stage"] is not None:
        body["traffic"] = plan["stages"][body["stage"]]["traffic"]
    return Experiment.model_validate(body)


def comparison(
    variant: str = "friendly",
    verdict: Verdict = "inconclusive",
    relative: Interval | None = (-0.05, 0.05),
    sequential: Interval | None = (-0.01, 0.01),
    lift: float = 0.0,
    breached: bool | None = None,
) -> Comparison:
    """One comparison as the results have it; `breached` is the guardrail test's."""
    return Comparison(
        variant=variant,
        baseline="control",
        diff=lift / 10,
        ci=None,
        relative_lift=lift,
        relative_ci=None,
        p_value=None,
        adjusted_p_value=None,
        sequential_ci=sequential,
        sequential_relative_ci=relative,
        sequential_p_value=1.0,
        verdict=verdict,
        breached=breached,
        harm_bound=None,
        verdict_detail=None,
        reason=None,
    )


def make_results(
    experiment: Experiment,
    users: dict[str, int] | None = None,
    srm_ok: bool = True,
    **per_metric: Comparison | list[Comparison],
) -> Results:
    """Results in the contract's shape; every comparison inconclusive unless given."""
    users = users or {v.key: 100_000 for v in experiment.variants}
    metrics = []
    for metric in experiment.metrics:
        given = per_metric.get(metric.key)
        treatments = [v.key for v in experiment.variants if v.key != experiment.control]
        if given is None:
            comparisons = [comparison(t) for t in treatments]
        elif isinstance(given, list):
            comparisons = given
        else:
            comparisons = [given]
        metrics.append(
            MetricResult(
                metric=metric.key,
                type=metric.type,
                role=metric.role,
                direction=metric.direction,
                max_regression=metric.max_regression,
                cap=metric.cap,
                variants={
                    k: ArmSummary(users=n, mean=1.0, variance=1.0, reason=None)
                    for k, n in users.items()
                },
                comparisons=tuple(comparisons),
            )
        )
    return Results(
        experiment=experiment.key,
        status=experiment.status,
        stage=experiment.stage,
        traffic=experiment.effective_traffic,
        as_of=T0,
        alpha=experiment.alpha,
        sequential_alpha=experiment.alpha / 3,
        srm=SrmCheck(
            p_value=0.41 if srm_ok else 1e-6,
            ok=srm_ok,
            sequential_p_value=1.0 if srm_ok else 1e-4,
            level=0.01,
        ),
        variants={k: VariantUsers(users=n) for k, n in users.items()},
        metrics=tuple(metrics),
    )


LATENCY_BREACH = comparison(
    verdict="worse", relative=(0.38, 0.61), sequential=(30.0, 50.0), breached=True
)
HOUR = 3600.0


# -- not running ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [Status.DRAFT, Status.PAUSED, Status.CONCLUDED, Status.ROLLED_BACK]
)
def test_an_experiment_that_is_not_running_is_held_whatever_its_figures(status: Status) -> None:
    experiment = make_experiment(status=status)
    results = make_results(experiment, srm_ok=False, latency_ms=LATENCY_BREACH)
    decision = decide(experiment, results, T0 + 10 * HOUR)
    assert decision.action == "hold"
    assert decision.effect is None
    assert decision.codes == ("not_running",)
    assert status.value in decision.reasons[0]


# -- waiting in a stage --------------------------------------------------------------------------


def test_a_young_stage_holds_and_says_how_long_it_has_run() -> None:
    experiment = make_experiment()
    decision = decide(experiment, make_results(experiment), T0 + 120)
    assert decision.action == "hold"
    assert decision.reasons == ("stage 0 has run 120 s of 3600 s",)
    assert decision.codes == ("stage_too_young",)
    assert decision.figures["stage_age_s"] == 120


def test_too_few_users_in_a_variant_holds_and_names_it() -> None:
    experiment = make_experiment()
    results = make_results(experiment, users={"control": 250, "friendly": 150})
    decision = decide(experiment, results, T0 + 2 * HOUR)
    assert decision.action == "hold"
    assert decision.codes == ("too_few_users",)
    assert decision.reasons == ("variant friendly has 150 of 200 users needed in stage 0",)


def test_every_missing_condition_is_listed() -> None:
    experiment = make_experiment()
    results = make_results(experiment, users={"control": 10, "friendly": 12})
    decision = decide(experiment, results, T0 + 60)
    assert decision.codes == ("stage_too_young", "too_few_users", "too_few_users")


def test_a_variant_of_weight_zero_needs_no_users() -> None:
    experiment = make_experiment(
        variants=[
            {"key": "control", "weight": 0.5},
            {"key": "friendly", "weight": 0.5},
            {"key": "retired", "weight": 0.0},
        ]
    )
    users = {"control": 300, "friendly": 300, "retired": 0}
    results = make_results(experiment, users=users)
    assert decide(experiment, results, T0 + 2 * HOUR).action == "advance"


def test_stage_age_counts_from_the_stage_start_not_the_experiment_start() -> None:
    experiment = make_experiment(stage=1, stage_started_at=T0 + 10 * HOUR)
    decision = decide(experiment, make_results(experiment), T0 + 10 * HOUR + 30)
    assert decision.reasons == ("stage 1 has run 30 s of 3600 s",)


# -- advance -------------------------------------------------------------------------------------


def test_a_stage_that_has_run_long_enough_with_enough_users_advances() -> None:
    experiment = make_experiment()
    results = make_results(experiment, users={"control": 200, "friendly": 201})
    decision = decide(experiment, results, T0 + HOUR)
    assert decision.action == "advance"
    assert decision.effect == "advance"
    assert decision.codes == ("advance",)
    assert "advancing to stage 1 (traffic 10%)" in decision.reasons[0]
    shown = {(c["metric"], c["variant"]) for c in decision.figures["comparisons"]}
    assert shown == {("thumbs_up", "friendly"), ("latency_ms", "friendly"), ("quality", "friendly")}


def test_without_auto_advance_a_ready_stage_holds_with_advance_ready() -> None:
    experiment = make_experiment(rollout={**PLAN, "auto_advance": False})
    decision = decide(experiment, make_results(experiment), T0 + 2 * HOUR)
    assert decision.action == "hold"
    assert decision.effect is None
    assert decision.codes == ("advance_ready",)
    assert decision.reasons[0].startswith("advance ready")


def test_a_secondary_metric_that_is_worse_does_not_stop_the_ramp() -> None:
    experiment = make_experiment()
    results = make_results(
        experiment, length=comparison(verdict="worse", relative=(0.5, 0.9), sequential=(1, 2))
    )
    assert decide(experiment, results, T0 + 2 * HOUR).action == "advance"


def test_a_worse_guardrail_within_its_tolerance_does_not_stop_the_ramp() -> None:
    """Whether harm exceeds the tolerance is the results' `breached` (tests/unit/
    test_stats_guardrail.py); a guardrail that is worse but not breached lets the ramp go on."""
    experiment = make_experiment()
    tolerated = comparison(verdict="worse", relative=(0.02, 0.09), sequential=(1.0, 5.0))
    results = make_results(experiment, latency_ms=replace(tolerated, breached=False))
    assert decide(experiment, results, T0 + 2 * HOUR).action == "advance"


# -- breaches and rollback -----------------------------------------------------------------------


def test_a_guardrail_confidently_beyond_its_tolerance_rolls_back_whatever_the_stage_age() -> None:
    experiment = make_experiment()
    results = make_results(
        experiment, users={"control": 30, "friendly": 30}, latency_ms=LATENCY_BREACH
    )
    decision = decide(experiment, results, T0 + 5)
    assert decision.action == "rollback"
    assert decision.effect == "rollback"
    assert decision.codes == ("guardrail_breach",)
    assert "latency_ms" in decision.reasons[0] and "+10.0%" in decision.reasons[0]
    assert "[+38.0%, +61.0%]" in decision.reasons[0]
    [figures] = decision.figures["comparisons"]
    assert figures["metric"] == "latency_ms" and figures["breached"] is True


def test_a_guardrail_that_should_increase_is_breached_below_minus_its_tolerance() -> None:
    experiment = make_experiment()
    drop = comparison(
        verdict="worse", relative=(-0.2, -0.06), sequential=(-2.0, -0.5), breached=True
    )
    decision = decide(experiment, make_results(experiment, quality=drop), T0 + 5)
    assert decision.action == "rollback"
    assert "below the tolerated -5.0%" in decision.reasons[0]


def test_an_improving_guardrail_is_no_breach() -> None:
    experiment = make_experiment()
    faster = comparison(verdict="better", relative=(-0.6, -0.3), sequential=(-50.0, -30.0))
    results = make_results(experiment, latency_ms=faster)
    assert decide(experiment, results, T0 + 2 * HOUR).action == "advance"


def test_a_worse_guardrail_against_a_zero_control_is_an_unbounded_breach() -> None:
    experiment = make_experiment()
    from_zero = comparison(verdict="worse", relative=None, sequential=(0.01, 0.05), breached=True)
    decision = decide(experiment, make_results(experiment, latency_ms=from_zero), T0 + 5)
    assert decision.action == "rollback"
    assert "unbounded" in decision.reasons[0]


def test_a_guardrail_without_a_relative_interval_yet_is_no_breach() -> None:
    experiment = make_experiment()
    unknown = comparison(verdict="inconclusive", relative=None, sequential=None)
    results = make_results(experiment, latency_ms=unknown)
    assert decide(experiment, results, T0 + 2 * HOUR).action == "advance"


def test_a_worse_primary_metric_rolls_back() -> None:
    experiment = make_experiment()
    worse = comparison(verdict="worse", relative=(-0.3, -0.1), sequential=(-0.06, -0.02))
    decision = decide(experiment, make_results(experiment, thumbs_up=worse), T0 + 5)
    assert decision.action == "rollback"
    assert decision.codes == ("primary_worse",)
    assert "primary thumbs_up of friendly is worse" in decision.reasons[0]


def test_every_breach_is_a_reason() -> None:
    experiment = make_experiment()
    worse = comparison(verdict="worse", relative=(-0.3, -0.1), sequential=(-0.06, -0.02))
    results = make_results(experiment, thumbs_up=worse, latency_ms=LATENCY_BREACH)
    decision = decide(experiment, results, T0 + 5)
    assert decision.codes == ("primary_worse", "guardrail_breach")
    assert len(decision.figures["comparisons"]) == 2


def test_a_breach_of_any_treatment_rolls_back() -> None:
    experiment = make_experiment(
        variants=[
            {"key": "control", "weight": 0.34},
            {"key": "friendly", "weight": 0.33},
            {"key": "formal", "weight": 0.33},
        ]
    )
    results = make_results(
        experiment,
        latency_ms=[comparison("friendly"), replace(LATENCY_BREACH, variant="formal")],
    )
    decision = decide(experiment, results, T0 + 5)
    assert decision.action == "rollback"
    assert "of formal" in decision.reasons[0]


def test_without_auto_rollback_a_breach_holds_and_names_it() -> None:
    experiment = make_experiment(rollout={**PLAN, "auto_rollback": False})
    decision = decide(experiment, make_results(experiment, latency_ms=LATENCY_BREACH), T0 + 5)
    assert decision.action == "hold"
    assert decision.effect is None
    assert decision.codes == ("guardrail_breach", "auto_rollback_off")
    assert "latency_ms" in decision.reasons[0]


def test_without_auto_rollback_a_breach_also_stops_an_otherwise_ready_advance() -> None:
    experiment = make_experiment(rollout={**PLAN, "auto_rollback": False})
    results = make_results(experiment, latency_ms=LATENCY_BREACH)
    assert decide(experiment, results, T0 + 2 * HOUR).action == "hold"


# -- sample ratio mismatch -----------------------------------------------------------------------


def test_a_sample_ratio_mismatch_pauses() -> None:
    experiment = make_experiment()
    results = make_results(experiment, users={"control": 1000, "friendly": 800}, srm_ok=False)
    decision = decide(experiment, results, T0 + 2 * HOUR)
    assert decision.action == "hold"
    assert decision.effect == "pause"
    assert decision.codes == ("srm",)
    assert "sample ratio mismatch" in decision.reasons[0]
    assert "control 1000 (weight 0.5)" in decision.reasons[0]


def test_a_sample_ratio_mismatch_pauses_rather_than_rolls_back_on_biased_figures() -> None:
    experiment = make_experiment()
    results = make_results(experiment, srm_ok=False, latency_ms=LATENCY_BREACH)
    decision = decide(experiment, results, T0 + 5)
    assert decision.effect == "pause"
    assert decision.codes == ("srm", "breach_seen")


# -- no plan -------------------------------------------------------------------------------------


def test_an_experiment_without_a_plan_is_held_at_its_traffic() -> None:
    experiment = make_experiment(rollout=None, traffic=0.3)
    decision = decide(experiment, make_results(experiment), T0 + 100 * HOUR)
    assert decision.action == "hold"
    assert decision.codes == ("no_rollout_plan",)
    assert "30%" in decision.reasons[0]


def test_an_experiment_without_a_plan_is_still_rolled_back_on_a_breach() -> None:
    experiment = make_experiment(rollout=None)
    decision = decide(experiment, make_results(experiment, latency_ms=LATENCY_BREACH), T0 + 5)
    assert decision.action == "rollback"


def test_a_plan_added_after_the_start_holds_until_a_stage_is_entered_by_hand() -> None:
    experiment = make_experiment(stage=None)
    decision = decide(experiment, make_results(experiment), T0 + 100 * HOUR)
    assert decision.codes == ("no_stage",)


# -- the last stage ------------------------------------------------------------------------------


def last_stage(**plan: Any) -> Experiment:
    return make_experiment(stage=2, rollout={**PLAN, **plan})


def test_after_the_last_stage_the_decision_is_complete_and_ships_nothing_by_itself() -> None:
    experiment = last_stage()
    better = comparison(verdict="better", relative=(0.02, 0.2), sequential=(0.01, 0.04), lift=0.1)
    decision = decide(experiment, make_results(experiment, thumbs_up=better), T0 + 25 * HOUR)
    assert decision.action == "complete"
    assert decision.effect is None and decision.winner is None
    assert decision.codes == ("complete", "auto_ship_off")


def test_the_last_stage_waits_like_the_others() -> None:
    experiment = last_stage(auto_ship=True)
    decision = decide(experiment, make_results(experiment), T0 + 2 * HOUR)
    assert decision.action == "hold"
    assert decision.codes == ("stage_too_young",)


def test_auto_ship_concludes_with_a_variant_better_on_the_primary_metric() -> None:
    experiment = last_stage(auto_ship=True)
    better = comparison(verdict="better", relative=(0.02, 0.2), sequential=(0.01, 0.04), lift=0.1)
    decision = decide(experiment, make_results(experiment, thumbs_up=better), T0 + 25 * HOUR)
    assert decision.action == "complete"
    assert decision.effect == "conclude"
    assert decision.winner == "friendly"
    assert decision.codes == ("complete", "ship")


def test_auto_ship_ships_nothing_when_the_primary_metric_is_inconclusive() -> None:
    experiment = last_stage(auto_ship=True)
    decision = decide(experiment, make_results(experiment), T0 + 25 * HOUR)
    assert decision.action == "complete"
    assert decision.effect is None
    assert decision.codes == ("complete", "no_winner")


def test_auto_ship_ships_nothing_while_a_guardrail_is_breached() -> None:
    experiment = last_stage(auto_ship=True, auto_rollback=False)
    better = comparison(verdict="better", relative=(0.02, 0.2), sequential=(0.01, 0.04), lift=0.1)
    results = make_results(experiment, thumbs_up=better, latency_ms=LATENCY_BREACH)
    decision = decide(experiment, results, T0 + 25 * HOUR)
    assert decision.action == "hold"
    assert decision.effect is None


def test_auto_ship_without_a_primary_metric_ships_nothing() -> None:
    experiment = make_experiment(
        stage=2,
        rollout={**PLAN, "auto_ship": True},
        metrics=[
            {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease"}
        ],
    )
    decision = decide(experiment, make_results(experiment), T0 + 25 * HOUR)
    assert decision.codes == ("complete", "no_winner")


def test_auto_ship_picks_the_larger_oriented_lift_among_several_better_variants() -> None:
    experiment = make_experiment(
        stage=2,
        rollout={**PLAN, "auto_ship": True},
        variants=[
            {"key": "control", "weight": 0.34},
            {"key": "friendly", "weight": 0.33},
            {"key": "formal", "weight": 0.33},
        ],
        metrics=[{"key": "latency_ms", "type": "mean", "role": "primary", "direction": "decrease"}],
    )
    faster = comparison("friendly", "better", (-0.3, -0.1), (-40.0, -10.0), lift=-0.2)
    fastest = comparison("formal", "better", (-0.5, -0.2), (-60.0, -20.0), lift=-0.35)
    results = make_results(experiment, latency_ms=[faster, fastest])
    assert decide(experiment, results, T0 + 25 * HOUR).winner == "formal"


def test_auto_ship_needs_every_primary_metric_better() -> None:
    experiment = make_experiment(
        stage=2,
        rollout={**PLAN, "auto_ship": True},
        metrics=[
            {"key": "thumbs_up", "type": "binary", "role": "primary"},
            {"key": "retention", "type": "binary", "role": "primary"},
        ],
    )
    better = comparison(verdict="better", relative=(0.02, 0.2), sequential=(0.01, 0.04), lift=0.1)
    results = make_results(experiment, thumbs_up=better)
    assert decide(experiment, results, T0 + 25 * HOUR).effect is None


# -- the decision as a value ---------------------------------------------------------------------


def test_decide_is_pure() -> None:
    experiment = make_experiment()
    results = make_results(experiment, latency_ms=LATENCY_BREACH)
    before = copy.deepcopy(results)
    first = decide(experiment, results, T0 + 5)
    assert decide(experiment, results, T0 + 5) == first
    assert results == before


def test_as_dict_has_the_contract_fields_and_the_extensions() -> None:
    experiment = make_experiment()
    answer = decide(experiment, make_results(experiment), T0 + 120).as_dict()
    assert answer["action"] == "hold"
    assert answer["reasons"] == ["stage 0 has run 120 s of 3600 s"]
    assert set(answer) == {"action", "reasons", "codes", "effect", "winner", "figures"}


def test_the_signature_ignores_the_clock_but_not_the_kind_of_decision() -> None:
    experiment = make_experiment()
    results = make_results(experiment)
    early = decide(experiment, results, T0 + 60).signature(experiment)
    later = decide(experiment, results, T0 + 600).signature(experiment)
    ready = decide(experiment, results, T0 + 2 * HOUR).signature(experiment)
    assert early == later
    assert ready != early


# -- transition: the lifecycle change a decision makes -------------------------------------------


def test_an_advance_moves_to_the_next_stage_and_keeps_the_figures() -> None:
    experiment = make_experiment()
    decision = decide(experiment, make_results(experiment), T0 + 2 * HOUR)
    change = transition(experiment, decision, T0 + 2 * HOUR, "controller", False)
    assert change.applied == "advanced"
    assert change.experiment is not None
    assert change.experiment.stage == 1
    assert change.experiment.effective_traffic == 0.10
    assert change.experiment.stage_started_at == T0 + 2 * HOUR
    [entry] = change.entries
    assert entry.action == "advance" and entry.actor == "controller"
    assert entry.figures is not None and entry.figures["codes"] == ["advance"]


def test_under_review_an_advance_is_proposed_once() -> None:
    experiment = make_experiment()
    decision = decide(experiment, make_results(experiment), T0 + 2 * HOUR)
    change = transition(experiment, decision, T0 + 2 * HOUR, "controller", True)
    assert change.applied == "proposed"
    assert change.experiment is not None
    assert change.experiment.stage == 0
    [pending] = change.experiment.pending
    assert pending.kind == "advance" and pending.stage == 1
    again = transition(change.experiment, decision, T0 + 3 * HOUR, "controller", True)
    assert again.applied == "awaiting_approval"
    assert again.experiment is None and again.entries == []


def test_a_rollback_ends_the_experiment_with_its_reasons_and_figures() -> None:
    experiment = make_experiment(review=True)
    decision = decide(experiment, make_results(experiment, latency_ms=LATENCY_BREACH), T0 + 5)
    change = transition(experiment, decision, T0 + 5, "controller", True)
    assert change.applied == "rolled_back"
    assert change.experiment is not None
    assert change.experiment.status is Status.ROLLED_BACK
    assert change.experiment.rollback_reason is not None
    assert "latency_ms" in change.experiment.rollback_reason
    assert change.entries[0].figures is not None
    assert change.entries[0].figures["comparisons"][0]["breached"] is True


def test_a_sample_ratio_mismatch_pauses_without_review() -> None:
    experiment = make_experiment(review=True)
    decision = decide(experiment, make_results(experiment, srm_ok=False), T0 + 5)
    change = transition(experiment, decision, T0 + 5, "controller", True)
    assert change.applied == "paused"
    assert change.experiment is not None and change.experiment.status is Status.PAUSED
    assert change.entries[0].figures is not None


def test_an_automatic_ship_concludes_with_the_winner() -> None:
    experiment = last_stage(auto_ship=True)
    better = comparison(verdict="better", relative=(0.02, 0.2), sequential=(0.01, 0.04), lift=0.1)
    decision = decide(experiment, make_results(experiment, thumbs_up=better), T0 + 25 * HOUR)
    change = transition(experiment, decision, T0 + 25 * HOUR, "controller", False)
    assert change.applied == "concluded"
    assert change.experiment is not None
    assert change.experiment.status is Status.CONCLUDED
    assert change.experiment.winner == "friendly"


def test_a_hold_changes_nothing_and_becomes_a_decision_entry() -> None:
    experiment = make_experiment()
    decision = decide(experiment, make_results(experiment), T0 + 120)
    change = transition(experiment, decision, T0 + 120, "controller", False)
    assert change.experiment is None and change.entries == [] and change.applied is None
    entry = decision_entry(decision, T0 + 120, "controller")
    assert entry.action == "decision"
    assert entry.reason == "stage 0 has run 120 s of 3600 s"
    assert entry.figures is not None and entry.figures["stage_age_s"] == 120
