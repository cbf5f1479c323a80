"""`rollout serve` and `rollout controller`: run the service, or its rollout controller alone."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from rollout.serve import local_redis_url, serve
from rollout.settings import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.host is not None:
        overrides["host"] = args.host
    return serve(Settings.from_env(**overrides), workers=args.workers,
                 with_controller=not args.no_controller)


def cmd_controller(args: argparse.Namespace) -> int:
    # Imported here, not above: the runner loads the store and the statistics (scipy), which
    # every other command of the CLI would otherwise pay for at start-up.
    from rollout.controller.runner import run_forever

    settings = Settings.from_env()
    url = local_redis_url(settings)
    if url is None:
        print("rollout: set REDIS_URL (or run `make run` on this machine)", file=sys.stderr)
        return 2
    stop = threading.Event()
    # SIGTERM (Kubernetes, compose, systemd) ends the loop like Ctrl-C, so the lease is released
    # and a standby replica takes over at once rather than after the lease's time to live.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        run_forever(url, settings, stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def add_commands(sub: Any) -> None:
    serve_cmd = sub.add_parser("serve", help="run the API under gunicorn (and the controller)")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--workers", type=int)
    serve_cmd.add_argument("--no-controller", action="store_true")
    serve_cmd.set_defaults(func=cmd_serve)
    sub.add_parser("controller", help="run the rollout controller loop").set_defaults(
        func=cmd_controller
    )
