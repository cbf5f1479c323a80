"""`rollout results KEY`: the results document as text, one block per metric, one row per arm."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from rollout.cli.experiments import decision_text, state_text
from rollout.cli.inputs import service
from rollout.cli.output import (
    WIDTH,
    Style,
    clip,
    emit,
    interval,
    number,
    percent,
    share,
    styled_table,
    table,
)
from rollout.cli.parsing import add_command
from rollout.http import api_path

WITHIN = "within tolerance"
BREACHED = "breached"
VERDICT_COLOURS = {
    "better": "green",
    "worse": "red",
    "inconclusive": "yellow",
    WITHIN: "green",
    BREACHED: "red",
}


def judged_interval(
    comparison: Mapping[str, Any], metric: Mapping[str, Any]
) -> Sequence[float | None] | None:
    """The always-valid relative interval a guardrail is read on: of its quantile when it has
    one (the controller judges a quantile guardrail on it), else of its mean."""
    section = metric.get("quantile")
    if section:
        for judged in section.get("comparisons") or []:
            if judged.get("variant") == comparison.get("variant"):
                found: Sequence[float | None] | None = judged.get("sequential_relative_ci")
                return found
        return None
    bounds: Sequence[float | None] | None = comparison.get("sequential_relative_ci")
    return bounds


def guardrail_verdict(comparison: Mapping[str, Any], metric: Mapping[str, Any]) -> str:
    """A guardrail's verdict in words: the service's own `verdict_detail` when it sends one;
    `breached` when the document's `breached` says so (the controller's own one-sided test,
    which holds where no relative interval exists: a control without events, constant arms);
    else `within tolerance` when the always-valid relative interval (of the quantile, for a
    quantile guardrail) lies wholly short of `max_regression` on the harmful side,
    `inconclusive` while it may still reach it or does not exist yet."""
    detail = comparison.get("verdict_detail")
    if isinstance(detail, str) and detail:
        return detail.replace("_", " ")  # the API's `within_tolerance` reads `within tolerance`
    if comparison.get("breached"):
        return BREACHED
    bounds = judged_interval(comparison, metric)
    if not bounds:
        return "inconclusive"
    tolerated = float(metric.get("max_regression") or 0.0)
    # The harmful end: up for a metric that should decrease, down otherwise; null is unbounded.
    if metric.get("direction") == "decrease":
        harmful = bounds[1]
    else:
        harmful = None if bounds[0] is None else -bounds[0]
    if harmful is not None and harmful < tolerated:
        return WITHIN
    return "inconclusive"


def power_line(figures: Mapping[str, Any]) -> str:
    """What the experiment can detect now and how many users `effect` needs a variant: the
    always-valid figure the controller waits for, beside the fixed-horizon one of one look."""
    at = f"at {percent(figures.get('power'))} power, alpha {number(figures.get('alpha'))}"
    now = (
        f"detects {percent(figures['relative_mde'])} now"
        if figures.get("relative_mde") is not None
        else f"no detectable effect yet ({figures.get('reason') or 'not enough data'})"
    )
    needed = figures.get("users_per_variant_needed")
    fixed = figures.get("fixed_users_per_variant_needed")
    effect = percent(figures.get("effect"), True)
    wants = ""
    if needed is not None:
        wants = f"; {effect} needs {needed} users a variant (always-valid)"
        if fixed is not None:
            wants += f", {fixed} fixed-horizon"
    return f"  power  {now} with {figures.get('users_per_variant')} users a variant{wants} ({at})"


def srm_line(srm: Mapping[str, Any], style: Style) -> str:
    """The sample-ratio check: the chi-square p for reading, and the sequential test (Lindon
    and Malek) at its level, which decides `ok` and the pause."""
    verdict = style("ok", "green") if srm.get("ok", True) else style("MISMATCH", "red")
    sequential = ""
    if srm.get("sequential_p_value") is not None:
        sequential = (
            f"  sequential p={number(srm['sequential_p_value'])}"
            f" at level {number(srm.get('level'))}"
        )
    return f"SRM  chi-square p={number(srm.get('p_value'))}{sequential}  {verdict}"


def bound(value: float | None, relative: bool) -> str:
    """One end of an interval; null is an end not bounded yet."""
    if value is None:
        return "inf"
    return percent(value, True) if relative else number(value)


def open_interval(bounds: Sequence[float | None] | None, relative: bool = False) -> str:
    """An interval whose ends may be unbounded (null), as the quantile figures' are."""
    if not bounds:
        return "-"
    low = "-inf" if bounds[0] is None else bound(bounds[0], relative)
    return f"[{low}, {bound(bounds[1], relative)}]"


