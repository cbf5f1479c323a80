"""The SDK's queues with no service to send to: bounded, counted, and refusing bad values."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rollout_sdk import RolloutClient
from rollout_sdk.client import OFFLINE, UNKNOWN_EXPERIMENT

DOCUMENT = {
    "version": 3,
    "experiments": [{
        "key": "tone", "seed": "tone", "status": "running", "control": "a", "traffic": 1.0,
        "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    }],
    "prompts": {},
}


@pytest.fixture
def unreachable() -> str:
    """The address of a port nobody listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def make_client(unreachable: str) -> Iterator[Callable[..., RolloutClient]]:
    made: list[RolloutClient] = []

    def make(**options: Any) -> RolloutClient:
        client = RolloutClient(unreachable, "rk_x", timeout_s=0.2, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=0.1)


def test_a_full_queue_counts_what_it_refuses(make_client: Callable[..., RolloutClient]) -> None:
    client = make_client(max_queue=5, flush_interval_s=60)
    ids = [client.track(f"u{i}", "e", "m", 1) for i in range(8)]
    assert ids[5:] == [None, None, None]
    assert len(set(ids[:5])) == 5
    stats = client.stats()
    assert (stats.events_queued, stats.events_overflow) == (5, 3)
    assert client.close(timeout=0.3) is False  # the service never answered: reported unsent


def test_track_refuses_values_that_are_not_finite(
    make_client: Callable[..., RolloutClient],
) -> None:
    client = make_client()
    with pytest.raises(ValueError):
        client.track("u1", "e", "m", float("nan"))
    with pytest.raises(ValueError):
        client.track("u1", "e", "m", 1.0, denominator=float("inf"))
    assert client.stats().events_queued == 0


def test_without_any_configuration_every_answer_is_control_offline(
    make_client: Callable[..., RolloutClient],
) -> None:
    answer = make_client(controls={"tone": "a"}).assign("u1", "tone")
    assert (answer.variant, answer.in_experiment, answer.reason) == ("a", False, OFFLINE)


def test_a_bootstrap_document_answers_and_queues_one_exposure_a_user(
    make_client: Callable[..., RolloutClient],
) -> None:
    client = make_client(bootstrap=DOCUMENT, flush_interval_s=60)
    answers = [client.assign("u1", "tone") for _ in range(3)]
    assert answers[0].in_experiment and answers[0].variant in {"a", "b"}
    assert answers[1] is answers[0] and answers[2] is answers[0]
    assert client.stats().exposures_queued == 1
    assert client.config_version == 3
    unknown = client.assign("u1", "other")
    assert (unknown.variant, unknown.reason) == ("control", UNKNOWN_EXPERIMENT)


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"batch_size": 1001}, {"max_queue": 0},
                                     {"exposure_cache_size": -1}])
def test_options_out_of_range_are_refused(unreachable: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RolloutClient(unreachable, "rk_x", timeout_s=0.2, **options)
