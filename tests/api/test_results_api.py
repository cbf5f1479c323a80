"""GET /api/v1/experiments/{key}/results from the real ingestion path.

Simulated users are assigned through /assign and their events sent through /events (one batch
twice, as a retry); every fixed-horizon figure of the answer is then checked against scipy and
statsmodels computed independently from the raw per-user samples, to 1e-6 relative.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from scipy import optimize, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from rollout.api.results import Results
from tests.api.conftest import Api, experiment_body

REL = 1e-6
ALPHA = 0.05
EXP = "summary-tone"

VARIANTS: list[dict[str, Any]] = [
    {"key": "control", "weight": 0.34},
    {"key": "friendly", "weight": 0.33},
    {"key": "concise", "weight": 0.33},
]
METRICS: list[dict[str, Any]] = [
    {"key": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase"},
    {"key": "session_s", "type": "mean", "role": "secondary", "direction": "increase"},
    {"key": "tokens", "type": "ratio", "role": "secondary", "direction": "decrease"},
    {"key": "latency_ms", "type": "mean", "role": "guardrail", "direction": "decrease",
     "max_regression": 0.10},
    {"key": "cost_usd", "type": "ratio", "role": "guardrail", "direction": "decrease",
     "max_regression": 0.05},
]
TYPES = {m["key"]: m["type"] for m in METRICS}


def strict_json(response: Any) -> dict[str, Any]:
    """The body parsed as strict JSON: NaN or Infinity anywhere fails the test."""

    def refuse(constant: str) -> None:
        pytest.fail(f"{constant} in the results document")

    document: dict[str, Any] = json.loads(response.data, parse_constant=refuse)
    return document


def start(editor: Api, release: Api, **overrides: Any) -> None:
    body = experiment_body(EXP, **overrides)
    assert editor.post("/api/v1/experiments", json=body).status_code == 201
    assert release.post(f"/api/v1/experiments/{EXP}/start", json={}).status_code == 200


def assign(sdk: Api, users: list[str]) -> dict[str, str]:
    variant_of = {}
    for user in users:
        answer = sdk.post("/api/v1/assign", json={"user_id": user, "experiments": [EXP]})
        variant_of[user] = answer.get_json()["assignments"][EXP]["variant"]
    return variant_of


def send(sdk: Api, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 1000):
        answer = sdk.post("/api/v1/events", json={"events": events[i : i + 1000]}).get_json()
        assert answer["rejected"] == [], answer["rejected"][:3]


def results(reader: Api, query: str = "") -> dict[str, Any]:
    """The document, checked to be strict JSON and to match its OpenAPI model."""
    response = reader.get(f"/api/v1/experiments/{EXP}/results{query}")
    assert response.status_code == 200, response.get_json()
    document = strict_json(response)
    Results.model_validate(document)
    return document


def simulate(variant_of: dict[str, str], seed: int) -> list[dict[str, Any]]:
    """Events with per-variant effects; some users have none of some metric."""
    rng = np.random.default_rng(seed)
    shift = {"control": 0.0, "friendly": 0.25, "concise": -0.15}
    events: list[dict[str, Any]] = []

    def add(user: str, metric: str, value: float, denominator: float | None = None) -> None:
        item = {"event_id": f"e{len(events)}", "user_id": user, "experiment": EXP,
                "metric": metric, "value": value}
        if denominator is not None:
            item["denominator"] = denominator
        events.append(item)

    for user, variant in variant_of.items():
        s = shift[variant]
        for _ in range(rng.poisson(1.2)):
            add(user, "thumbs_up", float(rng.random() < 0.3 + 0.3 * s))
        for _ in range(rng.poisson(2.0)):
            add(user, "session_s", float(rng.normal(60 * (1 + s), 25)))
        for _ in range(rng.poisson(1.5)):
            add(user, "tokens", float(rng.poisson(300 * (1 - s / 2))))
        for _ in range(rng.poisson(1.8)):
            add(user, "latency_ms", float(rng.lognormal(6.5 + s / 3, 0.4)))
        for _ in range(rng.poisson(1.5)):
            add(user, "cost_usd", float(rng.gamma(2.0, 0.001 * (1 + s))), float(rng.integers(1, 6)))
    order = rng.permutation(len(events))
    return [events[i] for i in order]


def per_user(
    events: list[dict[str, Any]], variant_of: dict[str, str]
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """metric -> variant -> (x, y) per user, exposed users without events as zeros.

    x is 0/1 for binary, the sum of values for mean and ratio; y the sum of denominators."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for e in events:
        s = sums[(e["metric"], e["user_id"])]
        s[0] += e["value"]
        s[1] += e.get("denominator", 1.0)
        s[2] = max(s[2], 1.0 if e["value"] > 0 else 0.0)
    samples: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for metric, kind in TYPES.items():
        samples[metric] = {}
        for variant in (v["key"] for v in VARIANTS):
            users = [u for u, v in variant_of.items() if v == variant]
            rows = [sums.get((metric, u), [0.0, 0.0, 0.0]) for u in users]
            x = np.array([r[2] if kind == "binary" else r[0] for r in rows])
            y = np.array([r[1] for r in rows])
            samples[metric][variant] = (x, y)
    return samples