def quantile_lines(metric: Mapping[str, Any], style: Style) -> list[str]:
    """A quantile metric's block: per variant its quantile (e.g. p95) with the fixed-horizon
    and always-valid intervals, per treatment the relative change of the quantiles, its
    always-valid interval and, for a guardrail, whether it is breached."""
    section = metric["quantile"]
    name = f"p{round(float(section['q']) * 100)}"
    rows = [(f"  {name} of", "value", "events", "95% CI", "always-valid", "")]
    for variant, arm in (section.get("variants") or {}).items():
        rows.append((f"  {variant}", number(arm.get("estimate")), str(arm.get("events", "-")),
                     open_interval(arm.get("ci")), open_interval(arm.get("sequential_ci")), ""))
    lines = [table(rows, [12, 9, 7, 19, 19])]
    guardrail = metric["role"] == "guardrail"
    for judged in section.get("comparisons") or []:
        change = percent(judged.get("relative_change"), True, decimals_below=100.0)
        text = (f"  {name} {judged['variant']} vs {judged['baseline']}  {change}"
                f"  always-valid {open_interval(judged.get('sequential_relative_ci'), True)}")
        if guardrail:
            verdict = guardrail_verdict(judged, metric)
            coloured = style(verdict, VERDICT_COLOURS.get(verdict, "dim"))
            text = f"{clip(text, WIDTH - len(verdict) - 2)}  {coloured}"
        lines.append(text)
    return lines


def render_results(r: Mapping[str, Any], style: Style) -> str:
    """The results document as text within 80 columns: one block per metric, one row per arm."""
    users = "  ".join(f"{k} {v['users']}" for k, v in (r.get("variants") or {}).items())
    lines = [
        f"{style(str(r['experiment']), 'bold')}  {state_text(r, style)}",
        clip(f"users  {users}", WIDTH),
        srm_line(r.get("srm") or {}, style),
    ]
    decision = r.get("decision") or {}
    if decision:
        lines.append(f"decision  {decision_text(decision, style)}")
        lines += [
            textwrap.fill(reason, WIDTH, initial_indent="  - ", subsequent_indent="    ")
            for reason in decision.get("reasons") or []
        ]
    widths = [12, 9, 7, 15, 15]
    for metric in r.get("metrics") or []:
        guardrail = metric["role"] == "guardrail"
        kind = f"{metric['type']}, {metric['role']}, {metric['direction']}"
        if guardrail:
            kind += f", max {percent(metric.get('max_regression'))}"
        lines += ["", f"{style(metric['metric'], 'bold')}  ({kind})"]
        rows = [("  variant", "mean", "lift", "95% CI", "always-valid", "verdict")]
        as_share = metric["type"] == "binary"
        arms = metric.get("variants") or {}
        compared = {c["variant"]: c for c in metric.get("comparisons") or []}
        baselines = {c["baseline"] for c in compared.values()}
        for name, arm in arms.items():
            mean = share(arm.get("mean")) if as_share else number(arm.get("mean"))
            c = compared.get(name)
            if c is None:
                note = "baseline" if name in baselines or not compared else ""
                rows.append((f"  {name}", mean, "", "", "", style(note, "dim") if note else ""))
                continue
            verdict = guardrail_verdict(c, metric) if guardrail else str(c.get("verdict") or "-")
            rows.append(
                (
                    f"  {name}",
                    mean,
                    percent(c.get("relative_lift"), True, decimals_below=100.0),
                    interval(c.get("relative_ci")),
                    interval(c.get("sequential_relative_ci")),
                    style(verdict, VERDICT_COLOURS.get(verdict, "dim")),
                )
            )
        lines.append(styled_table(rows, widths))
        lines += adjusted_lines(metric)
        if metric.get("quantile"):
            lines += quantile_lines(metric, style)
        if metric.get("power"):
            lines.append(textwrap.fill(power_line(metric["power"]), WIDTH,
                                       subsequent_indent="         "))
    for dimension in r.get("segments") or []:
        lines += ["", *segment_lines(dimension, style)]
    return "\n".join(lines)


