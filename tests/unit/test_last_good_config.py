"""The last configuration kept on disk: whole or absent, never half, and never another's."""

from __future__ import annotations

from pathlib import Path

from experiments.model import Experiment
from rollout import last_good_config
from rollout.last_good_config import SavedConfig, backup_path
from tests.api.conftest import experiment_body


def saved(version: int = 7) -> SavedConfig:
    experiment = Experiment.model_validate(experiment_body() | {"status": "running"})
    return SavedConfig(
        version=version,
        experiments=[experiment],
        prompts={("summarize", 3): {"template": "Hi", "model": "m", "params": {}}},
        labels={"summarize": {"production": 3}},
    )


def test_what_is_saved_is_loaded_back(tmp_path: Path) -> None:
    path = backup_path(tmp_path, "redis://127.0.0.1:6379/0")
    last_good_config.save(path, saved())
    assert last_good_config.load(path) == saved()


def test_a_newer_save_replaces_the_file_and_leaves_no_temporary_behind(tmp_path: Path) -> None:
    path = backup_path(tmp_path, "redis://r/0")
    last_good_config.save(path, saved(7))
    last_good_config.save(path, saved(8))
    loaded = last_good_config.load(path)
    assert loaded is not None and loaded.version == 8
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_each_redis_url_has_its_own_file(tmp_path: Path) -> None:
    assert backup_path(tmp_path, "redis://a/0") != backup_path(tmp_path, "redis://b/0")


def test_a_missing_corrupt_or_foreign_file_reads_as_none(tmp_path: Path) -> None:
    path = backup_path(tmp_path, "redis://r/0")
    assert last_good_config.load(path) is None
    path.parent.mkdir(parents=True)
    for text in ['{"format": 1, "version": 3', '{"format": 99, "version": 3}', "[]",
                 '{"format": 1, "version": 3, "experiments": [{"key": "x"}], "prompts": [],'
                 ' "labels": {}}']:
        path.write_text(text)
        assert last_good_config.load(path) is None, text


def test_a_directory_that_cannot_be_written_is_logged_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    last_good_config.save(blocker / "config" / "last.json", saved())
    assert blocker.read_text() == "not a directory"