def ratio_delta(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Ratio of sums and the delta-method variance of it (Deng et al. 2018), from raw pairs."""
    n = len(x)
    mx, my = x.mean(), y.mean()
    cov = np.cov(x, y, ddof=1)
    variance = (cov[0, 0] / my**2 - 2 * mx * cov[0, 1] / my**3 + mx**2 * cov[1, 1] / my**4) / n
    return x.sum() / y.sum(), float(variance)


def reference(kind: str, control: tuple[np.ndarray, np.ndarray],
              treatment: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """The fixed-horizon figures, from the raw samples with scipy/statsmodels (numpy for ratio)."""
    (xc, yc), (xt, yt) = control, treatment
    nc, nt = len(xc), len(xt)
    if kind == "binary":
        _, p_value = proportions_ztest([xt.sum(), xc.sum()], [nt, nc])
        ci = confint_proportions_2indep(xt.sum(), nt, xc.sum(), nc, method="wald",
                                        compare="diff", alpha=ALPHA)
        mc, mt = xc.mean(), xt.mean()
        vc, vt = mc * (1 - mc) / nc, mt * (1 - mt) / nt
        critical = stats.norm.ppf(1 - ALPHA / 2)
    elif kind == "mean":
        welch = stats.ttest_ind(xt, xc, equal_var=False)
        p_value = welch.pvalue
        ci = CompareMeans(DescrStatsW(xt), DescrStatsW(xc)).tconfint_diff(
            alpha=ALPHA, usevar="unequal"
        )
        mc, mt = xc.mean(), xt.mean()
        vc, vt = xc.var(ddof=1) / nc, xt.var(ddof=1) / nt
        critical = stats.t.ppf(1 - ALPHA / 2, welch.df)
    else:
        mc, vc = ratio_delta(xc, yc)
        mt, vt = ratio_delta(xt, yt)
        se = math.sqrt(vc + vt)
        critical = stats.norm.ppf(1 - ALPHA / 2)
        p_value = 2 * stats.norm.sf(abs(mt - mc) / se)
        ci = (mt - mc - critical * se, mt - mc + critical * se)
    lift = (mt - mc) / mc
    relative_se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    return {
        "diff": mt - mc,
        "ci": list(ci),
        "p_value": p_value,
        "relative_lift": lift,
        "relative_ci": [lift - critical * relative_se, lift + critical * relative_se],
    }


def arm_reference(kind: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if kind == "binary":
        return x.mean(), x.mean() * (1 - x.mean())
    if kind == "mean":
        return x.mean(), x.var(ddof=1)
    ratio, variance = ratio_delta(x, y)
    return ratio, variance * len(x)


def close(actual: Any, expected: Any) -> bool:
    return bool(actual == pytest.approx(expected, rel=REL, abs=1e-12))


def test_every_fixed_horizon_figure_equals_scipy_and_statsmodels_on_the_raw_samples(
    editor: Api, release: Api, sdk: Api
) -> None:
    start(editor, release, variants=VARIANTS, metrics=METRICS)
    variant_of = assign(sdk, [f"user-{i}" for i in range(900)])
    events = simulate(variant_of, seed=7)
    send(sdk, events)
    send(sdk, events[:1000])  # a retried batch: counted once
    samples = per_user(events, variant_of)
    document = results(editor)

    keys = [v["key"] for v in VARIANTS]
    users = [sum(1 for v in variant_of.values() if v == k) for k in keys]
    assert document["variants"] == {k: {"users": n} for k, n in zip(keys, users, strict=True)}
    srm = stats.chisquare(users, f_exp=np.array([v["weight"] for v in VARIANTS]) * sum(users))
    assert close(document["srm"]["p_value"], srm.pvalue)
    assert document["srm"]["ok"] == (srm.pvalue >= 0.001)

    family_p: list[float] = []
    family_adjusted: list[float] = []
    for entry, metric in zip(document["metrics"], METRICS, strict=True):
        kind = metric["type"]
        assert entry["metric"] == metric["key"]
        assert (entry["type"], entry["role"]) == (kind, metric["role"])
        for key in keys:
            x, y = samples[metric["key"]][key]
            mean, variance = arm_reference(kind, x, y)
            arm = entry["variants"][key]
            assert arm["users"] == len(x)
            assert close(arm["mean"], mean), (metric["key"], key)
            assert close(arm["variance"], variance), (metric["key"], key)
        for comparison in entry["comparisons"]:
            assert comparison["baseline"] == "control"
            expected = reference(kind, samples[metric["key"]]["control"],
                                 samples[metric["key"]][comparison["variant"]])
            for figure, value in expected.items():
                assert close(comparison[figure], value), (metric["key"], figure)
            assert comparison["reason"] is None
            if metric["role"] == "guardrail":
                assert comparison["adjusted_p_value"] == comparison["p_value"]
            else:
                family_p.append(expected["p_value"])
                family_adjusted.append(comparison["adjusted_p_value"])
    assert len(family_p) == 6
    assert close(family_adjusted, list(multipletests(family_p, alpha=ALPHA, method="holm")[1]))


def test_power_of_the_primary_metric_matches_statsmodels(
    editor: Api, release: Api, sdk: Api
) -> None:
    """Normal-approximation power; statsmodels also counts the far rejection tail, which moves
    the figures by less than 1e-4 relative at alpha 0.05 and power 0.8."""
    start(editor, release)
    variant_of = assign(sdk, [f"user-{i}" for i in range(200)])
    rng = np.random.default_rng(3)
    send(sdk, [{"event_id": f"e-{u}", "user_id": u, "experiment": EXP, "metric": "thumbs_up",
                "value": float(rng.random() < 0.3)} for u in variant_of])
    document = results(editor, "?effect=0.1&power=0.9")
    primary = document["metrics"][0]
    power = primary["power"]
    p = primary["variants"]["control"]["mean"]
    sd = math.sqrt(p * (1 - p))
    smallest = min(v["users"] for v in document["variants"].values())
    assert power["users_per_variant"] == smallest
    solver = NormalIndPower()
    mde = solver.solve_power(nobs1=smallest, alpha=ALPHA, power=0.9, ratio=1.0) * sd
    needed = solver.solve_power(effect_size=0.1 * p / sd, alpha=ALPHA, power=0.9, ratio=1.0)
    assert power["mde"] == pytest.approx(mde, rel=1e-4)
    assert power["relative_mde"] == pytest.approx(mde / p, rel=1e-4)
    assert power["fixed_users_per_variant_needed"] == math.ceil(needed)
    assert (power["effect"], power["power"], power["reason"]) == (0.1, 0.9, None)
    # What the controller waits for: the always-valid interval at sequential_alpha, by an
    # independent root of 0.1 p sqrt(n / 2) / sd = c(2 n) + z_0.9 (Robbins' normal mixture).
    level = document["sequential_alpha"]
    rho2 = (-float(special.lambertw(-level * level / math.e, k=-1).real) - 1) / 5000

    def boundary(n: float) -> float:
        k = 2 * n * rho2
        return math.sqrt(2 * (k + 1) / k * math.log(math.sqrt(k + 1) / level))

    sequential = optimize.brentq(
        lambda n: 0.1 * p * math.sqrt(n / 2) / sd - boundary(n) - stats.norm.ppf(0.9), 10, 1e8
    )
    assert power["users_per_variant_needed"] == math.ceil(sequential)
    assert 1.7 < power["users_per_variant_needed"] / power["fixed_users_per_variant_needed"] < 2.5
    assert all("power" not in m for m in document["metrics"][1:])


def test_sequential_figures_are_wider_than_fixed_ones_and_give_the_verdict(
    editor: Api, release: Api, sdk: Api
) -> None:
    start(editor, release, variants=VARIANTS, metrics=METRICS)
    variant_of = assign(sdk, [f"user-{i}" for i in range(600)])
    send(sdk, simulate(variant_of, seed=11))
    document = results(release)
    # K = 3 decision metrics... 1 primary and 2 guardrails, times 2 treatments.
    assert document["sequential_alpha"] == pytest.approx(ALPHA / 6)
    for entry in document["metrics"]:
        for c in entry["comparisons"]:
            low, high = c["sequential_ci"]
            assert low < c["ci"][0] and c["ci"][1] < high
            assert (low + high) / 2 == pytest.approx(c["diff"], rel=1e-9, abs=1e-12)
            rel_low, rel_high = c["sequential_relative_ci"]
            assert rel_low < c["relative_ci"][0] and c["relative_ci"][1] < rel_high
            assert 0 <= c["sequential_p_value"] <= 1
            excluded = low > 0 or high < 0
            assert (c["sequential_p_value"] < ALPHA) == excluded
            good = (low > 0) if entry["direction"] == "increase" else (high < 0)
            expected = "inconclusive" if not excluded else ("better" if good else "worse")
            assert c["verdict"] == expected


def test_a_strong_true_effect_is_declared_by_the_sequential_verdict(
    editor: Api, release: Api, sdk: Api
) -> None:
    start(editor, release)
    variant_of = assign(sdk, [f"user-{i}" for i in range(1200)])
    send(sdk, [{"event_id": f"e-{u}", "user_id": u, "experiment": EXP, "metric": "thumbs_up",
                "value": float(v == "friendly" or i % 10 == 0)}
               for i, (u, v) in enumerate(variant_of.items())])
    comparison = results(editor)["metrics"][0]["comparisons"][0]
    assert comparison["verdict"] == "better"
    assert comparison["sequential_p_value"] < ALPHA


def test_the_document_carries_the_controllers_decision(editor: Api, release: Api) -> None:
    start(editor, release)
    decision = results(release)["decision"]
    assert decision["action"] in {"advance", "hold", "rollback", "complete"}
    assert decision["reasons"] and all(isinstance(r, str) for r in decision["reasons"])


def test_an_experiment_without_users_answers_nulls_with_reasons(editor: Api, release: Api) -> None:
    start(editor, release)
    document = results(editor)
    assert document["variants"] == {"control": {"users": 0}, "friendly": {"users": 0}}
    assert document["srm"] == {
        "p_value": 1.0, "ok": True, "sequential_p_value": 1.0, "level": 0.01
    }
    for entry in document["metrics"]:
        for arm in entry["variants"].values():
            assert arm == {"users": 0, "mean": None, "variance": None,
                           "reason": "not_enough_users"}
        (comparison,) = entry["comparisons"]
        assert comparison["reason"] == "not_enough_users"
        assert comparison["verdict"] == "inconclusive"
        for figure in ("diff", "ci", "p_value", "adjusted_p_value", "relative_ci",
                       "sequential_ci", "sequential_relative_ci", "sequential_p_value"):
            assert comparison[figure] is None, figure
    power = document["metrics"][0]["power"]
    assert power["mde"] is None and power["reason"] == "not_enough_users"


def test_a_draft_experiment_has_results_and_the_controller_holds(editor: Api) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    document = results(editor)
    assert document["status"] == "draft"
    assert document["decision"]["action"] == "hold"


def test_zero_variance_and_all_successes_give_reasons_not_nan(
    editor: Api, release: Api, sdk: Api
) -> None:
    start(editor, release)
    variant_of = assign(sdk, [f"user-{i}" for i in range(40)])
    events = []
    for user in variant_of:
        for metric, value in (("thumbs_up", 1.0), ("latency_ms", 250.0), ("cost_usd", 0.5)):
            events.append({"event_id": f"{metric}-{user}", "user_id": user, "experiment": EXP,
                           "metric": metric, "value": value})
    send(sdk, events)
    document = results(editor)
    for entry, mean in zip(document["metrics"], (1.0, 250.0, 0.5), strict=True):
        for arm in entry["variants"].values():
            assert (arm["mean"], arm["variance"], arm["reason"]) == (mean, 0.0, None)
        (comparison,) = entry["comparisons"]
        assert comparison["diff"] == 0.0
        assert comparison["relative_lift"] == 0.0
        assert comparison["verdict"] == "inconclusive"
        if entry["type"] == "binary":
            # Agresti-Caffo's variance stands in for the all-successes arms' zero variance.
            assert comparison["reason"] is None and comparison["p_value"] == 1.0
            continue
        assert comparison["reason"] == "zero_variance"
        assert comparison["p_value"] is None and comparison["ci"] is None
    assert document["metrics"][0]["power"]["reason"] == "zero_variance"


def test_an_empty_variant_and_a_missing_denominator_give_reasons(
    editor: Api, release: Api, sdk: Api
) -> None:
    variants = [{"key": "control", "weight": 1.0}, {"key": "friendly", "weight": 0.0}]
    start(editor, release, variants=variants)
    variant_of = assign(sdk, [f"user-{i}" for i in range(10)])
    assert set(variant_of.values()) == {"control"}
    send(sdk, [{"event_id": f"e-{u}-{m}", "user_id": u, "experiment": EXP, "metric": m,
                "value": float(i)} for i, u in enumerate(variant_of)
               for m in ("latency_ms", "thumbs_up")])
    document = results(editor)
    assert document["srm"] == {
        "p_value": 1.0, "ok": True, "sequential_p_value": 1.0, "level": 0.01
    }
    power = document["metrics"][0]["power"]  # a variant of weight 0 does not limit the sample
    assert power["users_per_variant"] == 10 and power["mde"] is not None
    latency, cost = document["metrics"][1], document["metrics"][2]
    assert latency["variants"]["control"]["mean"] == pytest.approx(4.5)
    assert latency["variants"]["friendly"] == {"users": 0, "mean": None, "variance": None,
                                               "reason": "not_enough_users"}
    assert latency["comparisons"][0]["reason"] == "not_enough_users"
    assert cost["variants"]["control"] == {"users": 10, "mean": None, "variance": None,
                                           "reason": "no_denominator"}


def test_a_zero_control_mean_has_no_relative_figures(editor: Api, release: Api, sdk: Api) -> None:
    start(editor, release)
    variant_of = assign(sdk, [f"user-{i}" for i in range(60)])
    send(sdk, [{"event_id": f"e-{u}", "user_id": u, "experiment": EXP, "metric": "latency_ms",
                "value": 0.0 if v == "control" else float(100 + i)}
               for i, (u, v) in enumerate(variant_of.items())])
    comparison = results(editor)["metrics"][1]["comparisons"][0]
    assert comparison["diff"] > 0 and comparison["p_value"] is not None
    assert comparison["relative_lift"] is None and comparison["relative_ci"] is None
    assert comparison["reason"] == "zero_control_mean"


def test_results_need_an_editor_or_release_key(sdk: Api, editor: Api) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    assert sdk.get(f"/api/v1/experiments/{EXP}/results").status_code == 403


def test_results_of_an_unknown_experiment_are_404(editor: Api) -> None:
    response = editor.get("/api/v1/experiments/nope/results")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["?effect=0", "?effect=-1", "?power=1", "?power=x", "?other=1"])
def test_bad_power_parameters_are_422(editor: Api, query: str) -> None:
    assert editor.post("/api/v1/experiments", json=experiment_body(EXP)).status_code == 201
    assert editor.get(f"/api/v1/experiments/{EXP}/results{query}").status_code == 422
