"""The service's version, as its installed distribution names it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

DISTRIBUTION = "prompt-rollout"


def service_version() -> str:
    """The installed version; 0.0.0 when run from a tree that was never installed."""
    try:
        return package_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0.0.0"
