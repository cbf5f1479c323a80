"""This process's id, read without a system call.

Whatever a fork must not share (a held Redis connection, the configuration watcher's thread,
prometheus' per-process files) checks the process id before it is used, and the service uses
all three on every request. `os.getpid()` is a system call (glibc no longer caches it): 0.3 us
in a tight loop on the 2-core VM, yet profiled under bench/assign.py's load (py-spy --gil) the
service's eight calls a request took a tenth of the time its worker held the GIL. The id is
read once, and again in a child right after `os.fork()` (`register_at_fork`). A process made
without `os.fork` (spawn, exec) imports this module afresh.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def current_pid() -> int:
    """`os.getpid()`, from memory."""
    return _pid
