"""What a command reads besides its arguments: JSON or YAML files, NAME=VALUE pairs, the service."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from rollout.cli.errors import USAGE, CliError
from rollout.http import ServiceClient, first_line


def service(args: argparse.Namespace) -> ServiceClient:
    """The service the command line names (--url/--key/--env, else ROLLOUT_URL/ROLLOUT_API_KEY/
    ROLLOUT_ENV)."""
    client = ServiceClient.configured(args.url, args.key, args.env)
    if not client.key:
        raise CliError("no API key: pass --key or set ROLLOUT_API_KEY", code=USAGE)
    return client


def read_text(path: str) -> str:
    """A file's text (`-` reads stdin); a file that cannot be read is a usage error."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", code=USAGE) from None


def load_document(path: str) -> Any:
    """A JSON or YAML file (`-` reads stdin); YAML is a superset of JSON, so one parser reads
    both, but a .json file is parsed as JSON for its sharper error messages."""
    text = read_text(path)
    try:
        return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"{path} is not valid JSON or YAML: {first_line(exc)}", code=USAGE) from None


def assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """`name=value` pairs; a value that parses as JSON is that JSON (`n=3`, `tags=["a"]`)."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CliError(f"expected NAME=VALUE, not {pair!r}", code=USAGE)
        try:
            found[name] = json.loads(raw)
        except ValueError:
            found[name] = raw
    return found


def reason(args: argparse.Namespace) -> dict[str, Any]:
    """`{"reason": ...}` for the history, when --reason was given."""
    return {"reason": args.reason} if args.reason else {}
