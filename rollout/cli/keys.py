"""`rollout keys create|list|revoke`: API keys, over HTTP with an admin key like every command.

Only `keys create --local` writes straight into this machine's Redis (REDIS_URL, or the embedded
server of `make run`): the way to make the first key when none exists yet besides
ROLLOUT_ADMIN_KEY. It is never chosen for the user: a key in the environment for another service
must not turn into an admin key created here.

A key belongs to one deployment environment: `keys create --env staging` makes a key of staging
(the service's default is production), `--all-environments` one that spans them all.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any
from urllib.parse import urlsplit

from experiments.environments import PRODUCTION
from experiments.model import Role
from rollout.cli.errors import USAGE, CliError
from rollout.cli.output import emit, table, when
from rollout.cli.parsing import add_command
from rollout.http import ServiceClient, ServiceError, api_path
from rollout.serve import local_redis_url
from rollout.settings import Settings


def redacted(url: str) -> str:
    """A Redis URL without its credentials, to say where a key was written."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _create_locally(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    # Imported here: only this bootstrap path needs the store (and the statistics it loads).
    from experiments.store import Store

    if args.url or args.key:
        raise CliError("--local writes to this machine's Redis: drop --url and --key", code=USAGE)
    url = local_redis_url(Settings.from_env())
    if url is None:
        raise CliError("--local: no Redis on this machine (set REDIS_URL, or run `make run`)")
    store = Store.from_url(url)
    role = Role(args.role)
    key, secret = store.apikeys.create(
        args.name, role, time.time(), "cli", _local_environment(args, role)
    )
    store.announce_change()
    return {**key.public(), "secret": secret}, f"Redis at {redacted(url)}"


def _admin_service(args: argparse.Namespace) -> ServiceClient:
    """The service named as for every command; a missing key says which service wanted one,
    and how the first key is made."""
    client = ServiceClient.configured(args.url, args.key, args.env)
    if not client.key:
        raise CliError(
            f"no API key for {client.url}: pass --key or set ROLLOUT_API_KEY (an admin key);"
            " to make the first key on this machine, `rollout keys create --local ...`",
            code=USAGE,
        )
    return client


def _said_by(client: ServiceClient, exc: ServiceError) -> CliError:
    return CliError(f"{client.url}: {exc.message}", exc.details)


def cmd_keys_create(args: argparse.Namespace) -> int:
    if args.local:
        created, where = _create_locally(args)
    else:
        api = _admin_service(args)
        try:
            created = api.post("/api/v1/keys", {"name": args.name, "role": args.role,
                                                **_environment_of_new_key(args)})
        except ServiceError as exc:
            raise _said_by(api, exc) from None
        where = api.url
    emit(args, created, f"{created['secret']}\n(role {created['role']}, {scope(created)} on"
                        f" {where}; shown once)")
    return 0


def _environment_of_new_key(args: argparse.Namespace) -> dict[str, str | None]:
    """The body's `environment`: the one named (--env or ROLLOUT_ENV), None for all of them
    (--all-environments), nothing at all to take the service's default."""
    if args.all_environments:
        if args.env:
            raise CliError("--env and --all-environments: choose one", code=USAGE)
        return {"environment": None}
    named = args.env or os.environ.get("ROLLOUT_ENV")
    return {"environment": named} if named else {}


def _local_environment(args: argparse.Namespace, role: Role) -> str | None:
    """As the API decides for a body without `environment`: every environment for an admin
    key, else production; --env or --all-environments say otherwise."""
    named = _environment_of_new_key(args)
    if "environment" in named:
        return named["environment"]
    return None if role is Role.ADMIN else PRODUCTION


def scope(key: dict[str, Any]) -> str:
    """`environment staging`, `all environments`, as a key's answer says."""
    if "environment" not in key:
        return "environment production"
    return "all environments" if key["environment"] is None else f"environment {key['environment']}"


def cmd_keys_list(args: argparse.Namespace) -> int:
    api = _admin_service(args)
    try:
        keys = api.get("/api/v1/keys")["keys"]
    except ServiceError as exc:
        raise _said_by(api, exc) from None
    emit(args, {"keys": keys},
         lambda: table([(k["name"], k["role"], _environment_column(k), when(k.get("created_at")))
                        for k in keys], [32, 8, 12]) or "no keys")
    return 0


def _environment_column(key: dict[str, Any]) -> str:
    """A key's environment in the list; `*` for a key of all environments."""
    environment = key.get("environment", "production")
    return "*" if environment is None else str(environment)


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    api = _admin_service(args)
    try:
        api.call("DELETE", api_path("keys", args.name))
    except ServiceError as exc:
        raise _said_by(api, exc) from None
    emit(args, {"revoked": args.name}, f"revoked {args.name} on {api.url}")
    return 0


def add_commands(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys (over HTTP, with an admin key)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = add_command(keys_sub, "create", cmd_keys_create,
                         "create a key (the secret is shown once) of the environment --env"
                         " names, else of production")
    create.add_argument("--all-environments", action="store_true",
                        help="a key of every environment (picks one per request with --env)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True)
    create.add_argument("--local", action="store_true",
                        help="write the key straight into this machine's Redis (the first key)")
    add_command(keys_sub, "list", cmd_keys_list, "list keys (names and roles)")
    add_command(keys_sub, "revoke", cmd_keys_revoke, "revoke a key at once").add_argument("name")
