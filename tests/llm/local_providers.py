"""A small OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, for the official clients.

It answers `POST /v1/chat/completions`, `POST /v1/responses` (OpenAI) and `POST /v1/messages`
(Anthropic), plain or streamed as server-sent events with usage, and keeps a ledger of what it
served, so a test can compare the service's sums with the truth. Each model has its own
behaviour (delay, output tokens, cached share); the input tokens are the words of the request's
text. A request header `x-fault` scripts a failure: `500`, `429`, `timeout` (answers only after
`slow_s`), `broken` (a stream cut midway, mid-chunk) or `refusal` (a well-formed refusal).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rollout.embedded import free_port


@dataclass(frozen=True)
class Behaviour:
    delay_s: float = 0.0
    output_tokens: int = 12
    cached_share: float = 0.0


@dataclass(frozen=True)
class Served:
    """One request as the server answered it; tokens are what it reported (0 for a fault)."""

    route: str
    model: str
    stream: bool
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    fault: str | None


@dataclass
class Ledger:
    served: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entry: Served) -> None:
        with self.lock:
            self.served.append(entry)


def words_of(value: Any) -> int:
    """The words of every text in a request body: the server's token count."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(words_of(v) for k, v in value.items() if k in {"content", "text", "system",
                                                                  "input", "messages"})
    if isinstance(value, list):
        return sum(words_of(v) for v in value)
    return 0


class LocalProvider:
    """The server; `url` is its base (the OpenAI client wants `url + "/v1"`)."""

    def __init__(self, behaviours: Mapping[str, Behaviour], slow_s: float = 2.0) -> None:
        self.behaviours = dict(behaviours)
        self.slow_s = slow_s
        self.ledger = Ledger()
        self.port = free_port()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                provider.answer(self, self.path, body, self.headers.get("x-fault"))

        self.server = QuietServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # --- answering -------------------------------------------------------------------------------

    def answer(
        self, handler: BaseHTTPRequestHandler, path: str, body: dict[str, Any], fault: str | None
    ) -> None:
        route = {"/v1/chat/completions": "chat", "/v1/responses": "responses",
                 "/v1/messages": "messages"}.get(path)
        if route is None:
            send_json(handler, 404, {"error": {"message": f"no route {path}"}})
            return
        model = str(body.get("model"))
        stream = bool(body.get("stream"))
        behaviour = self.behaviours.get(model, Behaviour())
        if fault in {"500", "429"}:
            self.ledger.add(Served(route, model, stream, 0, 0, 0, fault))
            send_json(handler, int(fault), error_body(route, fault))
            return
        if fault == "timeout":
            self.ledger.add(Served(route, model, stream, 0, 0, 0, fault))
            time.sleep(self.slow_s)
            send_json(handler, 500, error_body(route, "500"))
            return
        time.sleep(behaviour.delay_s)
        input_tokens = words_of(body)
        cached = int(input_tokens * behaviour.cached_share)
        output = behaviour.output_tokens
        text = " ".join(["word"] * output)
        refused = fault == "refusal"
        reply = Reply(model, input_tokens, output, cached, text, refused)
        if stream:
            broken = fault == "broken"
            self.ledger.add(Served(route, model, True, *(
                (0, 0, 0) if broken else (input_tokens, output, cached)), fault))
            events = {"chat": chat_chunks, "responses": response_events,
                      "messages": message_events}[route](reply)
            send_events(handler, events, broken=broken)
        else:
            self.ledger.add(Served(route, model, False, input_tokens, output, cached, fault))
            document = {"chat": chat_completion, "responses": response_document,
                        "messages": message_document}[route](reply)
            send_json(handler, 200, document)


