"""The service's pure domain: experiments, their lifecycle and review, event rules, statistics,
the controller's decisions, prompt versions and labels.

Nothing here does I/O or reads the clock: every function takes what it decides from, `now`
included, and answers values (typed results, or the errors of experiments/errors.py). It may
import pydantic, numpy/scipy (in stats/) and the SDK's kernel (rollout_sdk.kernel: hashing,
targeting, assignment, the SDK document, rendering), which it never reimplements; it never
imports Flask, redis or anything of rollout/. The one exception is experiments/store/, the
package that speaks Redis, which the domain modules never import.
"""
