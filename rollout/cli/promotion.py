"""`rollout promote KEY --from E1 --to E2` and `rollout prompts promote NAME --from E1 --to E2`.

Promoting an experiment copies its definition into the target environment as a draft (the
target's own state, traffic and figures start empty; the history of both says so); promoting a
prompt moves the target's environment label to the version the source's label points at, through
review where the target's settings ask for it. Both need a key that spans the two environments.
"""

from __future__ import annotations

import argparse
from typing import Any

from rollout.cli.inputs import reason, service
from rollout.cli.output import Style, emit
from rollout.cli.parsing import add_command
from rollout.http import api_path


def _between(args: argparse.Namespace) -> dict[str, Any]:
    return {"from": args.source, "to": args.target, **reason(args)}


def cmd_promote(args: argparse.Namespace) -> int:
    promoted = service(args).post(api_path("experiments", args.experiment, "promote"),
                                  _between(args))
    experiment = promoted.get("experiment", promoted)
    emit(args, promoted,
         f"{args.experiment}: copied from {args.source} to {args.target} as"
         f" {experiment.get('status', 'draft')} (start it there with `rollout --env"
         f" {args.target} experiments start {args.experiment}`)")
    return 0


def cmd_prompts_promote(args: argparse.Namespace) -> int:
    answer = service(args).exchange(
        "POST", api_path("prompts", args.name, "promote"), _between(args)
    )
    state: dict[str, Any] = answer.document or {}

    def text() -> str:
        pending = state.get("pending")
        if answer.status == 202 or (pending and not state.get("changed")):
            change = f": change {pending['id']}" if pending else ""
            return Style.for_stdout()(
                f"{args.name}: moving {args.target} to {args.source}'s version waits for"
                f" approval{change}", "yellow")
        version = state.get("version")
        to = f"@{version}" if version is not None else f"{args.source}'s version"
        return f"{args.name}: {args.target} -> {to} (as {args.source})"

    emit(args, state, text)
    return 0


def _add_between(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="ENV",
                        help="the environment to promote from (e.g. staging)")
    parser.add_argument("--to", dest="target", required=True, metavar="ENV",
                        help="the environment to promote to (e.g. production)")
    parser.add_argument("--reason", help="why, for the history")


def add_prompt_command(prompts_sub: Any) -> None:
    """`rollout prompts promote`, registered by the prompts group."""
    promote = add_command(prompts_sub, "promote", cmd_prompts_promote,
                          "move an environment's label to the version another's points at")
    promote.add_argument("name")
    _add_between(promote)


def add_commands(sub: Any) -> None:
    promote = add_command(sub, "promote", cmd_promote,
                          "copy an experiment's definition to another environment, as a draft")
    promote.add_argument("experiment", metavar="KEY")
    _add_between(promote)
