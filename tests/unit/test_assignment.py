"""Assignment: status rules, targeting, layers, traffic, weights; ramps, layers and the vectors."""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from experiments.layer_ranges import allocate_layer_range
from experiments.model import Experiment
from experiments.sdk_document import assignment_spec
from rollout_sdk.kernel.assignment import (
    Assignment,
    CompiledExperiment,
    Reason,
    assign,
    compile_experiment,
    spec_of,
)
from rollout_sdk.kernel.document import read_experiment
from rollout_sdk.kernel.hashing import (
    bucket_of,
    encode_text,
    layer_salt,
    traffic_salt,
    variant_salt,
)

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)
VECTORS = Path(__file__).parents[1] / "vectors" / "assignment.json"
USER_IDS = st.text(st.characters(exclude_categories=()), max_size=40)
USERS = [f"user-{i}" for i in range(50_000)]


def experiment(**fields: Any) -> Experiment:
    """A running two-way 50/50 experiment unless `fields` say otherwise."""
    definition: dict[str, Any] = {
        "key": "summary-tone",
        "name": "Friendlier summaries",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "control": "control",
        "status": "running",
        "seed": "summary-tone",
    }
    return Experiment.model_validate(definition | fields)


def compiled(**fields: Any) -> CompiledExperiment:
    """The experiment compiled as the service compiles it: the spec of its SDK document entry."""
    return compile_experiment(assignment_spec(experiment(**fields)))


def weighted(*weights: float) -> list[dict[str, Any]]:
    return [{"key": f"v{i}", "weight": w} for i, w in enumerate(weights)]


# --- statuses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [("draft", "not_running"), ("paused", "paused"), ("rolled_back", "rolled_back")],
)
def test_an_experiment_not_running_gives_control_outside_the_experiment(
    status: str, reason: str
) -> None:
    for user in USERS[:50]:
        assert assign(compiled(status=status), user, None) == Assignment(
            "summary-tone", "control", False, Reason(reason)
        )


def test_a_concluded_experiment_gives_everyone_the_winner_outside_the_experiment() -> None:
    done = compiled(status="concluded", winner="friendly")
    for user in USERS[:50]:
        assert assign(done, user, None) == Assignment(
            "summary-tone", "friendly", False, Reason.CONCLUDED
        )


def test_a_concluded_experiment_without_a_winner_gives_control() -> None:
    assert assign(compiled(status="concluded"), "u1", None).variant == "control"


def test_a_winner_that_is_not_a_variant_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="winner 'nope' is not one of the variants"):
        compiled(status="concluded", winner="nope")


def test_the_status_decides_before_targeting() -> None:
    paused = compiled(status="paused", targeting={"country": "DE"})
    assert assign(paused, "u1", {}).reason == Reason.PAUSED


# --- running ----------------------------------------------------------------------------------


def test_a_running_experiment_assigns_by_the_variant_bucket() -> None:
    running = compiled()
    for user in USERS[:200]:
        answer = assign(running, user, None)
        expected = "control" if bucket_of(user, "summary-tone:variant") < 0.5 else "friendly"
        assert answer == Assignment("summary-tone", expected, True, Reason.ASSIGNED)


def test_both_variants_of_a_two_way_split_are_used() -> None:
    running = compiled()
    assert {assign(running, user, None).variant for user in USERS[:100]} == {"control", "friendly"}


def test_an_empty_seed_falls_back_to_the_key() -> None:
    assert all(
        assign(compiled(seed=""), user, None) == assign(compiled(), user, None)
        for user in USERS[:200]
    )


def test_the_seed_and_not_the_key_salts_the_hash() -> None:
    renamed = compiled(key="renamed", seed="summary-tone")
    original = compiled()
    assert all(
        assign(renamed, user, None).variant == assign(original, user, None).variant
        for user in USERS[:200]
    )
    reseeded = compiled(seed="other")
    assert any(
        assign(reseeded, user, None).variant != assign(original, user, None).variant
        for user in USERS[:200]
    )


def test_no_traffic_includes_nobody_and_full_traffic_everybody() -> None:
    nobody, everybody = compiled(traffic=0.0), compiled(traffic=1.0)
    for user in USERS[:500]:
        assert assign(nobody, user, None).reason == Reason.TRAFFIC
        assert assign(everybody, user, None).in_experiment


def test_a_user_above_the_traffic_gets_control_outside_the_experiment() -> None:
    partial = compiled(traffic=0.3)
    for user in USERS[:500]:
        included = bucket_of(user, "summary-tone:traffic") < 0.3
        answer = assign(partial, user, None)
        assert answer.in_experiment is included
        if not included:
            assert answer == Assignment("summary-tone", "control", False, Reason.TRAFFIC)


def test_targeting_that_does_not_match_gives_control_outside_the_experiment() -> None:
    targeted = compiled(targeting={"country": {"in": ["DE", "FR"]}})
    assert assign(targeted, "u1", {"country": "US"}) == Assignment(
        "summary-tone", "control", False, Reason.TARGETING
    )
    assert assign(targeted, "u1", {"country": "DE"}).in_experiment


