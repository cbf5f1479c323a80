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


def guardrail_verdict(comparison: Mapping[str, Any], metric: Mapping[str, Any]) -> str:
    """A guardrail's verdict in words: the service's own `verdict_detail` when it sends one, else
    the contract's rule applied to the always-valid relative interval: `breached` when it lies
    wholly beyond `max_regression` on the harmful side, `within tolerance` when it lies wholly
    short of it, `inconclusive` while it straddles it."""
    detail = comparison.get("verdict_detail")
    if isinstance(detail, str) and detail:
        return detail
    bounds: Sequence[float | None] | None = comparison.get("sequential_relative_ci")
    if not bounds or bounds[0] is None or bounds[1] is None:
        return str(comparison.get("verdict") or "-")
    tolerated = float(metric.get("max_regression") or 0.0)
    # The harmful side of a change: up for a metric that should decrease, down otherwise.
    if metric.get("direction") == "decrease":
        nearest, farthest = bounds[0], bounds[1]
    else:
        nearest, farthest = -bounds[1], -bounds[0]
    if nearest > tolerated:
        return BREACHED
    if farthest < tolerated:
        return WITHIN
    return "inconclusive"


def power_line(figures: Mapping[str, Any]) -> str:
    """What the experiment can detect now and what `effect` needs, at the stated power."""
    at = f"at {percent(figures.get('power'))} power, alpha {number(figures.get('alpha'))}"
    now = (
        f"detects {percent(figures['relative_mde'])} now"
        if figures.get("relative_mde") is not None
        else f"no detectable effect yet ({figures.get('reason') or 'not enough data'})"
    )
    needed = figures.get("users_per_variant_needed")
    effect = percent(figures.get("effect"), True)
    wants = f"; {effect} needs {needed} users a variant" if needed is not None else ""
    return f"  power  {now} with {figures.get('users_per_variant')} users a variant{wants} ({at})"


def render_results(r: Mapping[str, Any], style: Style) -> str:
    """The results document as text within 80 columns: one block per metric, one row per arm."""
    srm = r.get("srm") or {}
    users = "  ".join(f"{k} {v['users']}" for k, v in (r.get("variants") or {}).items())
    srm_text = f"SRM p={number(srm.get('p_value'))} " + (
        style("ok", "green") if srm.get("ok", True) else style("MISMATCH", "red")
    )
    lines = [
        f"{style(str(r['experiment']), 'bold')}  {state_text(r, style)}",
        clip(f"users  {users}", WIDTH - len(srm_text) - 3) + "   " + srm_text,
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
        if metric.get("power"):
            lines.append(textwrap.fill(power_line(metric["power"]), WIDTH,
                                       subsequent_indent="         "))
    return "\n".join(lines)


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
