"""The documentation test's own machinery: it reads blocks as a reader does and fails as it should.

Without these, a harness that ran nothing, or swallowed a failing command, would pass the
documentation whatever it said.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.docs.documented_code import code_blocks, runnable
from tests.docs.shell_session import ShellSession, run_in_one_shell

GUIDE = """# A guide

## Start

<!-- doc-test: skip -->
```sh
make run
```

Then:

```sh
{first}
```

## Use

```sh
{second}
```

```python
print("not shell")
```

```
sample output, not code
```

## Elsewhere

```sh
echo not in the sections run
```
"""


def write_guide(tmp_path: Path, first: str, second: str) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(GUIDE.format(first=first, second=second))
    return path


def run_guide(tmp_path: Path, first: str, second: str, timeout_s: float = 20) -> ShellSession:
    blocks = runnable(code_blocks(write_guide(tmp_path, first, second)), {"sh"}, ("Start", "Use"))
    assert [b.section for b in blocks] == ["Start", "Use"], blocks
    return run_in_one_shell(blocks, tmp_path, {"PATH": "/usr/bin:/bin"}, timeout_s)


def test_blocks_carry_their_section_line_language_and_skip_marker(tmp_path: Path) -> None:
    blocks = code_blocks(write_guide(tmp_path, "echo one", "echo two"))

    assert [(b.section, b.line, b.language, b.skipped) for b in blocks] == [
        ("Start", 6, "sh", True),
        ("Start", 12, "sh", False),
        ("Use", 18, "sh", False),
        ("Use", 22, "python", False),
        ("Use", 26, "", False),
        ("Elsewhere", 32, "sh", False),
    ]
    assert blocks[1].source == "echo one\n"
    assert blocks[2].where == "guide.md:18 (Use)"


def test_variables_set_in_one_block_reach_the_next(tmp_path: Path) -> None:
    session = run_guide(tmp_path, "GREETING=hello", 'test "$GREETING" = hello && echo "$GREETING"')

    assert session.ok, session.failure()
    assert [run.output for run in session.runs] == ["", "hello"]


def test_a_failing_command_stops_the_session_and_names_its_block(tmp_path: Path) -> None:
    session = run_guide(tmp_path, "echo one\nfalse\necho never", "echo two")

    assert session.returncode == 1
    assert [run.block.line for run in session.runs] == [12]
    assert session.runs[0].output == "one"
    assert "guide.md:12 (Start) failed (exit 1)" in session.failure()


def test_an_unset_variable_fails_its_block(tmp_path: Path) -> None:
    session = run_guide(tmp_path, "echo one", 'echo "$NOT_SET_ANYWHERE"')

    assert not session.ok
    assert session.runs[-1].block.line == 18
    assert "NOT_SET_ANYWHERE" in session.runs[-1].output


def test_a_failing_stage_of_a_pipeline_fails_its_block(tmp_path: Path) -> None:
    session = run_guide(tmp_path, "false | cat", "echo two")

    assert not session.ok
    assert len(session.runs) == 1


def test_output_written_to_dev_stderr_by_name_is_kept(tmp_path: Path) -> None:
    session = run_guide(tmp_path, "echo first", "echo shown | tee /dev/stderr > /dev/null")

    assert session.ok, session.failure()
    assert session.output_of("tee") == "shown"
    assert session.output_of("first") == "first"


def test_a_block_past_its_time_is_killed_and_named(tmp_path: Path) -> None:
    began = time.monotonic()
    session = run_guide(tmp_path, "echo one", "sleep 30", timeout_s=1)

    assert time.monotonic() - began < 10
    assert session.returncode is None
    assert "guide.md:18 (Use) timed out" in session.failure()
