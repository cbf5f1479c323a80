"""Layer ranges: experiments of one layer hold disjoint ranges of the layer's hash space."""

from __future__ import annotations

from collections.abc import Callable

import redis

from experiments.errors import Conflict
from experiments.store import keys
from experiments.store.connection import Redis

Allocate = Callable[[list[tuple[float, float]], float | None], tuple[float, float] | None]


class LayerStore:
    def __init__(self, redis_client: Redis) -> None:
        self._redis = redis_client

    def ranges(self, layer: str) -> dict[str, tuple[float, float]]:
        raw = self._redis.hgetall(keys.layer(layer))
        return {name: _decode(value) for name, value in raw.items()}

    def claim(
        self, layer: str, experiment: str, share: float | None, allocate: Allocate
    ) -> tuple[float, float]:
        """Claim a free range for `experiment` under WATCH, so two claims never overlap."""
        key = keys.layer(layer)
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    held = {n: _decode(v) for n, v in pipe.hgetall(key).items()}
                    if experiment in held:
                        pipe.unwatch()
                        return held[experiment]
                    found = allocate(sorted(held.values()), share)
                    if found is None:
                        raise Conflict(
                            f"layer {layer!r} has no free range"
                            + (f" of width {share}" if share is not None else ""),
                            [{"field": "layer_share", "message": "no free range in the layer"}],
                            code="layer_full",
                        )
                    pipe.multi()
                    pipe.hset(key, experiment, f"{found[0]!r},{found[1]!r}")
                    pipe.execute()
                    return found
                except redis.WatchError:
                    continue

    def release(self, layer: str, experiment: str) -> None:
        self._redis.hdel(keys.layer(layer), experiment)


def _decode(value: str) -> tuple[float, float]:
    lo, hi = value.split(",")
    return float(lo), float(hi)
