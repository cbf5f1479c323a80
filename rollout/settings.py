"""Service configuration, read once from the environment (the contract's configuration table)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from experiments.event_rules import DEFAULT_DEDUPE_WINDOW_S
from rollout.config.watcher import DEFAULT_POLL_S
from rollout.webhook_destinations import AllowList


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    admin_key: str | None = None
    data_dir: str = "./.rollout"
    host: str = "127.0.0.1"
    port: int = 8000
    controller_interval_s: float = 10.0
    require_review: bool = False
    max_body_bytes: int = 1024 * 1024
    rate_limit_per_s: int = 0
    dedupe_window_s: int = DEFAULT_DEDUPE_WINDOW_S
    # How often each worker polls the configuration stamp; a key revoke waits two periods.
    config_poll_s: float = DEFAULT_POLL_S
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    # Hosts and networks (CIDR) webhooks may reach although private, loopback or link-local.
    webhook_allow_hosts: tuple[str, ...] = ()
    # A bearer token that /metrics requires when set (an admin key is accepted too).
    metrics_token: str | None = None
    run_controller: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse nonsense at start-up with one clear line, not on the first request."""
        checks = [
            (self.controller_interval_s > 0, "ROLLOUT_CONTROLLER_INTERVAL_S must be > 0"),
            (self.max_body_bytes > 0, "ROLLOUT_MAX_BODY_BYTES must be > 0"),
            (self.rate_limit_per_s >= 0, "ROLLOUT_RATE_LIMIT_PER_S must be >= 0"),
            (self.dedupe_window_s > 0, "ROLLOUT_DEDUPE_WINDOW_S must be > 0"),
            (self.config_poll_s > 0, "ROLLOUT_CONFIG_POLL_S must be > 0"),
            (0 < self.port < 65536, "PORT must be in 1..65535"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        AllowList.parse(self.webhook_allow_hosts)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        e = os.environ if env is None else env
        values: dict[str, Any] = {
            "redis_url": e.get("REDIS_URL") or None,
            "admin_key": e.get("ROLLOUT_ADMIN_KEY") or None,
            "data_dir": e.get("ROLLOUT_DATA_DIR", "./.rollout"),
            "host": e.get("HOST", "127.0.0.1"),
            "port": int(e.get("PORT", "8000")),
            "controller_interval_s": float(e.get("ROLLOUT_CONTROLLER_INTERVAL_S", "10")),
            "require_review": _flag(e.get("ROLLOUT_REQUIRE_REVIEW")),
            "max_body_bytes": int(e.get("ROLLOUT_MAX_BODY_BYTES", str(1024 * 1024))),
            "rate_limit_per_s": int(e.get("ROLLOUT_RATE_LIMIT_PER_S", "0")),
            "dedupe_window_s": int(e.get("ROLLOUT_DEDUPE_WINDOW_S", str(DEFAULT_DEDUPE_WINDOW_S))),
            "config_poll_s": float(e.get("ROLLOUT_CONFIG_POLL_S", str(DEFAULT_POLL_S))),
            "webhook_urls": tuple(
                u for u in (e.get("ROLLOUT_WEBHOOK_URLS") or "").split(",") if u.strip()
            ),
            "webhook_secret": e.get("ROLLOUT_WEBHOOK_SECRET") or None,
            "webhook_allow_hosts": tuple(
                h.strip() for h in (e.get("ROLLOUT_WEBHOOK_ALLOW_HOSTS") or "").split(",")
                if h.strip()
            ),
            "metrics_token": e.get("ROLLOUT_METRICS_TOKEN") or None,
            "run_controller": _flag(e.get("ROLLOUT_RUN_CONTROLLER")),
        }
        values.update(overrides)
        return cls(**values)
