"""`rollout apply -f DIR` and `rollout export -o DIR`: prompts and experiments as code.

`apply` compares the files with the service, prints the plan (what is new, changed, unchanged)
and carries it out over the HTTP API, so a second run changes nothing; `--check` validates the
files, compiles the templates and runs the prompt tests without any service, for CI. `export`
writes the service's prompts and experiments back in the same format.

`--env E` applies to environment E (CI applies to staging on every merge, to production on a
tag; without it, the key's environment, production for a key of all of them): experiments are
defined there, and of the prompts' labels that environment's own and the ones named like no
environment are moved; a label named like another environment is that one's, left alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from rollout.apply.export import export
from rollout.apply.plan import Plan
from rollout.apply.spec import SpecError, check_summary, load_bundle
from rollout.apply.sync import execute, make_plan
from rollout.cli.inputs import service
from rollout.cli.output import emit
from rollout.cli.parsing import add_command
from rollout.http import ServiceClient, ServiceError


def run_apply(
    root: Path,
    client: ServiceClient | None,
    *,
    dry_run: bool = False,
    check: bool = False,
    as_json: bool = False,
    out: TextIO | None = None,
) -> int:
    """`rollout apply`: 0 when the service matches the files (or the check passed), else 1.

    A refusal by the service is printed with the plan; a service that cannot be reached at all
    raises its ServiceError, for the caller to report like every command's."""
    out = out or sys.stdout
    try:
        bundle = load_bundle(root)
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        print(f"check: {len(exc.problems)} problem(s)", file=out)
        return 1
    if check:
        print(check_summary(bundle), file=out)
        return 0
    if client is None:
        raise ValueError("a client is needed unless check")
    try:
        plan = make_plan(client, bundle)
        _print_plan(plan, as_json, out)
        if plan.conflicts:
            print(f"apply: {len(plan.conflicts)} conflict(s); nothing applied", file=out)
            return 1
        if dry_run:
            return 0
        done = execute(client, plan)
    except ServiceError as exc:
        if exc.status is None:
            raise
        print(f"apply: {exc}", file=out)
        return 1
    if not as_json:
        for line in done:
            print(line, file=out)
        where = f" in {client.environment}" if client.environment else ""
        print(f"applied: {len(done)} change(s){where}", file=out)
    return 0


def _print_plan(plan: Plan, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(plan.as_json(), indent=2), file=out)
        return
    for step in plan.steps:
        print(step.line(), file=out)
    for note in plan.notes:
        print(f"note: {note}", file=out)
    print(plan.summary(), file=out)


def cmd_apply(args: argparse.Namespace) -> int:
    client = None if args.check else service(args)
    return run_apply(
        Path(args.file), client, dry_run=args.dry_run, check=args.check, as_json=args.json
    )


def cmd_export(args: argparse.Namespace) -> int:
    try:
        written = export(service(args), Path(args.output))
    except OSError as exc:
        print(f"rollout: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    emit(args, {"written": [str(p) for p in written]},
         "\n".join([*map(str, written), f"exported: {len(written)} file(s)"]))
    return 0


def add_commands(sub: Any) -> None:
    """Register `apply` and `export` on the `rollout` command's subparsers."""
    apply = add_command(sub, "apply", cmd_apply,
                        "apply a directory of prompt and experiment YAML files (as code)")
    apply.add_argument("-f", "--file", required=True, help="a directory (or one YAML file)")
    mode = apply.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only")
    mode.add_argument(
        "--check",
        action="store_true",
        help="validate the files, compile templates and run prompt tests, offline",
    )
    export_cmd = add_command(sub, "export", cmd_export,
                             "write the service's prompts and experiments as YAML files")
    export_cmd.add_argument("-o", "--output", required=True, help="the directory to write")
