"""The configuration stamp and its watcher against the real redis-server, data loss included."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from experiments.model import Experiment, HistoryEntry
from experiments.prompts.version import PromptVersionCreate
from experiments.store import ConfigStamp, Store
from rollout.config.live import LiveConfig
from rollout.config.watcher import ConfigWatcher, newer
from rollout.operations.prompts import create_version, move_label

POLL_S = 0.05


def draft(key: str) -> Experiment:
    return Experiment.model_validate({
        "key": key,
        "name": key,
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "control": "control",
        "metrics": [{"key": "thumbs_up", "type": "binary", "role": "primary"}],
    })


def create(store: Store, key: str) -> None:
    saved = store.experiments.create(draft(key), HistoryEntry(at=0.0, actor="t", action="create"))
    assert saved.key == key


def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S / 2)
    return condition()


def flushall(redis_url: str) -> None:
    """Redis loses its data, as after a restart without AOF."""
    client = redis.Redis.from_url(redis_url)
    assert client.flushall()
    client.close()


@pytest.fixture
def watcher(store: Store) -> Iterator[ConfigWatcher]:
    w = ConfigWatcher(store.config, poll_s=POLL_S)
    yield w
    w.close()


def test_the_epoch_is_set_once_and_read_alike_by_every_client(store: Store, redis_url: str) -> None:
    other = Store.from_url(redis_url)
    first = store.config.epoch()
    assert len(first) == 16
    assert other.config.epoch() == first
    assert store.config.epoch() == first
    other.close()


def test_an_announce_counts_a_change_within_the_epoch(store: Store) -> None:
    before = store.config.current()
    after = store.announce_change()
    assert after == ConfigStamp(before.epoch, before.version + 1)
    assert store.config.current() == after


def test_losing_the_data_starts_a_new_epoch(store: Store, redis_url: str) -> None:
    old = store.announce_change()
    flushall(redis_url)
    new = store.config.current()
    assert new.epoch != old.epoch
    assert new.version == 0


def test_a_later_version_of_the_epoch_wins_and_a_new_epoch_wins_whatever_its_version() -> None:
    known = ConfigStamp("a", 7)
    assert newer(known, ConfigStamp("a", 8)) == ConfigStamp("a", 8)
    assert newer(known, ConfigStamp("a", 3)) == known  # a late message changes nothing
    assert newer(known, ConfigStamp("b", 1)) == ConfigStamp("b", 1)


def test_the_watcher_hears_another_clients_change_within_its_propagation_time(
    store: Store, redis_url: str, watcher: ConfigWatcher
) -> None:
    known = watcher.stamp
    other = Store.from_url(redis_url)
    changed = other.announce_change()
    assert changed.version == known.version + 1
    assert eventually(lambda: watcher.stamp == changed, within_s=watcher.propagation_s + 1)
    other.close()


def test_a_worker_serves_the_new_data_after_redis_lost_its_own(
    store: Store, redis_url: str, watcher: ConfigWatcher
) -> None:
    live = LiveConfig(store, watcher)
    for key in ("a", "b", "c"):
        create(store, key)
    assert sorted(live.snapshot().experiments) == ["a", "b", "c"]
    flushall(redis_url)
    other = Store.from_url(redis_url)
    create(other, "fresh")  # version 1 of a new epoch, far below the version the worker saw
    assert eventually(lambda: sorted(live.snapshot().experiments) == ["fresh"])
    other.close()


def publish(store: Store, template: str) -> None:
    """Version 1 of prompt `p`, labelled production (so the configuration carries it)."""
    document, created = create_version(store, "p", PromptVersionCreate(template=template), "t", 0.0)
    assert created and document["version"] == 1
    moved = move_label(store, "p", "production", 1, "t", 0.0, review_required=False)
    assert moved.pending is None


def test_a_prompt_version_of_the_new_data_is_not_taken_for_the_old_one_of_its_number(
    store: Store, redis_url: str, watcher: ConfigWatcher
) -> None:
    live = LiveConfig(store, watcher)
    publish(store, "old {{ x }}")
    assert live.snapshot().prompts[("p", 1)]["template"] == "old {{ x }}"
    flushall(redis_url)
    other = Store.from_url(redis_url)
    publish(other, "new {{ x }}")  # p@1 again, other content
    assert eventually(
        lambda: live.snapshot().prompts.get(("p", 1), {}).get("template") == "new {{ x }}"
    )
    other.close()