def test_no_attributes_are_the_empty_attributes() -> None:
    targeted = compiled(targeting={"country": {"exists": False}})
    assert assign(targeted, "u1", None) == assign(targeted, "u1", {})
    assert assign(targeted, "u1", None).in_experiment


def test_a_user_outside_the_layer_range_gets_control_outside_the_experiment() -> None:
    layered = compiled(layer="summaries", layer_range=(0.25, 0.5))
    for user in USERS[:500]:
        point = bucket_of(user, "layer:summaries")
        answer = assign(layered, user, None)
        assert answer.in_experiment is (0.25 <= point < 0.5)
        if not answer.in_experiment:
            assert answer.reason == Reason.LAYER


def test_a_layered_experiment_without_a_range_includes_nobody() -> None:
    unallocated = compiled(layer="summaries")
    assert {assign(unallocated, user, None).reason for user in USERS[:200]} == {Reason.LAYER}


def test_targeting_is_checked_before_the_layer_and_the_layer_before_traffic() -> None:
    strict = compiled(targeting={"country": "DE"}, layer="summaries", traffic=0.0)
    assert {assign(strict, user, {}).reason for user in USERS[:100]} == {Reason.TARGETING}
    layered = compiled(layer="summaries", layer_range=(0.0, 0.5), traffic=0.0)
    reasons = {assign(layered, user, None).reason for user in USERS[:100]}
    assert reasons == {Reason.LAYER, Reason.TRAFFIC}


def test_zero_weight_variants_are_never_chosen() -> None:
    sparse = compiled(variants=weighted(0.0, 0.5, 0.0, 0.5, 0.0), control="v0")
    chosen = {assign(sparse, user, None).variant for user in USERS[:2000]}
    assert chosen == {"v1", "v3"}


def test_a_single_positive_weight_takes_everyone() -> None:
    single = compiled(variants=weighted(0.0, 1.0), control="v0")
    assert {assign(single, user, None).variant for user in USERS[:500]} == {"v1"}


def test_the_last_positive_variant_takes_the_points_that_rounding_leaves_above_the_sum() -> None:
    tenths = compiled(variants=weighted(*[0.1] * 9, 0.1, 0.0), control="v0")
    assert sum([0.1] * 10) < 1.0  # the naive cumulative sum falls short of 1
    last_point = 1.0 - 2.0**-53
    assert tenths.assigned[bisect_right(tenths.upper_bounds, last_point)].variant == "v9"


def test_attributes_are_only_read() -> None:
    attributes = {"country": "DE"}
    assign(compiled(targeting={"country": "DE"}), "u1", attributes)
    assert attributes == {"country": "DE"}


# --- properties -------------------------------------------------------------------------------


@DETERMINISTIC
@given(
    user=USER_IDS,
    low=st.floats(0.0, 1.0),
    high=st.floats(0.0, 1.0),
    weights=st.sampled_from([(0.5, 0.5), (0.1, 0.9), (0.2, 0.3, 0.5), (0.25, 0.0, 0.75)]),
)
def test_ramps_are_monotone(user: str, low: float, high: float, weights: tuple[float, ...]) -> None:
    """Raising traffic keeps every included user on their variant; lowering only removes users."""
    low, high = min(low, high), max(low, high)
    before = assign(compiled(traffic=low, variants=weighted(*weights), control="v0"), user, None)
    after = assign(compiled(traffic=high, variants=weighted(*weights), control="v0"), user, None)
    if before.in_experiment:
        assert after == before
    if not after.in_experiment:
        assert not before.in_experiment


@DETERMINISTIC
@given(
    user=USER_IDS,
    traffic=st.floats(0.0, 1.0),
    attributes=st.none() | st.fixed_dictionaries({"country": st.sampled_from(["DE", "US"])}),
)
def test_assignment_is_deterministic(
    user: str, traffic: float, attributes: dict[str, Any] | None
) -> None:
    """Compiled twice from the same definition, with equal but distinct inputs: one answer."""
    fields: dict[str, Any] = {
        "traffic": traffic,
        "targeting": {"country": "DE"},
        "layer": "l",
        "layer_range": (0.1, 0.7),
    }
    first = assign(compiled(**fields), user, attributes)
    copied = None if attributes is None else dict(attributes)
    assert assign(compiled(**fields), "".join(list(user)), copied) == first


@DETERMINISTIC
@given(
    users=st.lists(USER_IDS, min_size=1, max_size=20),
    shares=st.lists(st.none() | st.floats(0.01, 1.0), min_size=2, max_size=6),
)
def test_experiments_of_one_layer_never_share_an_included_user(
    users: list[str], shares: list[float | None]
) -> None:
    ranges: list[tuple[float, float]] = []
    for share in shares:
        free = allocate_layer_range(ranges, share)
        if free is not None:
            ranges.append(free)
    layered = [
        compiled(key=f"exp-{i}", seed=f"exp-{i}", layer="shared", layer_range=r)
        for i, r in enumerate(ranges)
    ]
    for user in users:
        assert sum(assign(exp, user, None).in_experiment for exp in layered) <= 1


