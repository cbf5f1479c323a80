"""This process's id, read without a system call.

Whatever a fork must not share (a held Redis connection, the configuration watcher's thread,
prometheus' per-process files) checks the process id before it is used, and the service uses
all three on every request. `os.getpid()` is a system call (glibc no longer caches it): 0.3 us
in a tight loop on the 2-core VM, but several between context switches, and profiled under
bench/assign.py's load the service's eight calls a request held the GIL for a tenth of its
time. The id is read once, and again in a child right after `os.fork()` (`register_at_fork`).
A process made without `os.fork` (spawn, exec) imports this module afresh.
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
