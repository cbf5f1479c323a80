"""The `rollout` command through the real app, served over HTTP on 127.0.0.1 (werkzeug, in a
thread): what it prints, what `--json` prints (parsed here), and how it fails."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from werkzeug.serving import make_server

from rollout.cli.main import build_parser, main
from rollout.cli.output import Style
from rollout.cli.results import render_results
from rollout.embedded import free_port
from tests.api.conftest import Api, experiment_body
from tests.conftest import ADMIN_KEY

ANSI = re.compile(r"\033\[[0-9;]*m")

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def run(served: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """`rollout --url <served> --key <key> ARGS...` -> (exit code, stdout, stderr)."""

    def invoke(key: str | Api, *argv: str) -> tuple[int, str, str]:
        secret = key.secret if isinstance(key, Api) else key
        capsys.readouterr()
        code = main(["--url", served, "--key", secret, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def as_json(result: tuple[int, str, str]) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(path)


# --- experiments -----------------------------------------------------------------------------


def test_create_from_yaml_then_list_and_show(run: Run, editor: Api, tmp_path: Path) -> None:
    path = write(tmp_path, "exp.yaml", experiment_body("cli-yaml"))
    assert run(editor, "experiments", "create", "-f", path)[:2] == (0, "created cli-yaml (draft)\n")
    json_path = write(tmp_path, "exp.json", json.dumps(experiment_body("cli-json")))
    assert run(editor, "experiments", "create", "-f", json_path)[0] == 0

    listed = as_json(run(editor, "--json", "experiments", "list"))
    assert sorted(e["key"] for e in listed["experiments"]) == ["cli-json", "cli-yaml"]
    assert listed["total"] == 2
    drafts = as_json(run(editor, "experiments", "list", "--status", "running", "--json"))
    assert drafts["experiments"] == []

    shown = as_json(run(editor, "experiments", "show", "cli-yaml", "--json"))
    assert (shown["key"], shown["status"]) == ("cli-yaml", "draft")
    code, text, _ = run(editor, "experiments", "show", "cli-yaml")
    assert code == 0
    assert "friendly" in text and "thumbs_up" in text and "(control)" in text
    assert max(len(line) for line in text.splitlines()) <= 80


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_create_reads_the_apply_format(run: Run, editor: Api) -> None:
    """The README's `experiments create -f examples/experiments/summary-tone.yaml` (which has
    `kind: experiment`, as `rollout apply` reads it)."""
    assert run(editor, "apply", "-f", str(EXAMPLES / "prompts"))[0] == 0

    code, out, err = run(editor, "experiments", "create", "-f",
                         str(EXAMPLES / "experiments" / "summary-tone.yaml"))

    assert (code, out, err) == (0, "created summary-tone (draft)\n", "")


def test_create_refuses_a_document_of_another_kind(run: Run, editor: Api) -> None:
    code, out, err = run(editor, "experiments", "create", "-f",
                         str(EXAMPLES / "prompts" / "summarize.yaml"))
    assert (code, out) == (2, "")
    assert "kind must be `experiment`" in err


def test_the_list_shows_no_traffic_where_none_is_in_force(
    run: Run, editor: Api, release: Api, tmp_path: Path
) -> None:
    for key in ("cli-draft", "cli-back", "cli-done", "cli-live"):
        path = write(tmp_path, f"{key}.yaml", experiment_body(key, traffic=0.3))
        assert run(editor, "experiments", "create", "-f", path)[0] == 0
    for key in ("cli-back", "cli-done", "cli-live"):
        assert run(release, "experiments", "start", key)[0] == 0
    assert run(release, "experiments", "rollback", "cli-back", "--reason", "x")[0] == 0
    assert run(release, "experiments", "conclude", "cli-done", "--winner", "friendly")[0] == 0

    code, text, _ = run(editor, "experiments", "list")

    assert code == 0
    traffic = {line.split()[0]: line.split()[2] for line in text.splitlines()[1:]}
    assert traffic == {"cli-draft": "-", "cli-back": "-", "cli-done": "-", "cli-live": "30%"}


def test_the_lifecycle_from_the_shell(run: Run, editor: Api, release: Api, tmp_path: Path) -> None:
    body = experiment_body(
        "cli-life",
        rollout={"stages": [{"traffic": 0.1}, {"traffic": 0.5}], "auto_advance": False},
    )
    assert run(editor, "experiments", "create", "-f", write(tmp_path, "e.yaml", body))[0] == 0
    code, out, _ = run(release, "experiments", "start", "cli-life", "--reason", "go")
    assert (code, out) == (0, "cli-life: running, stage 0, traffic 10%\n")
    advanced = as_json(run(release, "--json", "experiments", "advance", "cli-life"))
    assert (advanced["experiment"]["stage"], advanced["pending"]) == (1, None)
    assert run(release, "experiments", "pause", "cli-life")[1] == (
        "cli-life: paused, stage 1, traffic 50%\n"
    )
    assert run(release, "experiments", "resume", "cli-life")[0] == 0
    code, out, _ = run(release, "experiments", "rollback", "cli-life", "--reason", "latency")
    assert (code, out) == (0, "cli-life: rolled_back, stage 1\n")

    history = as_json(run(editor, "experiments", "history", "cli-life", "--json"))
    actions = [entry["action"] for entry in history["history"]]
    assert actions[0] == "create" and "rollback" in actions
    assert any(entry.get("reason") == "latency" for entry in history["history"])
    code, text, _ = run(editor, "experiments", "history", "cli-life")
    assert code == 0 and "latency" in text


def test_conclude_ramp_and_evaluate(run: Run, editor: Api, release: Api, tmp_path: Path) -> None:
    assert run(editor, "experiments", "create", "-f",
               write(tmp_path, "e.yaml", experiment_body("cli-ship", traffic=0.2)))[0] == 0
    assert run(release, "experiments", "start", "cli-ship")[0] == 0
    ramped = as_json(run(release, "--json", "experiments", "ramp", "cli-ship", "--traffic", "0.6"))
    assert ramped["traffic"] == 0.6
    decision = as_json(run(release, "--json", "experiments", "evaluate", "cli-ship"))
    assert decision["action"] in {"advance", "hold", "rollback", "complete"}
    code, text, _ = run(release, "experiments", "evaluate", "cli-ship")
    assert code == 0 and text.startswith("cli-ship: ")
    code, out, _ = run(release, "experiments", "conclude", "cli-ship", "--winner", "friendly")
    assert (code, out) == (0, "cli-ship: concluded, winner friendly\n")


# --- failures ----------------------------------------------------------------------------------


def test_a_refused_transition_prints_the_services_message(
    run: Run, editor: Api, release: Api, tmp_path: Path
) -> None:
    assert run(editor, "experiments", "create", "-f",
               write(tmp_path, "e.yaml", experiment_body("cli-twice")))[0] == 0
    assert run(release, "experiments", "start", "cli-twice")[0] == 0
    code, out, err = run(release, "experiments", "start", "cli-twice")
    assert (code, out) == (1, "")
    assert err.startswith("rollout: ") and "running" in err


def test_invalid_fields_are_named(run: Run, editor: Api, tmp_path: Path) -> None:
    body = experiment_body("cli-bad", traffic=3, control="nobody")
    code, _, err = run(editor, "experiments", "create", "-f", write(tmp_path, "bad.yaml", body))
    assert code == 1
    assert "rollout: invalid fields" in err
    assert "  traffic: " in err


def test_unknown_things_and_wrong_keys_fail(run: Run, editor: Api, sdk: Api) -> None:
    code, _, err = run(editor, "experiments", "show", "nope")
    assert code == 1 and "not found" in err
    assert run(sdk, "experiments", "list")[0] == 1  # 403: the sdk role cannot read them
    code, _, err = run("rk_wrong", "experiments", "list")
    assert code == 1 and err.startswith("rollout: ")


def test_an_unreachable_service_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url, "--key", "k", "experiments", "list"]) == 1
    assert f"rollout: cannot reach {url}" in capsys.readouterr().err


def test_a_missing_file_is_a_usage_error(run: Run, editor: Api, tmp_path: Path) -> None:
    code, _, err = run(editor, "experiments", "create", "-f", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read" in err


def test_url_and_key_come_from_the_environment(
    served: str, editor: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROLLOUT_URL", served)
    monkeypatch.setenv("ROLLOUT_API_KEY", editor.secret)
    assert main(["experiments", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0


# --- results -----------------------------------------------------------------------------------


def results_document(status: str = "running") -> dict[str, Any]:
    comparison = {
        "variant": "friendly", "baseline": "control", "diff": 0.021, "ci": [-0.01, 0.05],
        "relative_lift": 0.105, "relative_ci": [-0.07, 0.28], "p_value": 0.24,
        "sequential_relative_ci": [-0.15, 0.41], "verdict": "inconclusive", "breached": None,
    }
    return {
        "experiment": "summary-tone-with-a-rather-long-key", "status": status, "stage": 0,
        "traffic": 0.02,
        "srm": {"p_value": 0.41, "ok": True, "sequential_p_value": 1.0, "level": 0.01},
        "variants": {"control": {"users": 1000}, "friendly": {"users": 1012}},
        "metrics": [
            {"metric": "thumbs_up", "type": "binary", "role": "primary", "direction": "increase",
             "variants": {"control": {"users": 1000, "mean": 0.2},
                          "friendly": {"users": 1012, "mean": 0.221}},
             "comparisons": [comparison]},
            {"metric": "latency_ms", "type": "mean", "role": "guardrail",
             "direction": "decrease", "max_regression": 0.1,
             "variants": {"control": {"users": 1000, "mean": 812.5},
                          "friendly": {"users": 1012, "mean": 1200.25}},
             "comparisons": [comparison | {"relative_lift": 0.477, "relative_ci": [0.3, 0.6],
                                           "sequential_relative_ci": [0.21, 0.75],
                                           "verdict": "worse", "breached": True,
                                           "harm_bound": 140.2}]},
        ],
        "decision": {"action": "rollback",
                     "reasons": ["guardrail latency_ms: the always-valid interval lies wholly"
                                 " beyond the tolerated regression of 10%"]},
    }


def test_the_results_table_fits_80_columns_and_colours_verdicts() -> None:
    coloured = render_results(results_document(), Style(True))
    plain = render_results(results_document(), Style(False))
    assert ANSI.sub("", coloured) == plain
    assert max(len(line) for line in plain.splitlines()) <= 80
    assert "\033[31mbreached\033[0m" in coloured and "\033[33minconclusive\033[0m" in coloured
    assert "\033[31mrollback\033[0m" in coloured
    row = next(line for line in plain.splitlines() if line.startswith("  friendly"))
    assert row.split() == ["friendly", "22.1%", "+10.5%", "[-7.0%,", "+28%]", "[-15%,", "+41%]",
                           "inconclusive"]


def guardrail_row(document: dict[str, Any]) -> str:
    plain = render_results(document, Style(False))
    block = plain.split("\nlatency_ms  (")[1]
    return next(line for line in block.splitlines() if line.startswith("  friendly"))


def test_a_guardrail_inside_its_tolerance_reads_within_tolerance() -> None:
    document = results_document()
    latency = document["metrics"][1]["comparisons"][0]
    latency.update(sequential_relative_ci=[-0.014, 0.012], verdict="inconclusive", breached=False)

    assert guardrail_row(document).endswith("within tolerance")


def test_a_guardrail_straddling_its_tolerance_stays_inconclusive() -> None:
    document = results_document()
    document["metrics"][1]["comparisons"][0].update(sequential_relative_ci=[-0.05, 0.2],
                                                    breached=False)

    assert guardrail_row(document).endswith("inconclusive")


def test_a_guardrail_beyond_its_tolerance_reads_breached() -> None:
    assert guardrail_row(results_document()).endswith("breached")


def test_a_breach_without_a_relative_interval_reads_breached() -> None:
    # A control without any error: no relative interval, but the controller's contrast test
    # breaches, and the table says what the controller does.
    document = results_document()
    document["metrics"][1]["comparisons"][0].update(relative_ci=None, sequential_relative_ci=None)

    assert guardrail_row(document).endswith("breached")


def test_an_interval_beyond_the_tolerance_without_the_controllers_breach_is_inconclusive() -> None:
    document = results_document()
    document["metrics"][1]["comparisons"][0]["breached"] = False

    assert guardrail_row(document).endswith("inconclusive")


def test_the_srm_line_shows_the_chi_square_and_the_sequential_test() -> None:
    document = results_document()
    document["srm"].update(p_value=0.0004, sequential_p_value=0.2, ok=True)

    plain = render_results(document, Style(False))

    assert "SRM  chi-square p=0.0004  sequential p=0.2 at level 0.01  ok" in plain.splitlines()


def test_a_quantile_guardrail_shows_its_quantile_with_intervals_and_breach() -> None:
    document = results_document()
    latency = document["metrics"][1]
    latency["comparisons"][0].update(sequential_relative_ci=[0.01, 0.09], breached=True)
    latency["quantile"] = {
        "q": 0.95,
        "variants": {
            "control": {"events": 4000, "estimate": 812.5, "ci": [790.0, 830.0],
                        "sequential_ci": [750.0, 901.0], "p50": 400.0, "p95": 812.5},
            "friendly": {"events": 4100, "estimate": 1040.0, "ci": [1000.0, 1100.0],
                         "sequential_ci": [950.0, None], "p50": 380.0, "p95": 1040.0},
        },
        "comparisons": [{"variant": "friendly", "baseline": "control", "relative_change": 0.28,
                         "sequential_relative_ci": [0.15, None], "breached": True}],
    }

    plain = render_results(document, Style(False))

    lines = plain.split("\nlatency_ms  (")[1].splitlines()
    assert "  p95 of     value     events  95% CI              always-valid" in lines
    assert next(line for line in lines if line.startswith("  friendly   1040")).split() == [
        "friendly", "1040", "4100", "[1000,", "1100]", "[950,", "inf]"]
    assert "  p95 friendly vs control  +28.0%  always-valid [+15%, inf]  breached" in lines
    assert max(len(line) for line in plain.splitlines()) <= 80


def test_the_services_own_verdict_detail_is_shown_when_it_sends_one() -> None:
    document = results_document()
    document["metrics"][1]["comparisons"][0]["verdict_detail"] = "within the 10% tolerance"

    assert guardrail_row(document).endswith("within the 10% tolerance")


def test_power_figures_stand_under_the_primary_metric() -> None:
    document = results_document()
    document["metrics"][0]["power"] = {
        "alpha": 0.05, "power": 0.8, "effect": 0.05, "users_per_variant": 1000, "mde": 0.05,
        "relative_mde": 0.25, "users_per_variant_needed": 25_000,
        "fixed_users_per_variant_needed": 12_500, "reason": None,
    }

    plain = render_results(document, Style(False))

    assert "power  detects 25% now with 1000 users a variant; +5.0% needs 25000" in plain
    assert "25000 users a variant (always-valid), 12500 fixed-horizon" in " ".join(plain.split())
    assert max(len(line) for line in plain.splitlines()) <= 80


def test_results_of_a_live_experiment(
    run: Run, editor: Api, release: Api, sdk: Api, tmp_path: Path
) -> None:
    assert run(editor, "experiments", "create", "-f",
               write(tmp_path, "e.yaml", experiment_body("cli-results")))[0] == 0
    assert run(release, "experiments", "start", "cli-results")[0] == 0
    events = []
    for index in range(60):
        user = f"user-{index}"
        answer = sdk.post("/api/v1/assign", json={"user_id": user, "experiments": ["cli-results"]})
        assert answer.status_code == 200
        events.append({"event_id": f"e-{index}", "user_id": user, "experiment": "cli-results",
                       "metric": "thumbs_up", "value": index % 3})
    assert sdk.post("/api/v1/events", json={"events": events}).get_json()["accepted"] == 60

    results = as_json(run(editor, "results", "cli-results", "--json"))
    assert sum(v["users"] for v in results["variants"].values()) == 60
    code, text, _ = run(editor, "results", "cli-results")
    assert code == 0
    assert "thumbs_up" in text and "latency_ms" in text and "always-valid" in text
    code, text, _ = run(editor, "results", "cli-results", "--effect", "0.05")
    assert code == 0
    assert "power  " in text and "+5.0% needs" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\033[" not in text  # not a terminal: no colour


# --- prompts -------------------------------------------------------------------------------------


def test_prompts_push_list_show_diff_label_render(run: Run, editor: Api, tmp_path: Path) -> None:
    first = write(tmp_path, "v1.txt", "Summarise for {{ audience }}:\n{{ text }}\n")
    code, out, _ = run(editor, "prompts", "push", "cli-sum", "-f", first, "--model", "gpt-x",
                       "--param", "temperature=0.3", "-m", "first")
    assert code == 0 and out.startswith("cli-sum@1  sha256 ")
    second = write(tmp_path, "v2.yaml", {"template": "Briefly, for {{ audience }}:\n{{ text }}\n",
                                         "model": "gpt-x", "params": {"temperature": 0.3}})
    pushed = as_json(run(editor, "--json", "prompts", "push", "cli-sum", "-f", second))
    assert pushed["version"] == 2

    listed = as_json(run(editor, "prompts", "list", "--json"))
    assert [(p["name"], p["versions"]) for p in listed["prompts"]] == [("cli-sum", 2)]
    shown = as_json(run(editor, "prompts", "show", "cli-sum", "--json"))
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    one = as_json(run(editor, "prompts", "show", "cli-sum", "--version", "1", "--json"))
    assert one["params"] == {"temperature": 0.3} and one["message"] == "first"

    code, diff, _ = run(editor, "prompts", "diff", "cli-sum", "1", "2")
    assert code == 0
    assert "-Summarise for {{ audience }}:" in diff and "+Briefly, for {{ audience }}:" in diff

    assert run(editor, "prompts", "label", "cli-sum", "production", "2")[1] == (
        "cli-sum: production -> @2\n"
    )
    code, text, _ = run(editor, "prompts", "render", "cli-sum", "--var", "audience=kids",
                        "--var", "text=Once upon a time")
    assert (code, text) == (0, "Briefly, for kids:\nOnce upon a time\n")
    variables = write(tmp_path, "vars.json", json.dumps({"audience": "adults", "text": "x"}))
    rendered = as_json(run(editor, "--json", "prompts", "render", "cli-sum", "--version", "1",
                           "--vars", variables))
    assert rendered == {"text": "Summarise for adults:\nx\n"}

    code, _, err = run(editor, "prompts", "render", "cli-sum", "--var", "audience=kids")
    assert code == 1 and "text" in err  # the missing variable, named by the service


def test_a_diff_notes_a_missing_final_line_break_once_at_the_end(
    run: Run, editor: Api, tmp_path: Path
) -> None:
    for text in ("Summarise {{ text }}", "Briefly: {{ text }}"):
        template = write(tmp_path, "t.txt", text)
        assert run(editor, "prompts", "push", "cli-nl", "-f", template, "--model", "m")[0] == 0

    code, diff, _ = run(editor, "prompts", "diff", "cli-nl", "1", "2")

    assert code == 0
    assert "No newline" not in diff
    assert "-Summarise {{ text }}" in diff and "+Briefly: {{ text }}" in diff
    assert diff.splitlines()[-1] == "(no line break at the end of the template of @1 and @2)"


# --- keys ----------------------------------------------------------------------------------------


def test_keys_over_http(run: Run, served: str) -> None:
    created = as_json(run(ADMIN_KEY, "--json", "keys", "create", "--role", "sdk", "--name", "app"))
    assert created["role"] == "sdk" and created["secret"]
    listed = as_json(run(ADMIN_KEY, "keys", "list", "--json"))
    assert "app" in [k["name"] for k in listed["keys"]]
    assert run(ADMIN_KEY, "keys", "revoke", "app")[:2] == (0, f"revoked app on {served}\n")
    listed = as_json(run(ADMIN_KEY, "keys", "list", "--json"))
    assert "app" not in [k["name"] for k in listed["keys"]]


def test_keys_create_says_which_service_it_talks_to(run: Run, served: str) -> None:
    code, out, _ = run(ADMIN_KEY, "keys", "create", "--role", "sdk", "--name", "app")
    secret, note = out.splitlines()
    assert code == 0 and secret.startswith("rk_")
    assert note == f"(role sdk, environment production on {served}; shown once)"


def test_keys_follow_rollout_url_and_key_never_redis_behind_their_back(
    served: str, editor: Api, admin: Api, redis_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An editor key for a service in the environment, and a Redis on this machine: the key is
    refused by that service (403), and no admin key appears in the local Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ROLLOUT_URL", served)
    monkeypatch.setenv("ROLLOUT_API_KEY", editor.secret)

    assert main(["keys", "create", "--role", "admin", "--name", "sneaky"]) == 1

    assert capsys.readouterr().err.startswith(f"rollout: {served}: ")
    listed = admin.get("/api/v1/keys")
    assert listed.status_code == 200
    assert "sneaky" not in [k["name"] for k in listed.get_json()["keys"]]


def test_keys_without_a_key_name_the_way_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ROLLOUT_API_KEY", raising=False)
    monkeypatch.setenv("ROLLOUT_URL", "http://127.0.0.1:9")
    assert main(["keys", "create", "--role", "sdk", "--name", "app"]) == 2
    err = capsys.readouterr().err
    assert "no API key for http://127.0.0.1:9" in err
    assert "ROLLOUT_API_KEY" in err and "--local" in err


def test_the_first_key_goes_straight_to_redis_only_with_local(
    redis_url: str, client: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("ROLLOUT_URL", raising=False)
    monkeypatch.delenv("ROLLOUT_API_KEY", raising=False)
    assert main(["keys", "create", "--role", "editor", "--name", "bootstrap", "--local"]) == 0
    secret, note = capsys.readouterr().out.splitlines()
    assert note.startswith("(role editor, environment production on Redis at redis://127.0.0.1:")
    response = client.get("/api/v1/experiments", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200


def test_local_takes_no_url_or_key(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--url", "http://127.0.0.1:9", "keys", "create", "--role", "sdk", "--name", "x"]
    assert main([*argv, "--local"]) == 2
    assert "--local" in capsys.readouterr().err


def test_an_unreachable_redis_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.delenv("ROLLOUT_URL", raising=False)
    monkeypatch.delenv("ROLLOUT_API_KEY", raising=False)
    assert main(["keys", "create", "--role", "sdk", "--name", "x", "--local"]) == 1
    assert capsys.readouterr().err.startswith("rollout: Redis: ")


# --- help ----------------------------------------------------------------------------------------


def test_the_top_level_help_names_no_source_file() -> None:
    text = build_parser().format_help()
    assert "apply" in text
    assert ".py" not in text
