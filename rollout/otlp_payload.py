"""OTLP/HTTP trace payloads (protobuf or JSON, optionally gzip) to and from plain spans.

Parsing is `opentelemetry-proto`'s: both encodings decode into the same
`ExportTraceServiceRequest`, so there is one walk over the spans. OTLP/JSON differs from
protobuf's canonical JSON mapping in one place: trace and span ids are hex, not base64
(opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding); they are turned into base64 before
`json_format` reads them. Bounds: the decompressed body is capped, so a gzip bomb costs the cap,
and a request carries at most `MAX_SPANS` spans.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterator
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from experiments.genai_spans import AttributeValue, Span
from rollout.errors import Malformed, TooLarge

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
MAX_DECOMPRESSED_BYTES: Final = 8 * 1024 * 1024
MAX_SPANS: Final = 10_000
_ID_FIELDS: Final = ("traceId", "spanId", "parentSpanId")


def decode_request(body: bytes, content_type: str, content_encoding: str) -> list[Span]:
    """The spans of an export request; 400 when it is not OTLP, 413 past the bounds."""
    if content_encoding.strip().lower() == "gzip":
        body = _gunzip(body)
    elif content_encoding.strip() not in ("", "identity"):
        raise Malformed(f"unsupported Content-Encoding {content_encoding[:40]!r}: use gzip")
    request = ExportTraceServiceRequest()
    media = content_type.split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise Malformed(f"the body is not an OTLP protobuf export request: {exc}") from None
    elif media == JSON:
        _parse_json(body, request)
    else:
        raise Malformed(f"Content-Type must be {PROTOBUF} or {JSON}, not {media[:60]!r}")
    spans = list(_spans(request))
    if len(spans) > MAX_SPANS:
        raise TooLarge(f"an export request carries at most {MAX_SPANS} spans, not {len(spans)}")
    return spans


def encode_response(rejected: int, message: str, content_type: str) -> tuple[bytes, str]:
    """OTLP's answer: partial success when anything was rejected, in the request's encoding."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if content_type.split(";", 1)[0].strip().lower() == PROTOBUF:
        return response.SerializeToString(), PROTOBUF
    return json.dumps(json_format.MessageToDict(response)).encode(), JSON


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise Malformed(f"the body is not valid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise TooLarge(f"the decompressed body is larger than {MAX_DECOMPRESSED_BYTES} bytes")
    return data


def _parse_json(body: bytes, request: ExportTraceServiceRequest) -> None:
    try:
        document = json.loads(body)
        for resource_spans in _list(document, "resourceSpans"):
            for scope_spans in _list(resource_spans, "scopeSpans"):
                for span in _list(scope_spans, "spans"):
                    _hex_ids_to_base64(span)
                    for link in _list(span, "links"):
                        _hex_ids_to_base64(link)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (ValueError, TypeError, RecursionError, json_format.ParseError) as exc:
        raise Malformed(f"the body is not an OTLP/JSON export request: {exc}") from None


def _list(document: Any, name: str) -> list[Any]:
    value = document.get(name, []) if isinstance(document, dict) else []
    return value if isinstance(value, list) else []


def _hex_ids_to_base64(item: Any) -> None:
    if not isinstance(item, dict):
        return
    for name in _ID_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value:
            try:
                item[name] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise Malformed(f"{name} must be a hex string, not {value[:40]!r}") from None


def _spans(request: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield Span(
                    trace_id=binascii.hexlify(span.trace_id).decode(),
                    span_id=binascii.hexlify(span.span_id).decode(),
                    start_unix_nano=span.start_time_unix_nano,
                    end_unix_nano=span.end_time_unix_nano,
                    status_code=span.status.code,
                    attributes={**resource, **_attributes(span.attributes)},
                )


def _attributes(pairs: Any) -> dict[str, AttributeValue]:
    """Scalar attributes only: arrays, maps and bytes measure nothing here."""
    out: dict[str, AttributeValue] = {}
    pair: KeyValue
    for pair in pairs:
        value = _scalar(pair.value)
        if value is not None:
            out[pair.key] = value
    return out


def _scalar(value: AnyValue) -> AttributeValue | None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    return None
