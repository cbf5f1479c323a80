"""Each worker's view of the configuration: which one is current (watcher.py) and what it
compiles to (live.py).

This package may read the configuration through the store (experiments.store: the stamp, its
change channel, the catalog of experiments and prompts) and keep the last good copy on disk
(rollout.last_good_config); it never writes to the store and never speaks Redis itself, and it
knows nothing of HTTP: the API and the console read a `Snapshot` from it.
"""
