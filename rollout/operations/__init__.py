"""The service's write operations: read from the store, ask the pure domain what to do, write
the answer with compare-and-set or an atomic script, announce the change.

This package may use the store (experiments.store) and the pure domain (experiments); it knows
nothing of HTTP, Flask or the console, so the API, the console, the CLI and the controller all
come through the same functions with the same rules (review, pinning, layers). It never speaks
Redis itself and never reads the clock: `now` and the actor are passed in.
"""
