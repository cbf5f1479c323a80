"""The hash specification: a unit id and a salt map to one reproducible point in [0, 1).

Every replica, and every SDK in any language, must place a user at exactly the same point, so the
mapping is defined down to the byte (docs/hashing.md is the normative text; the test vectors in
tests/vectors/assignment.json pin it):

    h = SHA-256(utf8(salt) || 0x1F || utf8(unit))
    x = the first 8 bytes of h as a big-endian unsigned 64-bit integer, shifted right by 11
    bucket = x * 2**-53

53 bits is the precision of an IEEE-754 double, so `x * 2**-53` is exact in every language that
has doubles (no rounding mode can differ) and the largest bucket is 1 - 2**-53 < 1. The 0x1F byte
(ASCII unit separator) keeps ("ab", "c") and ("a", "bc") apart.

Text is encoded as UTF-8. A lone UTF-16 surrogate (which JSON can carry as an escape, and which
UTF-8 cannot encode) becomes U+FFFD, exactly as the WHATWG TextEncoder of a browser does; so no id,
however odd, makes hashing fail.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from hashlib import sha256

SEPARATOR = "\x1f"
_SEPARATOR_BYTE = b"\x1f"
_TOP_64_BITS = struct.Struct(">Q").unpack_from
_TWO_TO_MINUS_53 = 2.0**-53
_TWO_TO_53 = 2.0**53


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of `text`, with each lone surrogate replaced by U+FFFD (EF BF BD)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Only reachable with surrogate code points: the UTF-16 round trip joins a high/low pair
        # into its character and turns each unpaired one into U+FFFD, as TextEncoder does.
        repaired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return repaired.encode("utf-8")


def salted_bucket(salt: str) -> Callable[[bytes], float]:
    """The function `encode_text(unit) -> bucket_of(unit, salt)`, for callers that assign in bulk.

    The salt and separator are hashed once, here; each call copies that SHA-256 state and feeds
    it only the unit, which costs about a quarter less than hashing the whole message again.
    Copying a shared hash object is thread-safe in CPython, so one function serves every thread.
    """
    salted = sha256(encode_text(salt) + _SEPARATOR_BYTE)

    def bucket(unit: bytes) -> float:
        state = salted.copy()
        state.update(unit)
        top: int = _TOP_64_BITS(state.digest())[0]
        return (top >> 11) * _TWO_TO_MINUS_53

    return bucket


def bucket_of(unit: str, salt: str) -> float:
    """The point in [0, 1) of `unit` under `salt`; see the module docstring for the formula."""
    return salted_bucket(salt)(encode_text(unit))


def traffic_salt(seed: str) -> str:
    """Salt deciding whether a user is in an experiment at all (compared with `traffic`)."""
    return f"{seed}:traffic"


def variant_salt(seed: str) -> str:
    """Salt choosing the variant; independent of the traffic salt, so ramps never reshuffle."""
    return f"{seed}:variant"


def layer_salt(layer: str) -> str:
    """Salt shared by every experiment of a layer, so disjoint layer ranges mean disjoint users."""
    return f"layer:{layer}"


MAX_SHARDS = 64
"""The most storage shards an experiment may have (`Experiment.shards`)."""


def shard_salt(key: str) -> str:
    """Salt placing a user in one of the experiment's storage shards. The key and not the seed:
    the store routes by the key alone, and both are fixed at creation."""
    return f"{key}:shard"


def salted_shard(key: str, shards: int) -> Callable[[str], int]:
    """`unit -> shard_of(unit, key, shards)` with the salt hashed once, for bulk callers."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_SHARDS}, got {shards}")
    if shards == 1:
        return _only_shard
    bucket = salted_bucket(shard_salt(key))

    def shard(unit: str) -> int:
        # The bucket times 2**53 is the 53-bit integer x again, exactly; x mod shards is exact
        # integer arithmetic in every language (a double holds x), where floor(bucket * shards)
        # would need an argument about rounding.
        return int(bucket(encode_text(unit)) * _TWO_TO_53) % shards

    return shard


def shard_of(unit: str, key: str, shards: int) -> int:
    """Which of the experiment's `shards` holds the user's data: x mod shards, with x the 53-bit
    integer of `unit` under `shard_salt(key)` (docs/hashing.md); always 0 for one shard."""
    return salted_shard(key, shards)(unit)


def _only_shard(unit: str) -> int:
    return 0
