"""`rollout env list|create|rename|archive|settings`: the deployment environments (admin).

development, staging and production exist from the start and cannot be archived; an admin adds
others, names them for people (`rename` changes the display name, never the name that keys,
labels and URLs use) and archives the ones no longer deployed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from rollout.cli.inputs import service
from rollout.cli.output import emit, table
from rollout.cli.parsing import add_command
from rollout.http import api_path


def settings_text(environment: Mapping[str, Any]) -> str:
    """`review, 50/s`: what a deployment's settings change, in short."""
    settings = environment.get("settings") or {}
    parts = ["review" if settings.get("review_required") else "no review"]
    if settings.get("rate_limit_per_s") is not None:
        parts.append(f"{settings['rate_limit_per_s']}/s")
    if settings.get("webhooks"):
        parts.append(f"{len(settings['webhooks'])} webhook(s)")
    return ", ".join(parts)


def cmd_env_list(args: argparse.Namespace) -> int:
    found = service(args).get("/api/v1/environments", archived="true" if args.archived else None)
    environments = found["environments"]

    def text() -> str:
        rows = [("NAME", "DISPLAY NAME", "STATE", "SETTINGS")]
        rows += [
            (e["name"], e.get("display_name") or e["name"],
             "archived" if e.get("archived") else "active", settings_text(e))
            for e in environments
        ]
        return table(rows, [16, 24, 8])

    emit(args, found, text)
    return 0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the line, and only those (the service keeps or defaults the rest)."""
    chosen: dict[str, Any] = {}
    if args.review is not None:
        chosen["review_required"] = args.review
    if args.rate_limit is not None:
        chosen["rate_limit_per_s"] = args.rate_limit
    if args.webhook:
        chosen["webhooks"] = args.webhook
    return chosen


def cmd_env_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.display_name:
        body["display_name"] = args.display_name
    if settings := _settings(args):
        body["settings"] = settings
    created = service(args).post("/api/v1/environments", body)
    emit(args, created, f"created environment {created['name']} ({settings_text(created)})")
    return 0


def _patch(args: argparse.Namespace, body: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = service(args).call(
        "PATCH", api_path("environments", args.name), body
    )
    return changed


def cmd_env_rename(args: argparse.Namespace) -> int:
    changed = _patch(args, {"display_name": args.display_name})
    emit(args, changed, f"{changed['name']}: shown as {changed['display_name']!r}")
    return 0


def cmd_env_archive(args: argparse.Namespace) -> int:
    changed = _patch(args, {"archived": not args.undo})
    state = "archived" if changed.get("archived") else "active"
    emit(args, changed, f"{changed['name']}: {state}")
    return 0


def cmd_env_settings(args: argparse.Namespace) -> int:
    changed = _patch(args, {"settings": _settings(args)})
    emit(args, changed, f"{changed['name']}: {settings_text(changed)}")
    return 0


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    review = parser.add_mutually_exclusive_group()
    review.add_argument("--review", dest="review", action="store_true", default=None,
                        help="changes here need a second key's approval (four eyes)")
    review.add_argument("--no-review", dest="review", action="store_false",
                        help="changes here apply at once")
    parser.add_argument("--rate-limit", type=int, metavar="PER_S",
                        help="requests a second for each SDK key of this environment")
    parser.add_argument("--webhook", action="append", default=[], metavar="URL",
                        help="a webhook of this environment (repeat for several)")


def add_commands(sub: Any) -> None:
    env = sub.add_parser("env", help="deployment environments (admin)")
    env_sub = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    add_command(env_sub, "list", cmd_env_list, "list environments").add_argument(
        "--archived", action="store_true", help="list the archived ones too"
    )
    create = add_command(env_sub, "create", cmd_env_create, "add an environment")
    create.add_argument("name", help="the name keys, labels and URLs use (cannot change)")
    create.add_argument("--display-name", help="the name people read (default: the name)")
    _add_settings_options(create)
    rename = add_command(env_sub, "rename", cmd_env_rename, "change an environment's display name")
    rename.add_argument("name")
    rename.add_argument("display_name", metavar="DISPLAY_NAME")
    archive = add_command(env_sub, "archive", cmd_env_archive,
                          "archive an environment (its keys and state stay; requests are refused)")
    archive.add_argument("name")
    archive.add_argument("--undo", action="store_true", help="make it active again")
    settings = add_command(env_sub, "settings", cmd_env_settings,
                           "change an environment's settings")
    settings.add_argument("name")
    _add_settings_options(settings)
