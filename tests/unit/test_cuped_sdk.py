"""The Python SDK sends a user's covariates with the exposure its local assign queues."""

from __future__ import annotations

import socket

from rollout_sdk import RolloutClient
from rollout_sdk.sender import _items

DOCUMENT = {
    "version": 1,
    "experiments": [{
        "key": "tone", "seed": "tone", "status": "running", "control": "a", "traffic": 1.0,
        "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
    }],
    "prompts": {},
}


def unreachable() -> str:
    """The address of a port nobody listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_assign_queues_the_exposure_with_its_attributes_and_covariates() -> None:
    client = RolloutClient(unreachable(), "rk_x", timeout_s=0.2, bootstrap=DOCUMENT,
                           flush_interval_s=60)
    try:
        answer = client.assign("u1", "tone", {"model": "claude"}, covariates={"requests": 12.0})
        assert answer.in_experiment
        (queued,) = list(client._sender.exposures)
        (item,) = _items("exposures", [queued])
    finally:
        client.close(timeout=0.1)
    assert item == {
        "user_id": "u1",
        "experiment": "tone",
        "variant": answer.variant,
        "attributes": {"model": "claude"},
        "covariates": {"requests": 12.0},
    }


def test_an_exposure_without_covariates_sends_none() -> None:
    (item,) = _items("exposures", [("tone", "u1", "a", None, None)])
    assert item == {"user_id": "u1", "experiment": "tone", "variant": "a"}
