"""The Python SDK, under the name the contract gives it: `from rollout.client import RolloutClient`.

The SDK is its own distribution (`prompt-rollout-sdk`, package `rollout_sdk`, sdk/python/), which
the service's distribution depends on; this module only re-exports its public names.
"""

from rollout_sdk import ClientStats, Prompt, RolloutClient, VariantAssignment

__all__ = ["ClientStats", "Prompt", "RolloutClient", "VariantAssignment"]
