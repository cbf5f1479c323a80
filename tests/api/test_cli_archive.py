"""`rollout experiments archive KEY` and `rollout prompts archive NAME` through the real app over
HTTP: what they print, and that `list` hides the archived ones unless `--archived`."""

from __future__ import annotations

from tests.api.conftest import Api, experiment_body, ok
from tests.api.test_cli import Run, as_json, run, served

__all__ = ["run", "served"]  # the fixtures of test_cli.py, used here by name


def test_experiments_archive_hides_it_from_the_list_until_unarchived(
    run: Run, admin: Api, editor: Api
) -> None:
    ok(admin.post("/api/v1/experiments", json=experiment_body("retired")))
    code, out, err = run(editor, "experiments", "archive", "retired", "--reason", "old")
    assert (code, out, err) == (0, "retired: draft, archived\n", "")
    assert as_json(run(editor, "--json", "experiments", "list"))["experiments"] == []
    everything = as_json(run(editor, "--json", "experiments", "list", "--archived"))
    assert [e["key"] for e in everything["experiments"]] == ["retired"]
    assert run(editor, "experiments", "unarchive", "retired")[:2] == (0, "retired: draft\n")
    listed = as_json(run(editor, "--json", "experiments", "list"))["experiments"]
    assert [e["key"] for e in listed] == ["retired"]


def test_experiments_archive_of_a_running_one_fails_with_the_conflict(
    run: Run, admin: Api, editor: Api
) -> None:
    ok(admin.post("/api/v1/experiments", json=experiment_body("live")))
    ok(admin.post("/api/v1/experiments/live/start", json={}))
    code, _, err = run(editor, "experiments", "archive", "live")
    assert code != 0
    assert "'live' is running: only a draft, concluded or rolled back" in err


def test_prompts_archive_hides_it_from_the_list_until_unarchived(run: Run, admin: Api) -> None:
    # A prompt's archive state is every environment's: an editor key of all environments.
    created = ok(admin.post("/api/v1/keys", json={"name": "ed-all", "role": "editor",
                                                  "environment": None})).get_json()
    assert created["environment"] is None
    editor = Api(admin.client, created["secret"])
    version = {"template": "Summarize {{ text }}", "model": "gpt-4o-mini"}
    ok(editor.post("/api/v1/prompts/summarize/versions", json=version))
    assert run(editor, "prompts", "archive", "summarize")[:2] == (0, "summarize: archived\n")
    assert as_json(run(editor, "--json", "prompts", "list"))["prompts"] == []
    everything = as_json(run(editor, "--json", "prompts", "list", "--archived"))["prompts"]
    assert [p["name"] for p in everything] == ["summarize"]
    assert run(editor, "prompts", "unarchive", "summarize")[:2] == (0, "summarize: not archived\n")
    assert [p["name"] for p in as_json(run(editor, "--json", "prompts", "list"))["prompts"]] == [
        "summarize"
    ]
