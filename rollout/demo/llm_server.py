"""A local OpenAI-compatible server for `make demo`: Chat Completions whose latency and tokens
depend on the model asked for.

The demo's variants name real models (`gpt-4o-mini`, `o4-mini`) and call them through the
official `openai` client and `rollout_sdk.llm`; this server stands in for the provider on
127.0.0.1, so the demo needs no network and no key. Each model has a `ModelBehaviour`: how many
tokens it writes (and, for a reasoning model, thinks) and how fast, so an answer's latency
follows from its tokens, as a real model's does. The input tokens are the words of the request's
messages. The server keeps no figures for the demo beyond a count of calls per model: what the
service decides on, it learns from the integration's own measurements.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class ModelBehaviour:
    """How a model answers: medians of its tokens, and its speed.

    Token counts are drawn log-normally around their medians (`spread` is the log's standard
    deviation); the answer takes `first_token_ms` plus `ms_per_token` for every output and
    reasoning token, and reasoning tokens are billed as output, as OpenAI bills them.
    """

    output_tokens: int
    first_token_ms: float
    ms_per_token: float
    reasoning_tokens: int = 0
    spread: float = 0.35


@dataclass(frozen=True)
class Completion:
    """One answer's tokens and the time it takes to give it."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    latency_s: float


class LocalOpenAI:
    """The server's state: the models it serves, its random source, and the calls it answered."""

    def __init__(self, models: Mapping[str, ModelBehaviour], seed: int) -> None:
        self.models = dict(models)
        self.served: Counter[str] = Counter()
        self.base_url = ""
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def complete(self, model: str, messages: Any, max_tokens: int | None) -> Completion | None:
        """The answer `model` gives to `messages`; None for a model the server does not serve."""
        behaviour = self.models.get(model)
        if behaviour is None:
            return None
        with self._lock:
            output = self._draw(behaviour.output_tokens, behaviour.spread)
            reasoning = self._draw(behaviour.reasoning_tokens, behaviour.spread)
            self.served[model] += 1
        if max_tokens is not None:
            output = min(output, max_tokens)
        latency_ms = behaviour.first_token_ms + behaviour.ms_per_token * (output + reasoning)
        return Completion(words_of(messages), output, reasoning, latency_ms / 1000)

    def _draw(self, median: int, spread: float) -> int:
        if median <= 0:
            return 0
        return max(1, round(self._random.lognormvariate(math.log(median), spread)))


def words_of(messages: Any) -> int:
    """The words of every message's text content: the server's input token count."""
    if not isinstance(messages, list):
        return 0
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content.split())
        elif isinstance(content, list):
            total += sum(
                len(str(part.get("text", "")).split()) for part in content
                if isinstance(part, dict)
            )
    return total


def chat_completion(model: str, answer: Completion) -> dict[str, Any]:
    """A Chat Completions response document, with usage as OpenAI reports it."""
    completion_tokens = answer.output_tokens + answer.reasoning_tokens
    return {
        "id": f"chatcmpl-demo-{time.monotonic_ns():x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": " ".join(["word"] * answer.output_tokens),
                        "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": answer.input_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
        },
    }


def error_document(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@contextmanager
def local_openai(models: Mapping[str, ModelBehaviour], seed: int) -> Iterator[LocalOpenAI]:
    """The server on a free loopback port for the duration of the block.

    `base_url` of the answer is what `openai.OpenAI(base_url=...)` wants (it ends in `/v1`).
    """
    provider = LocalOpenAI(models, seed)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

        def do_POST(self) -> None:
            if self.path != CHAT_PATH:
                self.send(404, error_document(f"no route {self.path}", "invalid_request_error",
                                              "unknown_url"))
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                model = str(body["model"])
                max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
            except (ValueError, KeyError, TypeError):
                self.send(400, error_document("a JSON body with a model is needed",
                                              "invalid_request_error", None))
                return
            answer = provider.complete(model, body.get("messages"),
                                       max_tokens if isinstance(max_tokens, int) else None)
            if answer is None:
                self.send(404, error_document(f"the model {model!r} does not exist",
                                              "invalid_request_error", "model_not_found"))
                return
            time.sleep(answer.latency_s)
            self.send(200, chat_completion(model, answer))

        def send(self, status: int, document: dict[str, Any]) -> None:
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