def test_a_full_layer_puts_every_user_in_exactly_one_experiment() -> None:
    ranges = [(0.0, 0.2), (0.2, 0.7), (0.7, 1.0)]
    layered = [
        compiled(key=f"exp-{i}", seed=f"exp-{i}", layer="shared", layer_range=r)
        for i, r in enumerate(ranges)
    ]
    counts = [0, 0, 0]
    for user in USERS[:20_000]:
        included = [i for i, exp in enumerate(layered) if assign(exp, user, None).in_experiment]
        assert len(included) == 1
        counts[included[0]] += 1
    expected = [20_000 * (hi - lo) for lo, hi in ranges]
    assert stats.chisquare(counts, expected).pvalue > 0.001


# --- statistics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights",
    [(0.5, 0.5), (0.1, 0.9), (0.2, 0.3, 0.5), (0.25, 0.0, 0.75), (0.1,) * 10],
)
def test_weights_are_honoured(weights: tuple[float, ...]) -> None:
    split = compiled(variants=weighted(*weights), control="v0")
    counts = dict.fromkeys((f"v{i}" for i, w in enumerate(weights) if w > 0), 0)
    for user in USERS:
        counts[assign(split, user, None).variant] += 1
    expected = [len(USERS) * w for w in weights if w > 0]
    assert stats.chisquare(list(counts.values()), expected).pvalue > 0.001


def test_traffic_is_honoured_and_the_split_of_included_users_is_unbiased() -> None:
    ramp = compiled(traffic=0.1, variants=weighted(0.2, 0.8), control="v0")
    answers = [assign(ramp, user, None) for user in USERS]
    included = [a.variant for a in answers if a.in_experiment]
    assert stats.binomtest(len(included), len(USERS), 0.1).pvalue > 0.001
    counts = [included.count("v0"), included.count("v1")]
    assert stats.chisquare(counts, [len(included) * 0.2, len(included) * 0.8]).pvalue > 0.001


def test_two_experiments_split_users_independently() -> None:
    first = compiled(key="first", seed="first", variants=weighted(0.5, 0.5), control="v0")
    second = compiled(key="second", seed="second", variants=weighted(0.3, 0.3, 0.4), control="v0")
    table = [[0, 0, 0], [0, 0, 0]]
    for user in USERS:
        row = int(assign(first, user, None).variant[1:])
        table[row][int(assign(second, user, None).variant[1:])] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001


# --- the test vectors -------------------------------------------------------------------------


def load_vectors() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(VECTORS.read_text(encoding="ascii"))
    return document


def test_there_are_enough_vectors_covering_every_reason() -> None:
    cases = load_vectors()["cases"]
    assert len(cases) >= 200
    assert {case["expected"]["reason"] for case in cases} == {r.value for r in Reason}


def test_the_hash_vectors_hold() -> None:
    for vector in load_vectors()["hashes"]:
        unit, salt = vector["unit"], vector["salt"]
        digest = hashlib.sha256(encode_text(salt) + b"\x1f" + encode_text(unit)).digest()
        assert digest.hex() == vector["sha256"]
        assert int.from_bytes(digest[:8], "big") >> 11 == vector["x"]
        assert bucket_of(unit, salt) == vector["bucket"] == vector["x"] * 2.0**-53


def vector_entries(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each vector experiment as an SDK document entry (defaults filled in)."""
    defaults = document["experiment_defaults"]
    return {name: defaults | config for name, config in document["experiments"].items()}


def test_the_assignment_vectors_hold_against_the_kernel() -> None:
    document = load_vectors()
    specs = {
        name: spec_of(read_experiment(entry)) for name, entry in vector_entries(document).items()
    }
    compiled_by_name = {name: compile_experiment(spec) for name, spec in specs.items()}
    for case in document["cases"]:
        spec = specs[case["experiment"]]
        user = case["user_id"]
        buckets = case["buckets"]
        assert bucket_of(user, traffic_salt(spec.seed)) == buckets["traffic"]
        assert bucket_of(user, variant_salt(spec.seed)) == buckets["variant"]
        if spec.layer is None:
            assert buckets["layer"] is None
        else:
            assert bucket_of(user, layer_salt(spec.layer)) == buckets["layer"]
        answer = assign(compiled_by_name[case["experiment"]], user, case["attributes"])
        assert {
            "variant": answer.variant,
            "in_experiment": answer.in_experiment,
            "reason": answer.reason.value,
        } == case["expected"], case


def test_the_service_assigns_the_vector_experiments_from_the_very_spec_the_kernel_reads() -> None:
    for name, entry in vector_entries(load_vectors()).items():
        stored = Experiment.model_validate({"name": name} | entry)
        assert assignment_spec(stored) == spec_of(read_experiment(entry)), name
