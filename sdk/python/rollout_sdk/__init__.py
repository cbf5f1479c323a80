"""The Python SDK of prompt-rollout: assign locally, report in the background.

    from rollout_sdk import RolloutClient

The package talks to the service over HTTP only (`requests`): it reads the SDK configuration,
posts exposures and events, and fetches labelled prompt versions; it never touches Redis or the
service's own code. `rollout_sdk.kernel` is the pure part every replica and SDK shares.
"""

from rollout_sdk.answers import ChatPromptError, ClientStats, Prompt, VariantAssignment
from rollout_sdk.client import RolloutClient

__all__ = ["ChatPromptError", "ClientStats", "Prompt", "RolloutClient", "VariantAssignment"]
