"""One blueprint per resource; the app registers them in this order."""

from __future__ import annotations

from flask import Blueprint

from rollout.api import assign, experiments, keys, ops

BLUEPRINTS: list[Blueprint] = [
    ops.blueprint,
    keys.blueprint,
    experiments.blueprint,
    assign.blueprint,
]
