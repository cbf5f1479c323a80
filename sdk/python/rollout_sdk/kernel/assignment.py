"""Which variant a user gets: a pure function of the experiment's configuration and the user.

No state is stored or read, so every replica and every SDK computes the same answer from the same
configuration (docs/hashing.md). A status other than running decides alone (control, or the
winner once concluded, outside the experiment). For a running experiment, in turn:

1. targeting must match the attributes            (else control, reason "targeting");
2. with a `layer`, bucket_of(user, "layer:<layer>") must lie in `layer_range` [lo, hi)
                                                    (else control, reason "layer");
3. bucket_of(user, "<seed>:traffic") < `traffic`  (else control, reason "traffic");
4. the variant whose cumulative weight range [c_i, c_i+1) holds bucket_of(user, "<seed>:variant").

The three points are independent (different salts) and none depends on `traffic`, which only
moves the threshold of step 3: raising it adds users and never moves one to another variant,
lowering it only takes users out (monotone ramps). Every experiment of a layer reads the same
layer point, so experiments with disjoint ranges never share a user.

Assignment reads an `ExperimentSpec`, the few fields of one experiment of the SDK document that
decide (`spec_of` builds it from that document's entry), so the service and every SDK compile
the very same thing: the service builds its entries with the SDK document's own builder.

Compilation does all the work that does not depend on the user (boundaries, targeting closures,
hash states already fed their salt, even the `Assignment` values themselves), so `assign` costs
little more than its two or three SHA-256 calls.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from rollout_sdk.kernel.document import CONCLUDED, PAUSED, ROLLED_BACK, RUNNING, SdkExperiment
from rollout_sdk.kernel.hashing import (
    encode_text,
    layer_salt,
    salted_bucket,
    traffic_salt,
    variant_salt,
)
from rollout_sdk.kernel.targeting import Predicate, compile_targeting

_NO_ATTRIBUTES: Final[Mapping[str, Any]] = {}


class Reason(StrEnum):
    """Why a user got the variant they got; a `str`, so it serialises as its value."""

    ASSIGNED = "assigned"
    NOT_RUNNING = "not_running"
    PAUSED = "paused"
    ROLLED_BACK = "rolled_back"
    CONCLUDED = "concluded"
    TARGETING = "targeting"
    LAYER = "layer"
    TRAFFIC = "traffic"


@dataclass(frozen=True, slots=True)
class Assignment:
    """The answer for one user and experiment. Only `in_experiment` answers are exposures."""

    experiment: str
    variant: str
    in_experiment: bool
    reason: Reason


@dataclass(frozen=True, slots=True)
class VariantSpec:
    key: str
    weight: float


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """What decides a user's variant in one experiment: `spec_of` of its SDK document entry.

    `status` is one of `kernel.document.STATUSES`: anything but running decides alone.
    `layer_range` is [lo, hi) of the layer, None when the experiment has none yet.
    """

    key: str
    seed: str
    status: str
    control: str
    traffic: float
    targeting: Mapping[str, Any] | None
    layer: str | None
    layer_range: tuple[float, float] | None
    winner: str | None
    variants: tuple[VariantSpec, ...]


def spec_of(entry: SdkExperiment) -> ExperimentSpec:
    """The spec of one experiment of the SDK document (as `kernel.document.read_experiment`
    checks it, or as the service's builder makes it)."""
    layer_range = entry["layer_range"]
    return ExperimentSpec(
        key=entry["key"],
        seed=entry["seed"] or entry["key"],
        status=entry["status"],
        control=entry["control"],
        traffic=entry["traffic"],
        targeting=entry["targeting"],
        layer=entry["layer"],
        layer_range=None if layer_range is None else (layer_range[0], layer_range[1]),
        winner=entry["winner"],
        variants=tuple(VariantSpec(v["key"], v["weight"]) for v in entry["variants"]),
    )


@dataclass(frozen=True, slots=True)
class CompiledExperiment:
    """Everything `assign` needs, precomputed from an `ExperimentSpec` by `compile_experiment`.

    `fixed` is the answer for every user when the status alone decides (anything but running).
    The `*_bucket` functions are `kernel.hashing.salted_bucket` of the three salts.
    `upper_bounds` are the cumulative weights closing each positive-weight variant's range except
    the last, which takes everything above (so rounding below 1 can never leave a gap); `assigned`
    holds the answer for each of those variants, in the same order. `assign` returns one of these
    very `Assignment` objects (`fixed`, `assigned`, `by_*`), never a new one, so a caller may key
    per-answer data by identity.
    """

    key: str
    status: str
    traffic: float
    fixed: Assignment | None
    targeting: Predicate | None
    layer_bucket: Callable[[bytes], float] | None
    layer_lo: float
    layer_hi: float
    traffic_bucket: Callable[[bytes], float]
    variant_bucket: Callable[[bytes], float]
    upper_bounds: tuple[float, ...]
    assigned: tuple[Assignment, ...]
    by_targeting: Assignment
    by_layer: Assignment
    by_traffic: Assignment


def compile_experiment(exp: ExperimentSpec) -> CompiledExperiment:
    """Precompute `exp` for `assign`; raise ValueError if a concluded winner is not a variant."""
    key = exp.key
    seed = exp.seed
    control = exp.control
    fixed = _fixed_answer(exp)

    positive = [v for v in exp.variants if v.weight > 0.0]
    # Plain left-to-right double addition, not fsum: it is what every language does by default,
    # and SDKs must land on the very same boundaries (docs/hashing.md).
    bounds: list[float] = []
    cumulative = 0.0
    for variant in exp.variants:
        cumulative += variant.weight
        if variant.weight > 0.0:
            bounds.append(cumulative)

    layer_bucket = None if exp.layer is None else salted_bucket(layer_salt(exp.layer))
    if exp.layer is None:
        lo, hi = 0.0, 1.0
    elif exp.layer_range is None:
        # A layered experiment without its share of the layer cannot prove it is disjoint from
        # its neighbours, so it includes nobody rather than risk sharing users.
        lo, hi = 0.0, 0.0
    else:
        lo, hi = exp.layer_range

    return CompiledExperiment(
        key=key,
        status=exp.status,
        traffic=exp.traffic,
        fixed=fixed,
        targeting=None if exp.targeting is None else compile_targeting(exp.targeting),
        layer_bucket=layer_bucket,
        layer_lo=lo,
        layer_hi=hi,
        traffic_bucket=salted_bucket(traffic_salt(seed)),
        variant_bucket=salted_bucket(variant_salt(seed)),
        upper_bounds=tuple(bounds[:-1]),
        assigned=tuple(Assignment(key, v.key, True, Reason.ASSIGNED) for v in positive),
        by_targeting=Assignment(key, control, False, Reason.TARGETING),
        by_layer=Assignment(key, control, False, Reason.LAYER),
        by_traffic=Assignment(key, control, False, Reason.TRAFFIC),
    )


_FIXED_REASONS: Final[Mapping[str, Reason]] = {
    PAUSED: Reason.PAUSED,
    ROLLED_BACK: Reason.ROLLED_BACK,
}


def _fixed_answer(exp: ExperimentSpec) -> Assignment | None:
    """The one answer for everybody when the experiment is not running, else None."""
    status = exp.status
    if status == RUNNING:
        return None
    if status == CONCLUDED:
        winner = exp.winner or exp.control
        if winner not in {v.key for v in exp.variants}:
            raise ValueError(
                f"experiment {exp.key!r}: winner {winner!r} is not one of its variants"
            )
        return Assignment(exp.key, winner, False, Reason.CONCLUDED)
    return Assignment(exp.key, exp.control, False, _FIXED_REASONS.get(status, Reason.NOT_RUNNING))


def assign(
    compiled: CompiledExperiment, user_id: str, attributes: Mapping[str, Any] | None
) -> Assignment:
    """The variant of `user_id` in `compiled`; the module docstring gives the rules."""
    if compiled.fixed is not None:
        return compiled.fixed
    if compiled.targeting is not None and not compiled.targeting(
        _NO_ATTRIBUTES if attributes is None else attributes
    ):
        return compiled.by_targeting
    unit = encode_text(user_id)
    if compiled.layer_bucket is not None and not (
        compiled.layer_lo <= compiled.layer_bucket(unit) < compiled.layer_hi
    ):
        return compiled.by_layer
    if not compiled.traffic_bucket(unit) < compiled.traffic:
        return compiled.by_traffic
    point = compiled.variant_bucket(unit)
    return compiled.assigned[bisect_right(compiled.upper_bounds, point)]
