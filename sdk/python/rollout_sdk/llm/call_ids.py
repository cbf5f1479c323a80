"""Call ids: unique across processes and calls, and cheap (`uuid4` reads the OS's entropy on
every call, which costs more than the rest of the measurement on a busy machine).

A random prefix drawn once per process, then a counter. A forked child draws its own prefix, so
no two processes ever share an id: the service would count the second one's events as
duplicates of the first's.
"""

from __future__ import annotations

import itertools
import os
import secrets

_prefix = secrets.token_hex(8)
_sequence = itertools.count()


def new_call_id() -> str:
    return f"{_prefix}{next(_sequence):x}"


def _after_fork() -> None:
    global _prefix, _sequence
    _prefix = secrets.token_hex(8)
    _sequence = itertools.count()


os.register_at_fork(after_in_child=_after_fork)
