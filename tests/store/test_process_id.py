"""The process id kept in memory is the child's own after a fork, as `os.getpid()` would say."""

from __future__ import annotations

import os

from experiments.store.process_id import current_pid


def test_the_remembered_id_is_this_process_s() -> None:
    assert current_pid() == os.getpid()


def test_a_forked_child_remembers_its_own_id() -> None:
    parent = current_pid()
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, which exits without pytest's teardown
        os.write(writing, f"{current_pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(writing)
    remembered, actual = (int(x) for x in os.read(reading, 100).decode().split())
    os.close(reading)
    os.waitpid(child, 0)
    assert remembered == actual == child
    assert remembered != parent
    assert current_pid() == parent
