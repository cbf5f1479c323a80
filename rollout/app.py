"""create_app(): the WSGI application (`rollout.app:create_app()`)."""

from __future__ import annotations

from flask import Flask

from experiments.store import Store
from rollout.api import BLUEPRINTS
from rollout.console import register_console
from rollout.errors import register_error_handlers
from rollout.json_provider import OrjsonProvider
from rollout.observability import instrument
from rollout.runtime import EXTENSION, Runtime
from rollout.settings import Settings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env()
    store = store or Store.from_url(settings.redis_url or DEFAULT_REDIS_URL)
    app = Flask("rollout", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json = OrjsonProvider(app)
    app.extensions[EXTENSION] = Runtime.build(settings, store)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_console(app)
    register_error_handlers(app)
    instrument(app)
    return app
