"""The fenced code blocks of a Markdown document, in reading order, with the section they are in.

The documentation test runs every `sh` and `python` block of the sections it covers. A block the
test must not run (one that serves until Ctrl-C, such as `make run`) is marked by the comment
`<!-- doc-test: skip -->` on the line before its fence: the marker shows in the source, where a
writer sees it, and not on the rendered page. Blocks without a language are sample output.
Markdown is parsed with markdown-it-py (CommonMark), so a fence inside a list or an indented code
sample is read as a reader's Markdown renderer reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

SKIP_MARKER = "<!-- doc-test: skip -->"


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # of the opening fence, 1-based, as an editor shows it
    section: str  # the level-2 heading the block is under
    language: str
    source: str
    skipped: bool

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line} ({self.section})"


def code_blocks(path: Path) -> list[CodeBlock]:
    """Every fenced block of the document at `path`, top to bottom."""
    tokens = MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    blocks: list[CodeBlock] = []
    section = ""
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            section = tokens[index + 1].content
        if token.type != "fence" or token.map is None:
            continue
        before = tokens[index - 1] if index else None
        skipped = (
            before is not None
            and before.type == "html_block"
            and before.content.strip() == SKIP_MARKER
        )
        language = token.info.split()[0] if token.info.strip() else ""
        blocks.append(CodeBlock(path, token.map[0] + 1, section, language, token.content, skipped))
    return blocks


def runnable(
    blocks: list[CodeBlock], languages: set[str], sections: tuple[str, ...] | None = None
) -> list[CodeBlock]:
    """The blocks in `languages` (of `sections`, or all) not marked to skip, in document order."""
    return [
        b
        for b in blocks
        if b.language in languages
        and (sections is None or b.section in sections)
        and not b.skipped
    ]
