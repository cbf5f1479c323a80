"""One blueprint per resource; the app registers them in this order."""

from __future__ import annotations

from flask import Blueprint

from rollout.api import assign, environments, experiments, keys, ops
from rollout.api import controller as controller_api
from rollout.api import events as events_api
from rollout.api import prompts as prompts_api
from rollout.api import results as results_api
from rollout.api import traces as traces_api

BLUEPRINTS: list[Blueprint] = [
    ops.blueprint,
    keys.blueprint,
    environments.blueprint,
    experiments.blueprint,
    assign.blueprint,
    prompts_api.blueprint,
    events_api.blueprint,
    results_api.blueprint,
    controller_api.blueprint,
    traces_api.blueprint,
]
