"""The `rollout` parser and entry point: one value each for --url, --key, --env and --json, and
every error printed in the service's words."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from experiments.errors import DomainError
from rollout.apply import commands as apply_commands
from rollout.cli import environments, experiments, keys, promotion, prompts, results, run
from rollout.cli.errors import CliError
from rollout.cli.parsing import Command
from rollout.http import DEFAULT_URL, ServiceError, first_line

DESCRIPTION = """\
Run the service, and drive it from the shell.

  rollout serve | controller                  run the API (and controller) / the controller
  rollout keys create|list|revoke             API keys (admin)
  rollout env list|create|rename|archive|...  environments (admin)
  rollout experiments list|show|create|...    define and operate experiments
  rollout results KEY                         the figures, comparison by comparison
  rollout prompts list|show|push|diff|render|label|promote
  rollout apply | export                      prompts and experiments as code (YAML files)
  rollout promote KEY --from E1 --to E2       copy an experiment to another environment (draft)

Every command but `serve` and `controller` speaks the HTTP API: --url (or ROLLOUT_URL, default
http://127.0.0.1:8000) and --key (or ROLLOUT_API_KEY). --env (or ROLLOUT_ENV) names the
environment to act in: a key of one environment acts in its own (naming another is refused), a key
of all environments in the one named, else production. --json prints the service's JSON instead
of text, for scripts. A refusal prints the service's message (and each field it names) and exits
1; a usage error exits 2.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollout", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", dest="global_url", metavar="URL",
                        help=f"the service (default $ROLLOUT_URL or {DEFAULT_URL})")
    parser.add_argument("--key", dest="global_key", metavar="KEY",
                        help="an API key (default $ROLLOUT_API_KEY)")
    parser.add_argument("--env", dest="global_env", metavar="NAME",
                        help="the environment to act in (default $ROLLOUT_ENV, else the key's)")
    parser.add_argument("--json", dest="global_json", action="store_true",
                        help="machine-readable output: the service's JSON")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (run, keys, environments, experiments, promotion, results, prompts,
                  apply_commands):
        group.add_commands(sub)
    return parser


def _merge_globals(args: argparse.Namespace) -> None:
    """One value each for url, key, env and json, wherever on the line they were given."""
    args.url = getattr(args, "url", None) or args.global_url
    args.key = getattr(args, "key", None) or args.global_key
    args.env = getattr(args, "env", None) or args.global_env
    args.json = bool(getattr(args, "json", False) or args.global_json)


def _report(message: str, details: Sequence[Mapping[str, Any]] = ()) -> None:
    print(f"rollout: {message}", file=sys.stderr)
    for detail in details:
        field = detail.get("field")
        print(f"  {field}: {detail.get('message')}" if field else f"  {detail}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _merge_globals(args)
    func: Command = args.func
    try:
        return func(args)
    except CliError as exc:
        _report(exc.message, exc.details)
        return exc.code
    except ServiceError as exc:
        _report(exc.message, exc.details)
        return 1
    except DomainError as exc:
        _report(exc.message)
        return 1
    except redis.RedisError as exc:
        _report(f"Redis: {first_line(exc)}")
        return 1
