"""Versions stored before `portable` existed read with the flag computed from their template."""

from __future__ import annotations

from experiments.store import Store

NOW = 1_750_000_000.0


def add_legacy(store: Store, name: str, template: str) -> int:
    """A version as the service stored it before the flag: no `portable` field."""
    document = {"name": name, "sha256": template, "template": template, "params": {}}
    version, created = store.prompts.add_version(name, template, document, {"at": NOW})
    assert created
    return version


def test_every_read_of_a_legacy_version_computes_its_flag(store: Store) -> None:
    assert add_legacy(store, "p", "Hi {{ name }}") == 1
    assert add_legacy(store, "p", "{% set x = 1 %}{{ x }}") == 2

    assert store.prompts.get_version("p", 1)["portable"] is True
    assert store.prompts.get_version("p", 2)["portable"] is False
    assert [v["portable"] for v in store.prompts.versions("p")] == [True, False]
    assert [s["latest"]["portable"] for s in store.prompts.summaries(["p"])] == [False]
    content = store.prompts.content("p", 2)
    assert content is not None and content["portable"] is False


def test_a_stored_flag_is_read_as_it_was_written(store: Store) -> None:
    # The flag is set once, at creation: a version reads with it even where today's check differs.
    document = {"name": "p", "sha256": "a", "template": "Hi {{ name }}", "portable": False}
    store.prompts.add_version("p", "a", document, {"at": NOW})

    assert store.prompts.get_version("p", 1)["portable"] is False
