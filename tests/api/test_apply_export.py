"""`rollout apply` and `rollout export` against the real app: plan, idempotence, round trip."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import requests
from flask import Flask
from werkzeug.serving import make_server

from rollout.apply.commands import run_apply
from rollout.apply.export import export
from rollout.cli.main import main
from rollout.http import ServiceClient
from tests.api.conftest import Api, _key
from tests.conftest import ADMIN_KEY

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Serve = Callable[[Flask], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve an app on a free loopback port (werkzeug, in a thread) until the test ends."""
    with ExitStack() as stack:

        def start(app: Flask) -> str:
            server = make_server("127.0.0.1", 0, app, threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            stack.callback(thread.join, 5)
            stack.callback(server.shutdown)
            return f"http://127.0.0.1:{server.server_port}"

        yield start


class Recorded:
    """The one HTTP client with one key, and every request it sent as (method, path)."""

    def __init__(self, url: str, api: Api) -> None:
        session = requests.Session()
        session.hooks["response"].append(self._record)
        self.client = ServiceClient(url, api.secret, session=session)
        self.calls: list[tuple[str, str]] = []

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls.append((str(response.request.method), urlsplit(response.request.url).path))

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]


def apply(transport: Recorded, root: Path, **options: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = run_apply(root, transport.client, out=out, **options)
    return code, out.getvalue()


def applied(transport: Recorded, root: Path) -> None:
    """An arrange step: apply `root`, which must succeed."""
    code, out = apply(transport, root)
    assert code == 0, out


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES, tmp_path / "examples"))


@pytest.fixture
def served(app: Flask, serve: Serve) -> str:
    return serve(app)


@pytest.fixture
def transport(served: str, editor: Api) -> Recorded:
    return Recorded(served, editor)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_apply_creates_what_the_files_describe(
    transport: Recorded, examples: Path, editor: Api
) -> None:
    code, out = apply(transport, examples)

    assert code == 0, out
    assert "+ version summarize@1: new" in out
    assert "+ version summarize@2: new" in out
    assert "+ label summarize:production: new  (-> 1)" in out
    assert "+ experiment summary-tone: new" in out
    # The editor key acts in production: the file's `staging` label is staging's to move.
    assert "note: prompt 'summarize': label 'staging' is environment staging's; left alone" in out
    assert "plan: 4 new, 0 changed, 0 unchanged, 0 pending, 0 conflict" in out
    assert out.rstrip().endswith("applied: 4 change(s)")
    prompt = editor.get("/api/v1/prompts/summarize").get_json()
    assert prompt["labels"] == {"production": 1}
    assert [v["author"] for v in prompt["versions"]] == ["editor-key", "editor-key"]
    friendly = editor.get("/api/v1/prompts/summarize/versions/2").get_json()
    assert friendly["template"] == (examples / "prompts" / "summarize.friendly.j2").read_text()
    assert len(friendly["tests"]) == 2
    experiment = editor.get("/api/v1/experiments/summary-tone").get_json()
    assert experiment["status"] == "draft"
    assert experiment["prompts"]["friendly"] == {"name": "summarize", "version": 2}


def test_a_second_apply_changes_nothing(transport: Recorded, examples: Path) -> None:
    applied(transport, examples)
    transport.calls.clear()

    code, out = apply(transport, examples)

    assert code == 0
    assert "plan: 0 new, 0 changed, 4 unchanged, 0 pending, 0 conflict" in out
    assert "applied: 0 change(s)" in out
    assert transport.writes == []


def test_a_dry_run_prints_the_plan_and_writes_nothing(
    transport: Recorded, examples: Path, editor: Api
) -> None:
    code, out = apply(transport, examples, dry_run=True)

    assert code == 0
    assert "plan: 4 new" in out
    assert "applied" not in out
    assert transport.writes == []
    assert editor.get("/api/v1/prompts/summarize").status_code == 404


def test_a_new_version_and_a_label_move_are_planned_alone(
    transport: Recorded, examples: Path, editor: Api
) -> None:
    applied(transport, examples)
    spec = examples / "prompts" / "summarize.yaml"
    text = spec.read_text().replace("  production: 1\n", "  production: 3\n")
    text = text.replace(
        "labels:\n",
        "  - template: 'Summarize {{ text }} in {{ max_sentences }} bullet points.'\n"
        "    model: gpt-4o\n"
        "labels:\n",
    )
    spec.write_text(text)

    code, out = apply(transport, examples)

    assert code == 0, out
    assert "+ version summarize@3: new  (gpt-4o)" in out
    assert "~ label summarize:production: changed  (1 -> 3)" in out
    assert "plan: 1 new, 1 changed, 3 unchanged" in out
    assert editor.get("/api/v1/prompts/summarize/resolve").get_json()["version"] == 3


def test_editing_an_applied_version_is_a_conflict_and_applies_nothing(
    transport: Recorded, examples: Path
) -> None:
    applied(transport, examples)
    template = examples / "prompts" / "summarize.friendly.j2"
    template.write_text(template.read_text() + "Thanks!\n")
    spec = examples / "experiments" / "summary-tone.yaml"
    spec.write_text(spec.read_text().replace("Version 2 of", "The second version of"))
    transport.calls.clear()

    code, out = apply(transport, examples)

    assert code == 1
    assert "! version summarize@2: conflict" in out
    assert "nothing applied" in out
    assert transport.writes == []


