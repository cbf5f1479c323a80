"""How command groups register their commands, each taking --url, --key, --env and --json."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rollout.http import DEFAULT_URL

Command = Callable[[argparse.Namespace], int]


def connection_options() -> argparse.ArgumentParser:
    """--url, --key, --env and --json, accepted after the command too (`rollout results x
    --json`, `rollout apply -f DIR --env staging`)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help=f"the service (default $ROLLOUT_URL or {DEFAULT_URL})")
    common.add_argument("--key", default=argparse.SUPPRESS,
                        help="an API key (default $ROLLOUT_API_KEY)")
    common.add_argument("--env", default=argparse.SUPPRESS, metavar="NAME",
                        help="the environment to act in (default $ROLLOUT_ENV, else the key's)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the service's JSON")
    return common


def add_command(
    group: Any, name: str, func: Command, help: str, **kw: Any
) -> argparse.ArgumentParser:
    """A subcommand of `group` running `func`, with the connection options."""
    found: argparse.ArgumentParser = group.add_parser(
        name, help=help, description=help, parents=[connection_options()], **kw
    )
    found.set_defaults(func=func)
    return found
