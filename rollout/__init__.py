"""The service's shell: the HTTP API and console (Flask), the controller loop, the CLI, and the
processes that serve them.

It does the I/O around the pure domain (experiments/): it validates input at the edge, reads
and writes through the store (experiments.store), asks the domain what to do, and answers. It
decides nothing the domain could decide, and it never speaks Redis itself: it holds a `Store`,
catches redis-py's connection errors only to answer 503 or retry, and never reaches
`Store.redis`. `rollout.client` re-exports the SDK (rollout_sdk) for applications that import it
from here.
"""
