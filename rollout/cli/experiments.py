"""`rollout experiments ...`: define experiments (editor) and operate them (release).

The CLI is a client of the service's HTTP API: what it reads (experiments, decisions, results)
is the JSON the API answered, so it reads JSON, not the domain's typed values
(experiments/results.py), and `--json` prints that answer as it came.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from rollout.apply.spec import SpecError, experiment_fields
from rollout.cli.errors import USAGE, CliError
from rollout.cli.inputs import load_document, reason, service
from rollout.cli.output import WIDTH, Style, clip, compact, emit, percent, table, when
from rollout.cli.parsing import add_command
from rollout.http import api_path

STATUSES = ("draft", "running", "paused", "concluded", "rolled_back")
NO_TRAFFIC = frozenset({"draft", "rolled_back", "concluded"})
"""States in which no traffic share is in force: nobody is in the experiment yet (draft), or
everyone gets one variant, untracked (control after a rollback, the winner once concluded)."""


def traffic_in_force(experiment: Mapping[str, Any]) -> float | None:
    """The share of eligible users in the experiment now: a running rollout's stage decides (the
    contract); None when the state puts nobody in it."""
    if experiment.get("status") in NO_TRAFFIC:
        return None
    rollout, stage = experiment.get("rollout"), experiment.get("stage")
    if rollout and stage is not None and stage < len(rollout.get("stages") or []):
        return float(rollout["stages"][stage]["traffic"])
    return float(experiment.get("traffic", 0.0))


def state_text(experiment: Mapping[str, Any], style: Style) -> str:
    """`running, stage 0, traffic 10%`, `concluded, winner friendly`."""
    colours = {"running": "green", "paused": "yellow", "rolled_back": "red", "concluded": "cyan"}
    status = str(experiment["status"])
    parts = [style(status, colours.get(status, "dim"))]
    if experiment.get("stage") is not None:
        parts.append(f"stage {experiment['stage']}")
    traffic = traffic_in_force(experiment)
    if traffic is not None:
        parts.append(f"traffic {percent(traffic)}")
    if experiment.get("winner"):
        parts.append(f"winner {experiment['winner']}")
    if experiment.get("archived_at") is not None:
        parts.append(style("archived", "dim"))
    return ", ".join(parts)


def decision_text(decision: Mapping[str, Any], style: Style) -> str:
    colours = {"advance": "green", "complete": "green", "hold": "yellow", "rollback": "red"}
    action = str(decision.get("action", "?"))
    return style(action, colours.get(action, "bold"))


def cmd_experiments_list(args: argparse.Namespace) -> int:
    found = service(args).pages(
        "/api/v1/experiments", "experiments", status=args.status, owner=args.owner,
        layer=args.layer, archived="true" if args.archived else None,
    )

    def text() -> str:
        if not found:
            return "no experiments"
        rows = [("KEY", "STATUS", "TRAFFIC", "LAYER", "NAME")]
        rows += [
            (e["key"], e["status"], percent(traffic_in_force(e)), e.get("layer") or "-", e["name"])
            for e in found
        ]
        return table(rows, [24, 11, 7, 12])

    emit(args, {"experiments": found, "total": len(found)}, text)
    return 0


def cmd_experiments_show(args: argparse.Namespace) -> int:
    experiment = service(args).get(api_path("experiments", args.experiment))
    emit(args, experiment, lambda: describe(experiment, Style.for_stdout()))
    return 0


def describe(e: Mapping[str, Any], style: Style) -> str:
    lines = [f"{style(e['key'], 'bold')}  {e['name']}", f"  state     {state_text(e, style)}"]
    if e.get("environment"):
        lines.append(f"  in        {e['environment']}")
    if e.get("owner"):
        lines.append(f"  owner     {e['owner']}")
    if e.get("layer"):
        share = e.get("layer_range")
        span = f" [{share[0]:.3f}, {share[1]:.3f})" if share else ""
        lines.append(f"  layer     {e['layer']}{span}")
    if e.get("targeting"):
        lines.append("  targeting " + clip(compact(e["targeting"]), WIDTH - 12))
    if e.get("rollback_reason"):
        lines.append(f"  rollback  {e['rollback_reason']}")
    lines.append("  variants")
    pinned = e.get("prompts") or {}
    for v in e["variants"]:
        marks = " (control)" if v["key"] == e["control"] else ""
        prompt = pinned.get(v["key"])
        ref = f"{prompt['name']}@{prompt['version']}" if prompt else v.get("prompt") or ""
        config = compact(v["config"]) if v.get("config") is not None else ""
        detail = "  ".join(p for p in (ref, config) if p)
        lines.append(clip(f"    {v['key']:<16} {v['weight']:>6.1%}  {detail}{marks}", WIDTH))
    if e.get("metrics"):
        lines.append("  metrics")
        for m in e["metrics"]:
            guardrail = m["role"] == "guardrail"
            extra = f", max regression {percent(m['max_regression'])}" if guardrail else ""
            lines.append(f"    {m['key']:<16} {m['type']}, {m['role']}, {m['direction']}{extra}")
    if e.get("rollout"):
        plan = e["rollout"]
        flags = [name for name in ("auto_advance", "auto_rollback", "auto_ship") if plan.get(name)]
        lines.append(f"  rollout   {', '.join(flags) or 'manual'}")
        for index, stage in enumerate(plan["stages"]):
            here = style(" <", "bold") if e.get("stage") == index else ""
            lines.append(
                f"    {index}: {percent(stage['traffic']):>6}  at least"
                f" {stage['min_duration_s']} s, {stage['min_users_per_variant']} users a variant"
                f"{here}"
            )
    for pending in e.get("pending") or []:
        lines.append(
            style(f"  pending   {pending['kind']} {pending['id']} proposed by"
                  f" {pending['proposed_by']} (needs another key's approval)", "yellow")
        )
    return "\n".join(lines)


def cmd_experiments_create(args: argparse.Namespace) -> int:
    """A definition in the format of `rollout apply` (`kind: experiment`, which may be left
    out here), sent as it is: the service validates it and names every bad field."""
    try:
        body = experiment_fields(load_document(args.file), args.file)
    except SpecError as exc:
        raise CliError(str(exc), code=USAGE) from None
    created = service(args).post("/api/v1/experiments", body)
    emit(args, created, f"created {created['key']} ({created['status']})")
    return 0


def _operate(args: argparse.Namespace, action: str, body: dict[str, Any]) -> int:
    outcome = service(args).post(api_path("experiments", args.experiment, action), body)
    experiment, pending = outcome["experiment"], outcome.get("pending")

    def text() -> str:
        style = Style.for_stdout()
        if pending:
            return style(
                f"{args.experiment}: {action} waits for approval: change {pending['id']} (`rollout"
                f" experiments approve {args.experiment} {pending['id']}` with another key)",
                "yellow",
            )
        return f"{args.experiment}: {state_text(experiment, style)}"

    emit(args, outcome, text)
    return 0


def cmd_experiments_action(args: argparse.Namespace) -> int:
    return _operate(args, args.action, reason(args))


def cmd_experiments_conclude(args: argparse.Namespace) -> int:
    return _operate(args, "conclude", {"winner": args.winner, **reason(args)})


def cmd_experiments_approve(args: argparse.Namespace) -> int:
    return _operate(args, "approve", {"change": args.change})


def cmd_experiments_ramp(args: argparse.Namespace) -> int:
    """Set `traffic` (PATCH); under review a raise becomes a proposal (202)."""
    answer = service(args).call(
        "PATCH", api_path("experiments", args.experiment), {"traffic": args.traffic, **reason(args)}
    )
    pending = answer.get("pending") if "experiment" in answer else None
    experiment = answer.get("experiment", answer)

    def text() -> str:
        style = Style.for_stdout()
        if pending:
            return style(f"{args.experiment}: the raise waits for approval: change {pending['id']}",
                         "yellow")
        return f"{args.experiment}: {state_text(experiment, style)}"

    emit(args, answer, text)
    return 0


def cmd_experiments_evaluate(args: argparse.Namespace) -> int:
    decision = service(args).post(api_path("experiments", args.experiment, "evaluate"))

    def text() -> str:
        style = Style.for_stdout()
        lines = [f"{args.experiment}: {decision_text(decision, style)}"]
        if decision.get("applied"):
            lines.append(f"  applied: {decision['applied']}")
        lines += [f"  - {line}" for line in decision.get("reasons") or []]
        return "\n".join(lines)

    emit(args, decision, text)
    return 0


def cmd_experiments_history(args: argparse.Namespace) -> int:
    history = service(args).get(
        api_path("experiments", args.experiment, "history"), limit=args.limit, offset=0
    )

    def text() -> str:
        lines = []
        for entry in history["history"]:
            line = f"{when(entry['at'])}  {entry['actor']:<16} {entry['action']}"
            if entry.get("reason"):
                line += f": {entry['reason']}"
            lines.append(clip(line, WIDTH))
            if entry.get("changes"):
                lines.append(clip("    " + compact(entry["changes"]), WIDTH))
        return "\n".join(lines) or "no history"

    emit(args, history, text)
    return 0


def add_commands(sub: Any) -> None:
    experiments = sub.add_parser("experiments", help="define and operate experiments")
    ex = experiments.add_subparsers(dest="experiments_command", required=True, metavar="ACTION")
    listing = add_command(ex, "list", cmd_experiments_list, "list experiments")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--owner")
    listing.add_argument("--layer")
    listing.add_argument("--archived", action="store_true", help="list the archived ones too")
    add_command(ex, "show", cmd_experiments_show, "one experiment").add_argument(
        "experiment", metavar="KEY"
    )
    add_command(ex, "create", cmd_experiments_create,
                "define an experiment (draft) from a JSON or YAML file").add_argument(
        "-f", "--file", required=True,
        help="the definition, as `rollout apply` reads it (- reads stdin)",
    )
    for action, help in [
        ("start", "start (or propose to, under review)"),
        ("pause", "pause: everyone gets control"),
        ("resume", "resume a paused experiment"),
        ("advance", "move to the next rollout stage"),
        ("rollback", "roll back: everyone gets control"),
        ("archive", "hide from lists and SDKs, keep its history (not while running or paused)"),
        ("unarchive", "list and serve an archived experiment again"),
    ]:
        operate = add_command(ex, action, cmd_experiments_action, help)
        operate.add_argument("experiment", metavar="KEY")
        operate.add_argument("--reason", help="why, for the history")
        operate.set_defaults(action=action)
    conclude = add_command(
        ex, "conclude", cmd_experiments_conclude, "conclude: everyone gets the winner"
    )
    conclude.add_argument("experiment", metavar="KEY")
    conclude.add_argument("--winner", required=True)
    conclude.add_argument("--reason")
    ramp = add_command(ex, "ramp", cmd_experiments_ramp, "set the traffic share (0 to 1)")
    ramp.add_argument("experiment", metavar="KEY")
    ramp.add_argument("--traffic", type=float, required=True)
    ramp.add_argument("--reason")
    approve = add_command(ex, "approve", cmd_experiments_approve,
                          "approve a pending change (another key than its proposer's)")
    approve.add_argument("experiment", metavar="KEY")
    approve.add_argument("change", help="the pending change's id")
    add_command(ex, "evaluate", cmd_experiments_evaluate,
                "run one controller evaluation now").add_argument("experiment", metavar="KEY")
    history = add_command(ex, "history", cmd_experiments_history,
                          "every change: who, when, what, why")
    history.add_argument("experiment", metavar="KEY")
    history.add_argument("--limit", type=int, default=100)
