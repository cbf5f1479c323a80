"""`rollout apply` and `rollout export` of chat prompts: messages in YAML, round trip exact."""

from __future__ import annotations

from pathlib import Path

import redis
import yaml

from rollout.apply.export import export
from tests.api import test_apply_export as apply_export
from tests.api.conftest import Api, _key
from tests.api.test_apply_export import Recorded, applied, apply, snapshot
from tests.conftest import ADMIN_KEY

# The fixtures of the apply tests, to serve the app over HTTP here too.
serve = apply_export.serve
served = apply_export.served
transport = apply_export.transport

CHAT_FILE = """\
kind: prompt
name: support
versions:
- template: "Answer {{ question }}"
  model: gpt-4o-mini
- messages:
  - role: system
    content: |
      You are a support agent for {{ product }}.
      Be brief.
  - role: user
    content: "{{ question }}"
  model: gpt-4o
  params:
    temperature: 0.2
labels:
  production: 2
"""


def write(root: Path, text: str) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "support.yaml").write_text(text, encoding="utf-8")
    return root


def test_apply_creates_a_chat_version_with_its_messages(
    transport: Recorded, tmp_path: Path, editor: Api
) -> None:
    applied(transport, write(tmp_path / "in", CHAT_FILE))

    version = editor.get("/api/v1/prompts/support/versions/2").get_json()

    assert version["template"] is None
    assert version["messages"] == [
        {"role": "system", "content": "You are a support agent for {{ product }}.\nBe brief.\n"},
        {"role": "user", "content": "{{ question }}"},
    ]
    assert version["variables"] == ["product", "question"]


def test_a_chat_prompt_at_the_top_level_is_the_content_of_the_latest_version(
    transport: Recorded, tmp_path: Path, editor: Api
) -> None:
    head = "kind: prompt\nname: support\nmessages:\n- role: user\n  content: Hi {{ name }}\n"

    applied(transport, write(tmp_path / "in", head))

    version = editor.get("/api/v1/prompts/support/versions/1").get_json()
    assert version["messages"] == [{"role": "user", "content": "Hi {{ name }}"}]


def test_a_version_with_both_a_template_and_messages_is_refused_offline(
    transport: Recorded, tmp_path: Path
) -> None:
    both = CHAT_FILE.replace("- messages:", "- template: x\n  messages:")

    code, out = apply(transport, write(tmp_path / "in", both))

    assert code != 0
    assert "exactly one of template, template_file and messages" in out
    assert transport.writes == []


def test_export_writes_messages_and_round_trips_exactly(
    transport: Recorded, served: str, tmp_path: Path, redis_url: str, editor: Api
) -> None:
    applied(transport, write(tmp_path / "in", CHAT_FILE))
    first = tmp_path / "first"
    assert len(export(transport.client, first)) == 1

    document = yaml.safe_load((first / "prompts" / "support.yaml").read_text())
    assert document == yaml.safe_load(CHAT_FILE)
    code, out = apply(transport, first)
    assert (code, "plan: 0 new, 0 changed, 3 unchanged" in out) == (0, True), out

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    fresh = Recorded(served, _key(Api(editor.client, ADMIN_KEY), "editor"))
    code, out = apply(fresh, first)
    assert code == 0, out
    second = tmp_path / "second"
    export(fresh.client, second)
    assert snapshot(second) == snapshot(first)
