"""The `rollout` command and environments: `--env` / ROLLOUT_ENV choose where a command acts,
`rollout env` manages them, `rollout promote` and `rollout prompts promote` move work from one to
another, and `keys create --env` makes a key of one environment (through the real app over HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api import test_cli
from tests.api.conftest import Api, experiment_body
from tests.api.test_cli import Run, as_json, write
from tests.conftest import ADMIN_KEY

# The CLI's fixtures: the app served over HTTP, and `rollout` run against it.
served = test_cli.served
run = test_cli.run


def _create(run: Run, key: str, environment: str, tmp_path: Path) -> None:
    path = write(tmp_path, f"{key}-{environment}.yaml", experiment_body(key))
    assert run(ADMIN_KEY, "--env", environment, "experiments", "create", "-f", path)[0] == 0


def _keys_in(run: Run, environment: str | None) -> list[str]:
    argv = ("--env", environment) if environment else ()
    listed = as_json(run(ADMIN_KEY, *argv, "experiments", "list", "--json"))
    return [e["key"] for e in listed["experiments"]]


def test_the_three_environments_are_listed_from_the_start(run: Run) -> None:
    listed = as_json(run(ADMIN_KEY, "env", "list", "--json"))
    names = [e["name"] for e in listed["environments"]]
    assert {"development", "staging", "production"} <= set(names)
    code, text, _ = run(ADMIN_KEY, "env", "list")
    assert code == 0 and "staging" in text and "production" in text


def test_env_create_rename_archive(run: Run) -> None:
    created = as_json(run(ADMIN_KEY, "env", "create", "qa", "--display-name", "QA",
                          "--review", "--json"))
    assert (created["name"], created["display_name"]) == ("qa", "QA")
    assert created["settings"]["review_required"] is True

    renamed = as_json(run(ADMIN_KEY, "env", "rename", "qa", "Quality assurance", "--json"))
    assert renamed["display_name"] == "Quality assurance"
    archived = as_json(run(ADMIN_KEY, "env", "archive", "qa", "--json"))
    assert archived["archived"] is True
    code, _, err = run(ADMIN_KEY, "--env", "qa", "experiments", "list")
    assert code == 1 and err.startswith("rollout: ")


def test_production_cannot_be_archived(run: Run) -> None:
    code, out, err = run(ADMIN_KEY, "env", "archive", "production")
    assert (code, out) == (1, "")
    assert err.startswith("rollout: ")


def test_env_names_where_a_command_acts_and_production_is_the_default(
    run: Run, tmp_path: Path
) -> None:
    _create(run, "tried-in-staging", "staging", tmp_path)

    assert _keys_in(run, "staging") == ["tried-in-staging"]
    assert _keys_in(run, None) == []
    assert _keys_in(run, "production") == []
    shown = as_json(run(ADMIN_KEY, "experiments", "show", "tried-in-staging", "--env", "staging",
                        "--json"))
    assert shown["environment"] == "staging"
    code, text, _ = run(ADMIN_KEY, "--env", "staging", "experiments", "show", "tried-in-staging")
    assert code == 0 and "  in        staging" in text.splitlines()


def test_rollout_env_variable_names_the_environment(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create(run, "from-the-variable", "staging", tmp_path)
    monkeypatch.setenv("ROLLOUT_ENV", "staging")
    assert _keys_in(run, None) == ["from-the-variable"]
    assert _keys_in(run, "production") == []  # --env wins over the variable


def test_an_unknown_environment_is_refused(run: Run) -> None:
    code, out, err = run(ADMIN_KEY, "--env", "nowhere", "experiments", "list")
    assert (code, out) == (1, "")
    assert err.startswith("rollout: ")


def test_a_key_of_staging_acts_in_staging_and_is_refused_elsewhere(
    run: Run, tmp_path: Path
) -> None:
    created = as_json(run(ADMIN_KEY, "keys", "create", "--role", "editor", "--name", "ci-staging",
                          "--env", "staging", "--json"))
    assert created["environment"] == "staging"
    staging_editor = created["secret"]
    path = write(tmp_path, "exp.yaml", experiment_body("made-by-ci"))
    assert run(staging_editor, "experiments", "create", "-f", path)[0] == 0

    assert _keys_in(run, "staging") == ["made-by-ci"]
    assert _keys_in(run, "production") == []
    code, out, err = run(staging_editor, "--env", "production", "experiments", "list")
    assert (code, out) == (1, "")
    assert err.startswith("rollout: ")


def test_keys_list_shows_each_keys_environment(run: Run) -> None:
    for name, argv in (("of-staging", ("--env", "staging")),
                       ("of-all", ("--all-environments",)), ("of-default", ())):
        assert run(ADMIN_KEY, "keys", "create", "--role", "release", "--name", name, *argv)[0] == 0

    listed = as_json(run(ADMIN_KEY, "keys", "list", "--json"))
    scopes = {k["name"]: k["environment"] for k in listed["keys"]}
    assert scopes == {"of-staging": "staging", "of-all": None, "of-default": "production"}
    code, text, _ = run(ADMIN_KEY, "keys", "list")
    assert code == 0
    columns = {line.split()[0]: line.split()[2] for line in text.splitlines()}
    assert columns == {"of-staging": "staging", "of-all": "*", "of-default": "production"}


def test_keys_create_refuses_env_with_all_environments(run: Run) -> None:
    code, out, err = run(ADMIN_KEY, "keys", "create", "--role", "sdk", "--name", "x",
                         "--env", "staging", "--all-environments")
    assert (code, out) == (2, "")
    assert "choose one" in err


def test_promote_copies_the_definition_as_a_draft_and_both_histories_say_so(
    run: Run, tmp_path: Path
) -> None:
    _create(run, "promoted", "staging", tmp_path)
    assert run(ADMIN_KEY, "--env", "staging", "experiments", "start", "promoted")[0] == 0

    code, out, err = run(ADMIN_KEY, "promote", "promoted", "--from", "staging",
                         "--to", "production")
    assert code == 0, err
    assert out.startswith("promoted: copied from staging to production as draft")

    in_production = as_json(run(ADMIN_KEY, "experiments", "show", "promoted", "--json"))
    assert (in_production["status"], in_production["environment"]) == ("draft", "production")
    in_staging = as_json(run(ADMIN_KEY, "--env", "staging", "experiments", "show", "promoted",
                             "--json"))
    assert in_staging["status"] == "running"  # the source keeps running as it was
    for environment in ("staging", "production"):
        history = as_json(run(ADMIN_KEY, "--env", environment, "experiments", "history",
                              "promoted", "--json"))
        assert any("promot" in entry["action"] for entry in history["history"]), environment


def test_promote_refuses_a_key_of_one_environment(run: Run, admin: Api, tmp_path: Path) -> None:
    _create(run, "not-mine", "staging", tmp_path)
    created = as_json(run(ADMIN_KEY, "keys", "create", "--role", "release", "--name", "r-staging",
                          "--env", "staging", "--json"))
    code, out, err = run(created["secret"], "promote", "not-mine", "--from", "staging",
                         "--to", "production")
    assert (code, out) == (1, "")
    assert err.startswith("rollout: ")
    assert _keys_in(run, "production") == []


def _two_versions(run: Run, tmp_path: Path, name: str) -> None:
    for text in ("Summarize {{ text }}.", "Summarize {{ text }} kindly."):
        path = write(tmp_path, "t.j2", text)
        assert run(ADMIN_KEY, "prompts", "push", name, "-f", path, "--model", "m")[0] == 0
    assert run(ADMIN_KEY, "--env", "staging", "prompts", "label", name, "staging", "2")[0] == 0


def test_prompts_promote_moves_the_targets_label_to_the_sources_version(
    run: Run, tmp_path: Path
) -> None:
    _two_versions(run, tmp_path, "promo")
    assert run(ADMIN_KEY, "env", "settings", "development", "--no-review")[0] == 0

    code, out, err = run(ADMIN_KEY, "prompts", "promote", "promo", "--from", "staging",
                         "--to", "development")

    assert (code, out) == (0, "promo: development -> @2 (as staging)\n"), err
    shown = as_json(run(ADMIN_KEY, "prompts", "show", "promo", "--json"))
    assert (shown["labels"]["development"], shown["labels"]["staging"]) == (2, 2)


def test_prompts_promote_waits_for_review_where_the_target_requires_it(
    run: Run, tmp_path: Path
) -> None:
    _two_versions(run, tmp_path, "reviewed")
    assert run(ADMIN_KEY, "env", "settings", "development", "--review")[0] == 0

    code, out, err = run(ADMIN_KEY, "prompts", "promote", "reviewed", "--from", "staging",
                         "--to", "development")

    assert code == 0, err
    assert out.startswith("reviewed: moving development to staging's version waits for approval")
    shown = as_json(run(ADMIN_KEY, "prompts", "show", "reviewed", "--json"))
    assert "development" not in shown["labels"]


def test_apply_with_env_defines_there_and_moves_only_that_environments_label(
    run: Run,
) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    code, out, err = run(ADMIN_KEY, "apply", "-f", str(examples), "--env", "staging")
    assert code == 0, out + err
    assert "label 'production' is environment production's; left alone" in out
    assert out.rstrip().endswith("in staging")

    assert _keys_in(run, "staging") == ["summary-tone"]
    assert _keys_in(run, "production") == []
    shown = as_json(run(ADMIN_KEY, "prompts", "show", "summarize", "--json"))
    assert shown["labels"] == {"staging": 2}
