"""The rollout controller on an experiment of `shards: 16`: it counts the users of every shard."""

from __future__ import annotations

from experiments.model import ExperimentCreate
from experiments.store import Store
from experiments.store.exposures import ExposureWrite
from rollout.controller.runner import evaluate_once
from rollout.operations import experiments as operations
from rollout_sdk.kernel.hashing import shard_of

T0 = 1_750_000_000.0
EXP = "tone"
SHARDS = 16
USERS_PER_VARIANT = 30


def start_sharded(store: Store) -> None:
    body = ExperimentCreate.model_validate(
        {
            "key": EXP,
            "name": "Tone",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": "thumbs_up", "type": "binary", "role": "primary"}],
            "rollout": {
                "stages": [
                    {"traffic": t, "min_duration_s": 10, "min_users_per_variant": 50}
                    for t in (0.1, 0.5)
                ]
            },
            "shards": SHARDS,
        }
    )
    operations.create(store, body, "editor", T0)
    assert operations.start(store, EXP, "release", T0, review_required=False).pending is None


def test_the_controller_advances_on_the_users_of_all_shards_together(store: Store) -> None:
    """60 users a variant in all, but no shard holds 50 of a variant: only their sum passes."""
    start_sharded(store)
    users = [f"u{i}" for i in range(120)]
    writes = [ExposureWrite(EXP, user, i % 2, SHARDS) for i, user in enumerate(users)]
    assert all(r.recorded_now for r in store.exposures.record(writes, T0))
    assert len({shard_of(user, EXP, SHARDS) for user in users}) == SHARDS
    evaluation = evaluate_once(store, EXP, T0 + 11)
    assert evaluation.decision.action == "advance", evaluation.decision.reasons
    assert store.experiments.get(EXP).stage == 1


def test_the_controller_holds_while_the_shards_hold_too_few_users_in_all(store: Store) -> None:
    start_sharded(store)
    writes = [ExposureWrite(EXP, f"u{i}", i % 2, SHARDS) for i in range(2 * USERS_PER_VARIANT)]
    store.exposures.record(writes, T0)
    evaluation = evaluate_once(store, EXP, T0 + 11)
    assert evaluation.decision.action == "hold"
    assert store.experiments.get(EXP).stage == 0