def adjusted_lines(metric: Mapping[str, Any]) -> list[str]:
    """Each comparison's CUPED figures (a metric with a covariate), beside the unadjusted row."""
    lines = []
    for c in metric.get("comparisons") or []:
        adjusted = c.get("adjusted")
        if not adjusted:
            continue
        head = f"  CUPED ({adjusted['covariate']}) {c['variant']}"
        if adjusted.get("reason") == "ratio_not_adjusted":
            lines.append(f"{head}: a ratio metric is not adjusted")
            continue
        reduction = adjusted.get("variance_reduction")
        lines.append(clip(
            f"{head}  {percent(adjusted.get('relative_lift'), True, decimals_below=100.0)}"
            f"  95% CI {interval(adjusted.get('relative_ci'))}"
            f"  variance {percent(None if reduction is None else -reduction, True)}",
            WIDTH,
        ))
    return lines


def segment_lines(dimension: Mapping[str, Any], style: Style) -> list[str]:
    """One dimension's segments: per segment, treatment and primary or guardrail metric, the
    relative lift, its always-valid interval at the segment's level and the verdict (a
    guardrail's is the per-segment rule's). `--json` has every metric's figures."""
    lines = [
        f"{style('segments by ' + str(dimension['attribute']), 'bold')}"
        f"  (each at always-valid level {number(dimension.get('sequential_alpha'))})"
    ]
    rows = [("  segment", "metric", "users", "lift", "always-valid", "verdict")]
    for segment in dimension.get("segments") or []:
        users = "/".join(str(v["users"]) for v in (segment.get("variants") or {}).values())
        for metric in segment.get("metrics") or []:
            if metric["role"] not in ("primary", "guardrail"):
                continue
            for c in metric.get("comparisons") or []:
                verdict = (
                    guardrail_verdict(c, metric)
                    if metric["role"] == "guardrail"
                    else str(c.get("verdict") or "-")
                )
                rows.append((
                    f"  {segment['value']}",
                    f"{metric['metric']} {c['variant']}",
                    users,
                    percent(c.get("relative_lift"), True, decimals_below=100.0),
                    interval(c.get("sequential_relative_ci")),
                    style(verdict, VERDICT_COLOURS.get(verdict, "dim")),
                ))
    lines.append(styled_table(rows, [10, 16, 10, 7, 16]))
    return lines


def cmd_results(args: argparse.Namespace) -> int:
    results = service(args).get(
        api_path("experiments", args.experiment, "results"), effect=args.effect
    )
    emit(args, results, lambda: render_results(results, Style.for_stdout()))
    return 0


def add_commands(sub: Any) -> None:
    results = add_command(sub, "results", cmd_results,
                          "results: each comparison's lift, intervals and verdict")
    results.add_argument("experiment", metavar="KEY")
    results.add_argument("--effect", type=float,
                         help="the relative effect the power figures size for (0.05: +5%%)")
