"""The API's answers are written by orjson (rollout/json_provider.py), and stay the same JSON."""

from __future__ import annotations

import json

from tests.api.conftest import Api, experiment_body, ok

EXPERIMENTS = "/api/v1/experiments"


def test_an_answer_is_orjsons_compact_utf8_with_flasks_closing_newline(editor: Api) -> None:
    # The standard library escapes every non-ASCII character (\u00e9); orjson writes UTF-8.
    ok(editor.post(EXPERIMENTS, json=experiment_body("cafe", name="Café crème")))
    answer = ok(editor.get(f"{EXPERIMENTS}/cafe"))
    raw = answer.get_data()
    assert '"name":"Café crème"'.encode() in raw
    assert b"\\u00e9" not in raw
    assert raw.endswith(b"}\n")
    assert answer.mimetype == "application/json"


def test_an_integer_beyond_64_bits_is_still_written_exactly(admin: Api, editor: Api) -> None:
    huge = 2**70 + 1  # orjson refuses it; Flask's encoder writes it
    variants = [
        {"key": "control", "weight": 0.5, "config": {"n": huge}},
        {"key": "friendly", "weight": 0.5, "config": {"n": 1}},
    ]
    ok(editor.post(EXPERIMENTS, json=experiment_body("huge", variants=variants)))
    answer = ok(admin.get(f"{EXPERIMENTS}/huge"))
    document = json.loads(answer.get_data())
    assert document["variants"][0]["config"] == {"n": huge}
