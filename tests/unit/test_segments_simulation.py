"""The per-segment guardrail rule by simulation, on the real analysis and the real `decide`.

Seeded experiments are looked at every `LOOK_USERS` users an arm up to `MAX_USERS`; at each look
the per-variant and per-segment running sums (built with numpy from per-user values, as the
store would keep them) go through `experiments.analysis.results` and `decide`.

- The audit's segment scenario: latency doubles in the treatment for the 10% of users on one
  model and nowhere else (the whole moves by +10%, the tolerance). The per-segment rule rolls
  back every experiment; the overall rule never fires.
- A/A with three dimensions (13 segments) under continuous monitoring, a latency and a 2% error
  guardrail and a binary primary: the share of experiments ever rolled back or shipped stays at
  or below alpha (the union bound of docs/statistics.md).

Measured with these seeds (docs/statistics.md): the segment regression caught in 40 of 40
experiments (first at 1,000 users an arm in the median, 1,500 at most), the overall rule in 0 of
40; A/A: 1 of 300 rolled back (0.33%, by the whole's primary rule), none by a segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.analysis import results as analyse
from experiments.decision import decide
from experiments.model import Experiment
from experiments.stats.moments import Moments
from experiments.stats.sufficient import SufficientStats

ALPHA = 0.05
LOOK_USERS = 500
MAX_USERS = 10_000
NOW = 1_750_000_000.0
LATENCY_MU, LATENCY_SIGMA = math.log(800.0) - 0.18, 0.6
P_THUMBS = 0.2
P_ERROR = 0.02

DIMENSIONS = [
    ("model", ["gpt-4o", "claude", "llama"], [0.6, 0.1, 0.25]),
    ("plan", ["free", "pro"], [0.7, 0.25]),
    ("country", ["US", "DE", "FR", "IN", "BR"], [0.3, 0.15, 0.1, 0.2, 0.1]),
]
"""Attribute, declared values and the share of users of each (the rest are `other`)."""


def experiment(dimensions: int) -> Experiment:
    return Experiment.model_validate(
        {
            "key": "sim",
            "name": "simulated",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "thumbs_up", "type": "binary", "role": "primary"},
                {
                    "key": "latency_ms",
                    "type": "mean",
                    "role": "guardrail",
                    "direction": "decrease",
                    "max_regression": 0.10,
                },
                {"key": "llm_error", "type": "binary", "role": "guardrail",
                 "direction": "decrease"},
            ],
            "segments": [
                {"attribute": attribute, "values": values}
                for attribute, values, _ in DIMENSIONS[:dimensions]
            ],
            "alpha": ALPHA,
            "status": "running",
            "started_at": NOW,
        }
    )


@dataclass(frozen=True)
class Arm:
    """One arm's users: their segment in each dimension and their metric values."""

    cells: list[np.ndarray]
    thumbs: np.ndarray
    latency: np.ndarray
    errors: np.ndarray


def draw_arm(rng: np.random.Generator, dimensions: int, slower_model: str | None) -> Arm:
    cells = []
    for _, values, shares in DIMENSIONS[:dimensions]:
        cells.append(rng.choice(len(values) + 1, MAX_USERS, p=[*shares, 1 - sum(shares)]))
    latency = rng.lognormal(LATENCY_MU, LATENCY_SIGMA, MAX_USERS)
    if slower_model is not None:
        latency[cells[0] == DIMENSIONS[0][1].index(slower_model)] *= 2
    thumbs = (rng.random(MAX_USERS) < P_THUMBS).astype(float)
    errors = (rng.random(MAX_USERS) < P_ERROR).astype(float)
    return Arm(cells, thumbs, latency, errors)


def sums(arms: list[Arm], n: int, mask: list[np.ndarray] | None = None) -> SufficientStats:
    """The running sums of the first `n` users of each arm (of those in `mask`, per arm)."""
    users, thumbs, latency, errors = [], [], [], []
    for k, arm in enumerate(arms):
        keep = slice(0, n) if mask is None else mask[k][:n]
        t, y, e = arm.thumbs[:n][keep], arm.latency[:n][keep], arm.errors[:n][keep]
        users.append(len(y))
        thumbs.append(Moments(len(y), float(t.sum()), float(t.sum())))
        latency.append(Moments(len(y), float(y.sum()), float((y * y).sum())))
        errors.append(Moments(len(y), float(e.sum()), float(e.sum())))
    metrics = {"thumbs_up": tuple(thumbs), "latency_ms": tuple(latency), "llm_error": tuple(errors)}
    return SufficientStats(tuple(users), metrics)


def stats_at(arms: list[Arm], n: int, dimensions: int) -> SufficientStats:
    whole = sums(arms, n)
    segments = tuple(
        tuple(
            sums(arms, n, [arm.cells[d] == cell for arm in arms])
            for cell in range(len(DIMENSIONS[d][1]) + 1)
        )
        for d in range(dimensions)
    )
    return SufficientStats(whole.users, whole.metrics, segments=segments)


def monitor(seed: int, dimensions: int, slower_model: str | None) -> dict[str, Any]:
    """Look at one experiment until MAX_USERS; which rules fired, and first at how many users."""
    rng = np.random.default_rng(seed)
    definition = experiment(dimensions)
    arms = [draw_arm(rng, dimensions, None), draw_arm(rng, dimensions, slower_model)]
    fired: dict[str, Any] = {"codes": set(), "first_rollback": None}
    for n in range(LOOK_USERS, MAX_USERS + 1, LOOK_USERS):
        decision = decide(definition, analyse(definition, stats_at(arms, n, dimensions), NOW), NOW)
        fired["codes"] |= set(decision.codes)
        if decision.action == "rollback" and fired["first_rollback"] is None:
            fired["first_rollback"] = n
        if decision.effect == "conclude":
            fired["codes"].add("shipped")
    return fired


def test_latency_doubled_in_a_tenth_of_the_users_is_caught_by_the_segment_rule_only() -> None:
    runs = [monitor(1500 + i, 1, "claude") for i in range(40)]
    by_segment = [r for r in runs if "segment_guardrail_breach" in r["codes"]]
    overall = [r for r in runs if "guardrail_breach" in r["codes"]]
    assert len(by_segment) == len(runs)
    assert overall == []
    first = sorted(r["first_rollback"] for r in by_segment)
    assert first[len(first) // 2] <= 2000


def test_aa_experiments_with_thirteen_segments_stay_below_alpha() -> None:
    runs = [monitor(90_000 + i, 3, None) for i in range(300)]
    false_alarms = [r for r in runs if r["first_rollback"] is not None or "shipped" in r["codes"]]
    assert len(false_alarms) / len(runs) <= ALPHA
