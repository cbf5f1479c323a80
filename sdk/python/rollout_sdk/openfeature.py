"""An OpenFeature provider (`openfeature-sdk`, the `[openfeature]` extra) backed by RolloutClient.

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.track import TrackingEventDetails
    from rollout_sdk.openfeature import RolloutProvider

    api.set_provider(RolloutProvider.connect("http://127.0.0.1:8000", "rk_..."))
    flags = api.get_client()
    user = EvaluationContext("u1", {"country": "DE"})
    tone = flags.get_string_value("summary-tone", "control", user)    # the variant key
    config = flags.get_object_value("summary-tone", {}, user)          # the variant's config
    flags.track("thumbs_up", user, TrackingEventDetails(1, {"experiment": "summary-tone"}))

The flag key is the experiment's key and the context's `targeting_key` the user id; its other
attributes are the user's attributes. Every evaluation is `RolloutClient.assign`: local, and an
answer in the experiment queues the exposure. Reasons map as the TypeScript provider's
(sdk/js/src/openfeature.ts) do:

    assigned                           SPLIT      in the experiment, by hash
    targeting, layer, traffic          DEFAULT    outside it: the control variant
    paused, rolled_back, not_running   DISABLED   everyone gets control
    concluded                          STATIC     everyone gets the winner
    offline / unknown_experiment       ERROR      PROVIDER_NOT_READY / FLAG_NOT_FOUND

Boolean and number evaluations answer TYPE_MISMATCH: an experiment answers a variant key.
`track(name, context, details)` queues an event of metric `name` for the experiment named by the
details' (or the context's) `experiment` attribute, with `details.value` (default 1) and an
optional `denominator` attribute, for ratio metrics.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

from rollout_sdk.answers import VariantAssignment
from rollout_sdk.client import OFFLINE, UNKNOWN_EXPERIMENT, RolloutClient

log = logging.getLogger(__name__)

REASONS: Final[Mapping[str, Reason]] = {
    "assigned": Reason.SPLIT,
    "targeting": Reason.DEFAULT,
    "layer": Reason.DEFAULT,
    "traffic": Reason.DEFAULT,
    "paused": Reason.DISABLED,
    "rolled_back": Reason.DISABLED,
    "not_running": Reason.DISABLED,
    "concluded": Reason.STATIC,
}
"""The service's reason of an answer -> OpenFeature's (the client's own fallbacks are errors)."""

ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]
T = TypeVar("T")


def _failure(value: T, code: ErrorCode, message: str) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(value, error_code=code, error_message=message, reason=Reason.ERROR)


def _details(answer: VariantAssignment, value: T) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value,
        reason=REASONS[answer.reason],
        variant=answer.variant,
        flag_metadata={"in_experiment": answer.in_experiment, "rollout_reason": answer.reason},
    )


def _json_attribute(value: Any) -> Any:
    """OpenFeature allows datetime attributes; exposures travel as JSON, so they go as ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_attribute(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_attribute(item) for item in value]
    return value


class RolloutProvider(AbstractProvider):
    """OpenFeature's view of a RolloutClient: flags are experiments, values are variants."""

    def __init__(self, client: RolloutClient, *, close_client: bool = False) -> None:
        """Use `client`; `close_client` makes `shutdown` (api.shutdown()) close it too."""
        super().__init__()
        self.client = client
        self._close_client = close_client

    @classmethod
    def connect(cls, base_url: str, api_key: str, **options: Any) -> RolloutProvider:
        """A provider with a client of its own (RolloutClient's options), closed at shutdown."""
        return cls(RolloutClient(base_url, api_key, **options), close_client=True)

    def get_metadata(self) -> Metadata:
        return Metadata(name="prompt-rollout")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        # The client fetched its first configuration when it was made. Without one the provider
        # still answers (ERROR, the caller's default) and catches up once the service is reached:
        # an outage at start-up is not fatal.
        return None

    def shutdown(self) -> None:
        if self._close_client:
            self.client.close()

    # --- evaluations -----------------------------------------------------------------------------

    def _evaluate(
        self, flag_key: str, context: EvaluationContext | None
    ) -> VariantAssignment | tuple[ErrorCode, str]:
        """The client's answer, or why OpenFeature must be told an error (and use its default)."""
        if context is None or not context.targeting_key:
            return ErrorCode.TARGETING_KEY_MISSING, "the context has no targeting_key (the user id)"
        attributes = {name: _json_attribute(value) for name, value in context.attributes.items()}
        answer = self.client.assign(context.targeting_key, flag_key, attributes)
        if answer.reason == OFFLINE:
            return ErrorCode.PROVIDER_NOT_READY, "the SDK configuration has not been fetched yet"
        if answer.reason == UNKNOWN_EXPERIMENT:
            return ErrorCode.FLAG_NOT_FOUND, f"experiment {flag_key!r} is not running"
        return answer

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        answer = self._evaluate(flag_key, evaluation_context)
        if isinstance(answer, tuple):
            return _failure(default_value, *answer)
        return _details(answer, answer.variant)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        answer = self._evaluate(flag_key, evaluation_context)
        if isinstance(answer, tuple):
            return _failure(default_value, *answer)
        if answer.config is None:
            return _details(answer, default_value)
        # A copy: the answer's config is shared by every answer of its variant.
        return _details(answer, copy.deepcopy(dict(answer.config)))

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return _failure(default_value, ErrorCode.TYPE_MISMATCH, _NOT_A_NUMBER.format(flag_key))

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return _failure(default_value, ErrorCode.TYPE_MISMATCH, _NOT_A_NUMBER.format(flag_key))

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return _failure(default_value, ErrorCode.TYPE_MISMATCH, _NOT_A_NUMBER.format(flag_key))

    # --- tracking --------------------------------------------------------------------------------

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        details = tracking_event_details or TrackingEventDetails()
        context = evaluation_context or EvaluationContext()
        experiment = details.attributes.get("experiment", context.attributes.get("experiment"))
        user_id = context.targeting_key
        if not isinstance(experiment, str) or not user_id:
            log.warning("rollout: track(%r) needs a targeting_key and an 'experiment' attribute",
                        tracking_event_name)
            return
        denominator = details.attributes.get("denominator")
        self.client.track(
            user_id, experiment, tracking_event_name,
            1.0 if details.value is None else float(details.value),
            None if isinstance(denominator, bool) or not isinstance(denominator, int | float)
            else float(denominator),
        )


_NOT_A_NUMBER: Final = "experiment {!r} answers a variant key: evaluate it as a string or object"
