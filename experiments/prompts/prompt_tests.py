"""A version's own test cases: each rendered with its variables, its expectations checked."""

from __future__ import annotations

from collections.abc import Sequence

from experiments.prompts.errors import PromptTestFailed, TestFailure
from experiments.prompts.sandbox import check_template
from experiments.prompts.version import PromptTest, PromptVersionCreate
from rollout_sdk.kernel import chat_render
from rollout_sdk.kernel.chat import ChatMessage
from rollout_sdk.kernel.render import MAX_OUTPUT_CHARS, render
from rollout_sdk.kernel.render_errors import RenderError


def run_prompt_tests(
    content: str | Sequence[ChatMessage],
    tests: Sequence[PromptTest],
    max_chars: int = MAX_OUTPUT_CHARS,
) -> list[TestFailure]:
    """Render each test case and check its expectations; one TestFailure per failing case.

    `content` is a template or a chat prompt's messages; the text a chat prompt's expectations
    are checked against is its rendered messages' contents, one after the other, joined by a
    newline. A template that does not compile raises RenderRefused with code `template_invalid`
    (no case could pass); a case whose render fails (a missing variable, an unsafe template, a
    limit) fails with that reason.
    """
    templates = [content] if isinstance(content, str) else [m["content"] for m in content]
    for template in templates:
        check_template(template)
    failures = []
    for index, test in enumerate(tests):
        try:
            if isinstance(content, str):
                text = render(content, test.variables, max_chars=max_chars)
            else:
                rendered = chat_render.render_messages(content, test.variables, max_chars=max_chars)
                text = "\n".join(message["content"] for message in rendered)
        except RenderError as exc:
            failures.append(TestFailure(index, (exc.message,)))
            continue
        expect = test.expect
        reasons = [
            f"does not contain {needle!r}" for needle in expect.contains if needle not in text
        ]
        reasons += [f"contains {needle!r}" for needle in expect.not_contains if needle in text]
        if expect.max_chars is not None and len(text) > expect.max_chars:
            reasons.append(f"is {len(text)} characters, longer than {expect.max_chars}")
        if reasons:
            failures.append(TestFailure(index, tuple(reasons)))
    return failures


def check_version(version: PromptVersionCreate, max_chars: int = MAX_OUTPUT_CHARS) -> None:
    """Everything a new version must pass beyond its fields: it compiles and its tests pass."""
    content = version.chat_messages()
    failures = run_prompt_tests(
        version.template or "" if content is None else content, version.tests, max_chars
    )
    if failures:
        raise PromptTestFailed(failures)
