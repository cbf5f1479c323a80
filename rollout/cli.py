"""The `rollout` command: serve, controller, keys, and the API's resources from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

from experiments.errors import DomainError
from experiments.model import Role
from rollout.settings import Settings

Command = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env()


def cmd_serve(args: argparse.Namespace) -> int:
    from rollout.serve import serve

    overrides = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.host is not None:
        overrides["host"] = args.host
    return serve(Settings.from_env(**overrides), workers=args.workers,
                 with_controller=not args.no_controller)


def cmd_controller(args: argparse.Namespace) -> int:
    import threading

    from rollout.runner import run_forever
    from rollout.serve import local_redis_url

    settings = _settings(args)
    url = local_redis_url(settings)
    if url is None:
        print("rollout: set REDIS_URL (or run `make run` on this machine)", file=sys.stderr)
        return 2
    stop = threading.Event()
    try:
        run_forever(url, settings, stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _store_for_admin(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from experiments.store import Store
    from rollout.serve import local_redis_url

    url = local_redis_url(_settings(args))
    if url is None:
        raise SystemExit("rollout: set REDIS_URL (or run `make run` on this machine)")
    return Store.from_url(url)


def cmd_keys_create(args: argparse.Namespace) -> int:
    store = _store_for_admin(args)
    key, secret = store.apikeys.create(args.name, Role(args.role), time.time(), "cli")
    store.announce_change()
    _print(args, {**key.public(), "secret": secret}, f"{secret}\n(role {key.role.value}; shown once)")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys = [k.public() for k in _store_for_admin(args).apikeys.list()]
    _print(args, {"keys": keys}, "\n".join(f"{k['name']:<32} {k['role']}" for k in keys))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    store = _store_for_admin(args)
    store.apikeys.revoke(args.name)
    store.announce_change()
    _print(args, {"revoked": args.name}, f"revoked {args.name}")
    return 0


def _print(args: argparse.Namespace, data: object, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollout", description=__doc__)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API under gunicorn (and the controller)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--host")
    serve.add_argument("--workers", type=int)
    serve.add_argument("--no-controller", action="store_true")
    serve.set_defaults(func=cmd_serve)

    controller = sub.add_parser("controller", help="run the rollout controller loop")
    controller.set_defaults(func=cmd_controller)

    keys = sub.add_parser("keys", help="API keys (directly against Redis)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True)
    create.set_defaults(func=cmd_keys_create)
    keys_sub.add_parser("list").set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_keys_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except DomainError as exc:
        print(f"rollout: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
