"""A prompt version as the service accepts it: the edge's models, names, references, content hash.

A prompt is a Jinja2 template, or a list of chat messages each a template (kernel.chat), plus the
model and parameters it is meant for. Versions are immutable and identified by `content_sha256`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, field_validator, model_validator

from experiments.model import KEY_RE, Strict
from experiments.prompts.errors import InvalidPromptName, InvalidPromptRef
from rollout_sdk.kernel.chat import ChatMessage, Role

MAX_TEMPLATE_BYTES: Final = 64 * 1024
MAX_PARAMS_BYTES: Final = 16 * 1024
MAX_TESTS: Final = 50
MAX_MESSAGES: Final = 100

_VERSION_RE = re.compile(r"[1-9][0-9]*")
_PARAM_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
}


def _canonical_json(value: Any) -> bytes:
    """The canonical form hashed by `content_sha256` (see there)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates; they cannot be hashed or stored as UTF-8, so refuse them here
    # rather than fail later with a 500.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return text


_Text = Annotated[str, AfterValidator(_encodable)]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class PromptExpectation(Strict):
    """What a test case's rendered text must satisfy."""

    contains: list[Annotated[_Text, Field(max_length=10_000)]] = Field(
        default_factory=list, max_length=50
    )
    not_contains: list[Annotated[_Text, Field(min_length=1, max_length=10_000)]] = Field(
        default_factory=list, max_length=50
    )
    max_chars: int | None = Field(default=None, gt=0)


class PromptTest(Strict):
    """One test case: render with `variables`, then check `expect`."""

    variables: dict[str, Any] = Field(default_factory=dict)
    expect: PromptExpectation = Field(default_factory=PromptExpectation)


def _template_size(template: str) -> str:
    if len(template.encode("utf-8")) > MAX_TEMPLATE_BYTES:
        raise ValueError(f"template must be at most {MAX_TEMPLATE_BYTES} bytes of UTF-8")
    return template


# max_length (characters) is implied by the byte bound; it is kept because it is cheap, runs first,
# and documents the bound in the OpenAPI document.
_Template = Annotated[
    _Text, Field(min_length=1, max_length=MAX_TEMPLATE_BYTES), AfterValidator(_template_size)
]


class PromptMessage(Strict):
    """One message of a chat prompt: its role and its content, a template."""

    role: Role
    content: _Template


class PromptVersionCreate(Strict):
    """The body of POST /api/v1/prompts/{prompt}/versions: exactly one of `template` and
    `messages` (a chat prompt)."""

    template: _Template | None = None
    messages: list[PromptMessage] | None = Field(
        default=None, min_length=1, max_length=MAX_MESSAGES
    )
    model: _Text | None = Field(default=None, min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    message: _Text | None = Field(default=None, max_length=2000)
    tests: list[PromptTest] = Field(default_factory=list, max_length=MAX_TESTS)

    @model_validator(mode="after")
    def _one_kind(self) -> PromptVersionCreate:
        if (self.template is None) == (self.messages is None):
            raise ValueError("give exactly one of template and messages")
        if self.messages is not None:
            size = sum(len(m.content.encode("utf-8")) for m in self.messages)
            if size > MAX_TEMPLATE_BYTES:
                raise ValueError(
                    f"messages must be at most {MAX_TEMPLATE_BYTES} bytes of UTF-8 in all"
                )
        return self

    def chat_messages(self) -> list[ChatMessage] | None:
        """The messages as the kernel renders them, None for a one-template version."""
        if self.messages is None:
            return None
        return [{"role": m.role, "content": m.content} for m in self.messages]

    def templates(self) -> list[str]:
        """Every template of the version: its template, or each message's content."""
        if self.messages is None:
            return [self.template or ""]
        return [m.content for m in self.messages]

    def sha256(self) -> str:
        """The version's content hash (`content_sha256`)."""
        return content_sha256(self.template, self.model, self.params, self.chat_messages())

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, (low, high) in _PARAM_RANGES.items():
            if key in params and not (_is_number(params[key]) and low <= params[key] <= high):
                raise ValueError(f"{key} must be a number from {low:g} to {high:g}")
        max_tokens = params.get("max_tokens")
        if "max_tokens" in params and not (
            isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0
        ):
            raise ValueError("max_tokens must be an integer greater than 0")
        try:
            size = len(_canonical_json(params))
        except (TypeError, ValueError):
            raise ValueError("params must be JSON (finite numbers, valid Unicode)") from None
        if size > MAX_PARAMS_BYTES:
            raise ValueError(f"params must be at most {MAX_PARAMS_BYTES} bytes as JSON")
        return params


class RenderRequest(Strict):
    """The body of POST /api/v1/prompts/{prompt}/versions/{n}/render."""

    variables: dict[str, Any] = Field(default_factory=dict)


# --- names and references -------------------------------------------------------------------------


def check_prompt_name(name: str) -> str:
    """Return `name` if it is a valid prompt name (experiments.model.KEY_PATTERN), else raise."""
    if not KEY_RE.fullmatch(name):
        raise InvalidPromptName(name)
    return name


def parse_prompt_ref(ref: str) -> tuple[str, str]:
    """Split `name@version` or `name@label` into (name, selector).

    A selector of digits is a version number (1, 2, ...); anything else matching KEY_PATTERN is a
    label. Digits with a leading zero are refused: `a@07` would otherwise be ambiguous.
    """
    name, at, selector = ref.partition("@")
    if not at:
        raise InvalidPromptRef(ref, "must be name@version or name@label")
    if not KEY_RE.fullmatch(name):
        raise InvalidPromptRef(ref, f"has a name that does not match {KEY_RE.pattern}")
    if not KEY_RE.fullmatch(selector):
        raise InvalidPromptRef(ref, f"has a version or label that does not match {KEY_RE.pattern}")
    if selector.isdigit() and not _VERSION_RE.fullmatch(selector):
        raise InvalidPromptRef(ref, "has a version that is not a number from 1 without leading 0")
    return name, selector


def content_sha256(
    template: str | None,
    model: str | None,
    params: Mapping[str, Any],
    messages: Sequence[ChatMessage] | None = None,
) -> str:
    """The hex sha256 identifying a version's content: same content, same hash.

    The hashed bytes are the UTF-8 encoding of the canonical JSON of
    `{"model": model, "params": params, "template": template}` for a one-template version and of
    `{"messages": [{"content": ..., "role": ...}, ...], "model": model, "params": params}` for a
    chat prompt (the messages in their order): keys sorted at every level, no whitespace
    (separators `,` and `:`), non-ASCII characters written as themselves (`ensure_ascii=False`),
    and no NaN or infinity. So the key order of `params` never changes the hash; strings are hashed
    exactly as given (no Unicode normalisation, no trimming), and `1` and `1.0` are different
    numbers. The commit message and the test cases are not content.
    """
    document: dict[str, Any] = {"model": model, "params": dict(params)}
    if messages is None:
        document["template"] = template
    else:
        document["messages"] = [
            {"role": message["role"], "content": message["content"]} for message in messages
        ]
    return hashlib.sha256(_canonical_json(document)).hexdigest()