def test_a_running_experiment_keeps_its_traffic_and_design(
    transport: Recorded, examples: Path, release: Api
) -> None:
    applied(transport, examples)
    assert release.post("/api/v1/experiments/summary-tone/start").status_code == 200

    code, out = apply(transport, examples)
    assert code == 0
    assert "= experiment summary-tone: unchanged  (traffic 0.02 left to release operations)" in out

    spec = examples / "experiments" / "summary-tone.yaml"
    spec.write_text(
        spec.read_text()
        .replace("weight: 0.5", "weight: 0.25", 1)
        .replace("weight: 0.5", "weight: 0.75")
    )
    code, out = apply(transport, examples)
    assert code == 1
    assert "variants cannot change: the experiment is running" in out


def test_a_refusal_by_the_service_stops_the_apply_with_its_reason(
    transport: Recorded, examples: Path
) -> None:
    spec = examples / "experiments" / "summary-tone.yaml"
    spec.write_text(spec.read_text().replace("summarize@1", "summarize@canary"))

    code, out = apply(transport, examples)

    assert code == 1
    assert "experiment summary-tone: 422 unknown_prompt" in out
    assert "variants.0.prompt" in out


def test_the_production_label_waits_for_review_and_is_not_proposed_twice(
    make_app: Callable[..., Flask], serve: Serve, examples: Path
) -> None:
    app = make_app(require_review=True)
    admin = Api(app.test_client(), ADMIN_KEY)
    editor, other = _key(admin, "editor", "ci"), _key(admin, "editor", "reviewer")
    transport = Recorded(serve(app), editor)

    code, out = apply(transport, examples)
    assert code == 0, out
    assert "? label summarize:production: waits for review (change " in out
    change = editor.get("/api/v1/prompts/summarize").get_json()["pending"][0]["id"]

    code, out = apply(transport, examples)
    assert (
        f"? label summarize:production: pending  (None -> 1 waits for review: change {change})"
        in out
    )
    assert "applied: 0 change(s)" in out

    assert (
        other.post("/api/v1/prompts/summarize/approve", json={"change": change}).status_code == 200
    )
    code, out = apply(transport, examples)
    assert "plan: 0 new, 0 changed, 4 unchanged, 0 pending" in out


def test_export_then_apply_to_an_empty_service_round_trips_exactly(
    transport: Recorded, served: str, examples: Path, tmp_path: Path, redis_url: str,
    editor: Api,
) -> None:
    applied(transport, examples)
    created = editor.post(
        "/api/v1/prompts/other/versions",
        json={"template": "  indented {{ x }}  \n\tand tabs\n", "params": {"seed": 3}},
    )
    assert created.status_code == 201, created.get_json()
    first = tmp_path / "first"
    written = export(transport.client, first)
    assert sorted(p.name for p in written) == ["other.yaml", "summarize.yaml", "summary-tone.yaml"]

    code, out = apply(transport, first)
    assert (code, "plan: 0 new, 0 changed, 5 unchanged" in out) == (0, True)

    client = redis.Redis.from_url(redis_url)
    client.flushall()  # an empty service: the keys went too, so a fresh editor key
    client.close()
    fresh = Recorded(served, _key(Api(editor.client, ADMIN_KEY), "editor"))
    code, out = apply(fresh, first)
    assert code == 0, out
    assert "plan: 5 new" in out

    second = tmp_path / "second"
    assert len(export(fresh.client, second)) == 3
    assert snapshot(second) == snapshot(first)


def test_the_exported_files_read_as_the_format_documents(
    transport: Recorded, examples: Path, tmp_path: Path
) -> None:
    applied(transport, examples)

    assert len(export(transport.client, tmp_path / "out")) == 2

    text = (tmp_path / "out" / "prompts" / "summarize.yaml").read_text()
    assert text.startswith("kind: prompt\nname: summarize\nversions:\n- template: |\n")
    assert text.endswith("labels:\n  production: 1\n")  # a production key's: staging's unseen
    experiment = (tmp_path / "out" / "experiments" / "summary-tone.yaml").read_text()
    assert experiment.startswith("kind: experiment\nkey: summary-tone\n")
    assert "prompt: summarize@2" in experiment


def test_the_rollout_command_applies_and_exports_over_http(
    served: str,
    editor: Api,
    examples: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROLLOUT_API_KEY", editor.secret)

    assert main(["apply", "-f", str(examples), "--url", served]) == 0
    assert "applied: 4 change(s)" in capsys.readouterr().out
    assert main(["--json", "apply", "-f", str(examples), "--url", served, "--dry-run"]) == 0
    assert '"unchanged": 4' in capsys.readouterr().out
    assert main(["export", "-o", str(tmp_path / "out"), "--url", served]) == 0
    assert "exported: 2 file(s)" in capsys.readouterr().out
    assert main(["apply", "-f", str(examples), "--url", served, "--key", "rk_wrong"]) == 1
    assert "401 unauthorized" in capsys.readouterr().out


def test_an_unreachable_service_is_reported_not_raised(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["apply", "-f", str(examples), "--url", "http://127.0.0.1:9", "--key", "k"])

    assert code == 1
    assert "rollout: cannot reach http://127.0.0.1:9" in capsys.readouterr().err
