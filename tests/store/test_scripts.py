"""Scripts run in one round trip and survive a SCRIPT FLUSH (a restarted or flushed Redis)."""

from __future__ import annotations

from experiments.store import Store
from experiments.store.exposures import ExposureWrite


def test_a_batch_over_several_experiments_is_recorded_after_a_script_flush(store: Store) -> None:
    first = store.exposures.record(
        [ExposureWrite("a", "u1", 0), ExposureWrite("b", "u1", 1)], now=100.0
    )
    assert [r.recorded_now for r in first] == [True, True]
    store.redis.script_flush()
    again = store.exposures.record(
        [ExposureWrite("a", "u1", 1), ExposureWrite("b", "u2", 0)], now=101.0
    )
    assert [(r.variant_index, r.recorded_now) for r in again] == [(0, False), (0, True)]


def test_a_single_call_reloads_its_script_after_a_flush(store: Store) -> None:
    store.exposures.record([ExposureWrite("a", "u1", 0)], now=100.0)
    store.redis.script_flush()
    [record] = store.exposures.record([ExposureWrite("a", "u2", 1)], now=101.0)
    assert (record.variant_index, record.recorded_now) == (1, True)


def script_commands(store: Store) -> int:
    """SCRIPT EXISTS/LOAD calls so far (Redis 6 counts them under `script`, 7 per subcommand)."""
    stats = store.redis.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_script"))


def test_a_batch_asks_no_script_question_once_the_script_is_loaded(store: Store) -> None:
    writes = [ExposureWrite("a", "u1", 0), ExposureWrite("b", "u1", 1)]
    store.redis.script_flush()  # as after a restart: the server has no script yet
    store.redis.config_resetstat()
    store.exposures.record(writes, now=100.0)
    assert script_commands(store) == 1  # the one SCRIPT LOAD after the first NOSCRIPT
    store.exposures.record(writes, now=101.0)
    store.exposures.record(writes, now=102.0)
    assert script_commands(store) == 1


def test_a_single_call_on_a_connection_the_server_dropped_runs_on_a_new_one(
    store: Store,
) -> None:
    """A single call keeps its thread's connection between calls (experiments/store/scripts.py);
    once Redis has dropped it (a restart, a timeout, CLIENT KILL) the call is sent again through
    the client, and counts once."""
    store.exposures.record([ExposureWrite("a", "u1", 0)], now=100.0)
    killed = store.redis.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1  # every client's connection but this one's: the held one too
    [record] = store.exposures.record([ExposureWrite("a", "u2", 1)], now=101.0)
    assert (record.variant_index, record.recorded_now) == (1, True)
    [again] = store.exposures.record([ExposureWrite("a", "u2", 0)], now=102.0)
    assert (again.variant_index, again.recorded_now) == (1, False)
    assert store.redis.hget(store.keys.sufficient_stats("a"), "users:1") == "1"
