"""Documented shell blocks run one after another in a single bash, as a reader pastes them.

The blocks share one shell because the documentation does: a variable set in one block (`BASE`,
the key files) is used in the next. The script is `set -euo pipefail`, so the first command that
fails, an unset variable or a failing stage of a pipeline stops it. Before each block the script
prints a marker line; the output between two markers is that block's, and the last marker in the
output names the block that failed. The shell leads its own process group, so a timeout kills
everything the blocks started.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.docs.documented_code import CodeBlock

MARKER = "::doc-test block {index}::"
MARKER_LINE = re.compile(r"::doc-test block (\d+)::")


@dataclass(frozen=True)
class BlockRun:
    block: CodeBlock
    output: str


@dataclass(frozen=True)
class ShellSession:
    returncode: int | None  # None: killed at the timeout
    runs: list[BlockRun]  # the blocks that started, in order

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def output_of(self, fragment: str) -> str:
        """The output of the one block whose source contains `fragment`."""
        found = [run.output for run in self.runs if fragment in run.block.source]
        assert len(found) == 1, f"{len(found)} documented blocks contain {fragment!r}"
        return found[0]

    def failure(self) -> str:
        """The failed (or timed-out) block, where it is in its document, and its output."""
        if not self.runs:
            return f"the shell exited {self.returncode} before the first block"
        last = self.runs[-1]
        how = "timed out" if self.returncode is None else f"failed (exit {self.returncode})"
        return (
            f"the documented block at {last.block.where} {how}:\n{last.block.source}\n"
            f"--- its output ---\n{last.output}"
        )


def script_of(blocks: Sequence[CodeBlock]) -> str:
    lines = ["set -euo pipefail"]
    for index, block in enumerate(blocks):
        lines.append(f"printf '\\n%s\\n' '{MARKER.format(index=index)}'")
        lines.append(block.source)
    return "\n".join(lines) + "\n"


def run_in_one_shell(
    blocks: Sequence[CodeBlock], cwd: Path, env: Mapping[str, str], timeout_s: float
) -> ShellSession:
    """Run `blocks` in order in one bash in `cwd`; stdin is empty, stdout and stderr are merged.

    The output goes through a pipe, not a file: a block may write to `/dev/stderr` by name (as
    `tee /dev/stderr` does), and opening a file by that name would truncate it.
    """
    process = subprocess.Popen(
        ["bash", "-c", script_of(blocks)],
        cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    returncode: int | None
    try:
        output, _ = process.communicate(timeout=timeout_s)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        returncode = None
    _kill_group(process)
    return ShellSession(returncode, _runs(blocks, output.decode(errors="replace")))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill whatever the blocks left running (the shell leads the group)."""
    with contextlib.suppress(ProcessLookupError):  # nothing is left: all have exited
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _runs(blocks: Sequence[CodeBlock], output: str) -> list[BlockRun]:
    runs: list[BlockRun] = []
    current: int | None = None
    collected: list[str] = []
    for line in output.splitlines():
        marker = MARKER_LINE.fullmatch(line)
        if marker is None:
            collected.append(line)
            continue
        if current is not None:
            runs.append(BlockRun(blocks[current], "\n".join(collected).strip("\n")))
        current, collected = int(marker[1]), []
    if current is not None:
        runs.append(BlockRun(blocks[current], "\n".join(collected).strip("\n")))
    return runs

