"""What Redis keeps of an experiment: its fields, not the RFC 3339 twins the answers carry."""

from __future__ import annotations

import json

from experiments.store import keys
from experiments.store.connection import Redis
from tests.api.conftest import Api, experiment_body


def test_stored_documents_carry_no_computed_fields(
    editor: Api, release: Api, raw_redis: Redis
) -> None:
    created = editor.post("/api/v1/experiments", json=experiment_body("stored"))
    assert created.status_code == 201, created.get_json()
    assert "created_at_rfc3339" in created.get_json()
    started = release.post("/api/v1/experiments/stored/start", json={})
    assert started.status_code == 200, started.get_json()
    document = json.loads(raw_redis.get(keys.experiment("stored")))
    assert document["created_at"] == created.get_json()["created_at"]
    assert not [name for name in document if name.endswith("_rfc3339")]
    stored_history = raw_redis.lrange(keys.experiment_history("stored"), 0, -1)
    history = [json.loads(item) for item in stored_history]
    assert history and not [n for entry in history for n in entry if n.endswith("_rfc3339")]
