"""Layer ranges: experiments of one layer hold disjoint ranges of the layer's hash space."""

from __future__ import annotations

from collections.abc import Callable

import redis

from experiments.errors import Conflict
from experiments.store.connection import Redis
from experiments.store.keys import PRODUCTION_KEYS, EnvironmentKeys

Allocate = Callable[[list[tuple[float, float]], float | None], tuple[float, float] | None]


class LayerStore:
    def __init__(self, redis_client: Redis, layout: EnvironmentKeys = PRODUCTION_KEYS) -> None:
        self._redis = redis_client
        self._keys = layout

    def ranges(self, layer: str) -> dict[str, tuple[float, float]]:
        raw = self._redis.hgetall(self._keys.layer(layer))
        return {name: _decode(value) for name, value in raw.items()}

    def claim(
        self,
        layer: str,
        experiment: str,
        share: float | None,
        allocate: Allocate,
        *,
        replace: bool = False,
    ) -> tuple[float, float]:
        """Claim a free range for `experiment` under WATCH, so two claims never overlap.

        An experiment holding a range keeps it, unless `replace`: then its own range counts as
        free and is swapped for the new one in the same transaction (a draft's new share).
        """
        key = self._keys.layer(layer)
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    held = {n: _decode(v) for n, v in pipe.hgetall(key).items()}
                    mine = held.pop(experiment, None)
                    if mine is not None and not replace:
                        pipe.unwatch()
                        return mine
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

    def hold(self, layer: str, experiment: str, held: tuple[float, float]) -> None:
        """Put back a range known to be free for `experiment` (undoing a replacing claim)."""
        self._redis.hset(self._keys.layer(layer), experiment, f"{held[0]!r},{held[1]!r}")

    def release(self, layer: str, experiment: str) -> None:
        self._redis.hdel(self._keys.layer(layer), experiment)


def _decode(value: str) -> tuple[float, float]:
    lo, hi = value.split(",")
    return float(lo), float(hi)