class QuietServer(ThreadingHTTPServer):
    """A client that gave up (the `timeout` fault) leaves a broken pipe: expected, not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass(frozen=True)
class Reply:
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    text: str
    refused: bool


def error_body(route: str, status: str) -> dict[str, Any]:
    if route == "messages":
        kind = "rate_limit_error" if status == "429" else "api_error"
        return {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}
    return {"error": {"message": f"scripted {status}", "type": "server_error", "code": None}}


# --- OpenAI Chat Completions ---------------------------------------------------------------------


def chat_usage(reply: Reply) -> dict[str, Any]:
    return {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens}}


def chat_completion(reply: Reply) -> dict[str, Any]:
    message = ({"role": "assistant", "content": None, "refusal": "I can't help with that."}
               if reply.refused else {"role": "assistant", "content": reply.text, "refusal": None})
    return {"id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()),
            "model": reply.model, "choices": [{"index": 0, "message": message,
                                               "finish_reason": "stop", "logprobs": None}],
            "usage": chat_usage(reply)}


def chat_chunks(reply: Reply) -> Iterator[tuple[str | None, dict[str, Any] | str]]:
    base = {"id": "chatcmpl-local", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": reply.model}
    yield None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "finish_reason": None}], "usage": None}
    for word in reply.text.split():
        yield None, {**base, "choices": [{"index": 0, "delta": {"content": word + " "},
                                          "finish_reason": None}], "usage": None}
    yield None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                 "usage": None}
    yield None, {**base, "choices": [], "usage": chat_usage(reply)}
    yield None, "[DONE]"


# --- OpenAI Responses ----------------------------------------------------------------------------


def response_document(reply: Reply) -> dict[str, Any]:
    part = ({"type": "refusal", "refusal": "I can't help with that."} if reply.refused
            else {"type": "output_text", "text": reply.text, "annotations": []})
    return {
        "id": "resp_local", "object": "response", "created_at": int(time.time()),
        "model": reply.model, "status": "completed", "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [],
        "output": [{"type": "message", "id": "msg_local", "status": "completed",
                    "role": "assistant", "content": [part]}],
        "usage": {"input_tokens": reply.input_tokens,
                  "input_tokens_details": {"cached_tokens": reply.cached_tokens},
                  "output_tokens": reply.output_tokens,
                  "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": reply.input_tokens + reply.output_tokens},
    }


def response_events(reply: Reply) -> Iterator[tuple[str | None, dict[str, Any] | str]]:
    document = response_document(reply)
    created = {**document, "status": "in_progress", "output": [], "usage": None}
    yield "response.created", {"type": "response.created", "response": created,
                               "sequence_number": 0}
    for n, word in enumerate(reply.text.split(), start=1):
        yield "response.output_text.delta", {
            "type": "response.output_text.delta", "item_id": "msg_local", "output_index": 0,
            "content_index": 0, "delta": word + " ", "logprobs": [], "sequence_number": n}
    yield "response.completed", {"type": "response.completed", "response": document,
                                 "sequence_number": reply.output_tokens + 1}


# --- Anthropic Messages --------------------------------------------------------------------------


def message_usage(reply: Reply) -> dict[str, Any]:
    """Anthropic counts cache reads apart from `input_tokens`."""
    return {"input_tokens": reply.input_tokens - reply.cached_tokens,
            "cache_read_input_tokens": reply.cached_tokens, "cache_creation_input_tokens": 0,
            "output_tokens": reply.output_tokens}


def message_document(reply: Reply) -> dict[str, Any]:
    return {"id": "msg_local", "type": "message", "role": "assistant", "model": reply.model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "refusal" if reply.refused else "end_turn", "stop_sequence": None,
            "usage": message_usage(reply)}


def message_events(reply: Reply) -> Iterator[tuple[str | None, dict[str, Any] | str]]:
    usage = message_usage(reply)
    start = {**message_document(reply), "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    yield "content_block_start", {"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}
    for word in reply.text.split():
        yield "content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": word + " "}}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": "refusal" if reply.refused else "end_turn",
                                      "stop_sequence": None},
                            "usage": {"output_tokens": reply.output_tokens}}
    yield "message_stop", {"type": "message_stop"}


# --- the wire ------------------------------------------------------------------------------------


def send_json(handler: BaseHTTPRequestHandler, status: int, document: Any) -> None:
    payload = json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def send_events(
    handler: BaseHTTPRequestHandler,
    events: Iterator[tuple[str | None, dict[str, Any] | str]],
    *,
    broken: bool,
) -> None:
    """Server-sent events in chunked encoding; `broken` cuts the body mid-chunk and closes."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for count, (name, data) in enumerate(events):
        text = data if isinstance(data, str) else json.dumps(data)
        frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
        raw = frame.encode()
        if broken and count == 2:
            handler.wfile.write(f"{len(raw) + 50:x}\r\n".encode() + raw)
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.close()
            return
        handler.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        handler.wfile.flush()
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()
