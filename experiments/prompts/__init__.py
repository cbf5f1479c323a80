"""Prompt versions in the service: their validation, content hash, diff and test cases.

Pure, like the rest of `experiments`: no store, no HTTP. Rendering itself is the SDK kernel's
(`rollout_sdk.kernel.render`, the one renderer of the service and every SDK); `sandbox` calls
it and turns its refusals into the service's `Invalid`.
"""
