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


def test_the_covariate_bounds_are_the_services_at_each_edge() -> None:
    from pydantic import TypeAdapter, ValidationError

    from experiments.model import Covariates
    from rollout_sdk.kernel.covariates import COVARIATE_MAGNITUDE, check_covariates

    service = TypeAdapter(Covariates)
    cases: list[dict[str, object]] = [
        {f"c{i}": 1.0 for i in range(10)},
        {f"c{i}": 1.0 for i in range(11)},
        {"x": COVARIATE_MAGNITUDE},
        {"x": -COVARIATE_MAGNITUDE},
        {"x": COVARIATE_MAGNITUDE * 1.000001},
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": True},
        {"x": "12"},
        {"x": 12},
        {"a" * 64: 1.0},
        {"a" * 65: 1.0},
        {"Upper": 1.0},
    ]
    for case in cases:
        checked = check_covariates(case)
        try:
            service.validate_python(case)
            accepted_by_service = True
        except ValidationError:
            accepted_by_service = False
        assert (checked.problems == ()) is accepted_by_service, case
        assert (checked.accepted == {k: float(v) for k, v in case.items()}) is accepted_by_service


def test_assign_drops_a_bad_covariate_entry_and_keeps_the_exposure() -> None:
    client = RolloutClient(unreachable(), "rk_x", timeout_s=0.2, bootstrap=DOCUMENT,
                           flush_interval_s=60)
    try:
        client.assign("u1", "tone", covariates={"requests": 12, "tokens": float("inf")})
        client.assign("u2", "tone", covariates={"requests": "many"})
        first, second = list(client._sender.exposures)
        dropped = client.stats().covariates_dropped
    finally:
        client.close(timeout=0.1)
    assert first[4] == {"requests": 12.0}
    assert second[1] == "u2" and second[4] is None
    assert dropped == 2
