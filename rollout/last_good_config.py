"""The last configuration a worker loaded, kept on local disk for a worker started during an outage.

A worker that is already up answers from memory while Redis is down; one started meanwhile has
no memory yet (issue 10, item 7). Each worker therefore writes every configuration it loads to
one file, and reads it back when its first load cannot reach Redis. The file is replaced
atomically (written beside it, fsynced, renamed), so a reader sees a whole configuration or the
one before, never half of one; it carries a format number and the configuration version it was
loaded at. One file per Redis URL (named by a digest of it), so services sharing a data
directory never answer from each other's configuration.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from experiments.model import Experiment

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass(frozen=True)
class SavedConfig:
    version: int
    experiments: list[Experiment]
    prompts: dict[tuple[str, int], dict[str, Any]]
    labels: dict[str, dict[str, int]]


def backup_path(data_dir: str | Path, redis_url: str) -> Path:
    """`<ROLLOUT_DATA_DIR>/config/last-config-<digest of the Redis URL>.json`."""
    digest = hashlib.sha256(redis_url.encode()).hexdigest()[:16]
    return Path(data_dir) / "config" / f"last-config-{digest}.json"


def save(path: Path, config: SavedConfig) -> None:
    """Replace the file at `path` with `config`, atomically; a failure is logged, not raised
    (the backup must never fail a request that loaded its configuration)."""
    document = {
        "format": FORMAT,
        "version": config.version,
        "experiments": [e.model_dump(mode="json") for e in config.experiments],
        "prompts": [[name, v, content] for (name, v), content in sorted(config.prompts.items())],
        "labels": config.labels,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=".last-config-", suffix=".tmp"
        )
    except OSError:
        log.warning("could not keep the configuration on disk at %s", path, exc_info=True)
        return
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError:
        log.warning("could not keep the configuration on disk at %s", path, exc_info=True)
        Path(temporary).unlink(missing_ok=True)


def load(path: Path) -> SavedConfig | None:
    """The configuration saved at `path`; None when there is none or it cannot be read."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        found = document.get("format") if isinstance(document, dict) else None
        if found != FORMAT:
            log.warning("ignoring %s: format %r, not %r", path, found, FORMAT)
            return None
        return SavedConfig(
            version=int(document["version"]),
            experiments=[Experiment.model_validate(e) for e in document["experiments"]],
            prompts={(str(n), int(v)): dict(c) for n, v, c in document["prompts"]},
            labels={str(n): dict(by_label) for n, by_label in document["labels"].items()},
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        log.warning("the configuration kept at %s cannot be read", path, exc_info=True)
        return None
