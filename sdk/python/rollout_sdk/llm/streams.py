"""Streams that measure as they are read: time to first token, usage, and how they ended.

A provider's stream is handed to the application wrapped, item for item unchanged. Each item is
shown to the integration's `see` (which tallies usage, text and refusals and says whether the
item carried the first output); when the stream ends, breaks or is closed the call is recorded,
once. A stream closed before its end records what it knows (time to first token, no error);
a stream dropped without being closed or read to the end records nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

from rollout_sdk.answers import VariantAssignment
from rollout_sdk.llm.failures import failure_of
from rollout_sdk.llm.measurement import CallMeasure
from rollout_sdk.llm.pricing import Usage
from rollout_sdk.llm.recorder import CallRecorder
from rollout_sdk.llm.variant_call import VariantCall

T = TypeVar("T")


@dataclass(slots=True)
class StreamTally:
    """What the items of one stream said so far."""

    model: str | None = None
    usage: Usage | None = None
    refused: bool = False
    error: str | None = None
    text: list[str] = field(default_factory=list)
    final: Any = None


See = Callable[[StreamTally, Any], bool]


class _Measuring:
    """The bookkeeping both kinds of stream share."""

    def __init__(
        self, call: VariantCall, recorder: CallRecorder, see: See, started: float
    ) -> None:
        self.call = call
        self._recorder = recorder
        self._see = see
        self._started = started
        self._first: float | None = None
        self._tally = StreamTally()
        self.measure: CallMeasure | None = None

    @property
    def assignment(self) -> VariantAssignment:
        return self.call.assignment

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def text(self) -> str:
        """The output text read so far."""
        return "".join(self._tally.text)

    def _seen(self, item: Any) -> None:
        try:
            if self._see(self._tally, item) and self._first is None:
                self._first = time.perf_counter()
        except Exception:  # an item of a shape the integration does not know: not the caller's
            pass

    def _finish(self, *, ended: bool, error: BaseException | None = None) -> None:
        if self.measure is not None:
            return
        now = time.perf_counter()
        tally = self._tally
        failure = failure_of(error, streaming=True) if error is not None else tally.error
        self.measure = self._recorder.measure(
            self.call,
            model=tally.model,
            usage=tally.usage,
            latency_ms=(now - self._started) * 1000 if ended else None,
            ttft_ms=None if self._first is None else (self._first - self._started) * 1000,
            refused=tally.refused,
            error=failure,
        )
        self._recorder.record(
            self.call, self.measure, response=tally.final if tally.final is not None else self,
            output_text=self.text,
        )


class MeasuredStream(_Measuring, Generic[T]):
    """The provider's stream, measured; iterate it, or use it as a context manager."""

    def __init__(
        self, stream: Any, call: VariantCall, recorder: CallRecorder, see: See, started: float
    ) -> None:
        super().__init__(call, recorder, see, started)
        self.stream = stream
        self._items: Iterator[T] = iter(stream)

    def __iter__(self) -> MeasuredStream[T]:
        return self

    def __next__(self) -> T:
        try:
            item = next(self._items)
        except StopIteration:
            self._finish(ended=True)
            raise
        except Exception as error:
            self._finish(ended=True, error=error)
            raise
        self._seen(item)
        return item

    def close(self) -> None:
        self._finish(ended=False)
        self.stream.close()

    def __enter__(self) -> MeasuredStream[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncMeasuredStream(_Measuring, Generic[T]):
    """The provider's async stream, measured; `async for` it, or `async with` it."""

    def __init__(
        self, stream: Any, call: VariantCall, recorder: CallRecorder, see: See, started: float
    ) -> None:
        super().__init__(call, recorder, see, started)
        self.stream = stream
        self._items: AsyncIterator[T] = stream.__aiter__()

    def __aiter__(self) -> AsyncMeasuredStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            item = await self._items.__anext__()
        except StopAsyncIteration:
            self._finish(ended=True)
            raise
        except Exception as error:
            self._finish(ended=True, error=error)
            raise
        self._seen(item)
        return item

    async def close(self) -> None:
        self._finish(ended=False)
        await self.stream.close()

    async def __aenter__(self) -> AsyncMeasuredStream[T]:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
