"""Chat prompts in the Python SDK: read from the SDK document, rendered as messages locally."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from experiments.prompts.version import content_sha256
from rollout_sdk import ChatPromptError, Prompt
from rollout_sdk.kernel.document import DocumentInvalid, read_prompt_content
from rollout_sdk.kernel.render import MAX_OUTPUT_CHARS, render_all
from rollout_sdk.kernel.render_errors import MissingVariable, OutputTooLarge, RenderLimitExceeded
from rollout_sdk.local_config import compile_document

MESSAGES = [
    {"role": "system", "content": "You help with {{ product }}."},
    {"role": "user", "content": "{{ question }}"},
]
CHAT = {"name": "support", "version": 3, "template": None, "messages": MESSAGES,
        "model": "gpt-4o", "params": {"temperature": 0.1}, "portable": True}


def chat_prompt() -> Prompt:
    document = {"version": 1, "experiments": [], "prompts": {
        "support": {"labels": {"production": 3}, "versions": {"3": CHAT}}}}
    return compile_document(document, None).prompts[("support", 3)]


def test_a_chat_prompt_of_the_document_renders_its_messages() -> None:
    prompt = chat_prompt()

    rendered = prompt.render_messages({"product": "Rollout"}, question="Why?")

    assert prompt.is_chat
    assert rendered == [
        {"role": "system", "content": "You help with Rollout."},
        {"role": "user", "content": "Why?"},
    ]


def test_render_of_a_chat_prompt_is_an_error_pointing_at_render_messages() -> None:
    with pytest.raises(ChatPromptError, match=r"support@3 is a chat prompt.*render_messages"):
        chat_prompt().render(product="x", question="y")


def test_render_messages_of_one_template_is_an_error_pointing_at_render() -> None:
    prompt = Prompt(name="greet", version=1, template="Hi", model=None, params={})

    with pytest.raises(ChatPromptError, match=r"render\(variables\)"):
        prompt.render_messages()


def test_a_variable_missing_from_any_message_is_named() -> None:
    with pytest.raises(MissingVariable, match="question"):
        chat_prompt().render_messages(product="x")


def test_the_output_bound_holds_for_all_messages_together() -> None:
    half = MAX_OUTPUT_CHARS // 2 + 1
    prompt = Prompt(name="big", version=1, template=None, model=None, params={},
                    messages=({"role": "user", "content": "{{ 'a' * n }}"},) * 2)

    assert len(prompt.render_messages(n=half - 2)) == 2
    with pytest.raises(OutputTooLarge):
        prompt.render_messages(n=half)


def test_the_answer_json_carries_the_messages() -> None:
    assert chat_prompt().as_dict()["messages"] == MESSAGES


@pytest.mark.parametrize("messages", [
    [], [{"role": "tool", "content": "x"}], [{"role": "user"}], "text", [{"role": "user",
                                                                          "content": 3}],
])
def test_the_document_reader_refuses_malformed_messages(messages: Any) -> None:
    with pytest.raises(DocumentInvalid, match="messages"):
        read_prompt_content(CHAT | {"messages": messages}, "the prompt")


def test_the_step_budget_is_one_for_all_the_templates_of_a_render() -> None:
    loop = "{% for i in range(n) %}{% endfor %}"
    alone = render_all([loop], {"n": 60}, max_steps=100)

    with pytest.raises(RenderLimitExceeded):
        render_all([loop, loop], {"n": 60}, max_steps=100)
    assert alone == [""]


def test_a_chat_prompts_hash_is_its_messages_in_order_with_their_roles() -> None:
    first, second = {"role": "system", "content": "a"}, {"role": "user", "content": "b"}
    expected = hashlib.sha256(
        b'{"messages":[{"content":"a","role":"system"},{"content":"b","role":"user"}],'
        b'"model":null,"params":{}}'
    ).hexdigest()

    assert content_sha256(None, None, {}, [first, second]) == expected  # type: ignore[list-item]
    assert content_sha256(None, None, {}, [second, first]) != expected  # type: ignore[list-item]
