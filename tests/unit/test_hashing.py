"""The hash specification: bytes in, one exact double in [0, 1) out, the same in every language."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rollout_sdk.kernel.hashing import (
    SEPARATOR,
    bucket_of,
    encode_text,
    layer_salt,
    salted_bucket,
    traffic_salt,
    variant_salt,
)

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=300)
# Every code point, lone surrogates included: ids arrive as JSON, which can carry them.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=64)


def reference_bucket(unit: str, salt: str) -> float:
    """The docs/hashing.md formula written out with nothing shared with the implementation."""
    data = encode_text(salt) + b"\x1f" + encode_text(unit)
    x = int.from_bytes(hashlib.sha256(data).digest()[:8], "big") >> 11
    return x / 9007199254740992  # 2**53


def test_bucket_of_a_known_input() -> None:
    digest = hashlib.sha256(b"summary-tone:traffic\x1fu1").hexdigest()
    assert digest.startswith("dc3817b6543160bb")
    expected = (0xDC3817B6543160BB >> 11) * 2.0**-53
    assert bucket_of("u1", "summary-tone:traffic") == expected == 0.86023090554608


@DETERMINISTIC
@given(unit=ANY_TEXT, salt=ANY_TEXT)
def test_bucket_matches_the_reference_formula(unit: str, salt: str) -> None:
    assert bucket_of(unit, salt) == reference_bucket(unit, salt)


@DETERMINISTIC
@given(unit=ANY_TEXT, salt=ANY_TEXT)
def test_bucket_is_a_multiple_of_two_to_the_minus_53_in_the_unit_interval(
    unit: str, salt: str
) -> None:
    bucket = bucket_of(unit, salt)
    assert 0.0 <= bucket < 1.0
    assert (bucket * 2**53).is_integer()


@DETERMINISTIC
@given(unit=ANY_TEXT, salt=ANY_TEXT)
def test_bucket_is_deterministic(unit: str, salt: str) -> None:
    assert bucket_of(unit, salt) == bucket_of(unit, salt)


def test_the_largest_possible_bucket_is_below_one() -> None:
    assert ((2**64 - 1) >> 11) * 2.0**-53 == 1.0 - 2.0**-53


def test_the_separator_keeps_unit_and_salt_apart() -> None:
    assert SEPARATOR == "\x1f"
    assert bucket_of("c", "ab") != bucket_of("bc", "a")


@DETERMINISTIC
@given(units=st.lists(ANY_TEXT, max_size=5), salt=ANY_TEXT)
def test_a_salted_bucket_function_equals_bucket_of_call_after_call(
    units: list[str], salt: str
) -> None:
    bucket = salted_bucket(salt)
    for unit in units:
        assert bucket(encode_text(unit)) == bucket_of(unit, salt)


def test_text_is_utf8() -> None:
    assert encode_text("Zo\u00eb") == b"Zo\xc3\xab"
    assert encode_text("\U0001f600") == b"\xf0\x9f\x98\x80"


def test_a_lone_surrogate_hashes_as_the_replacement_character() -> None:
    assert encode_text("a\ud800b") == "a\ufffdb".encode()
    assert bucket_of("\udfff", "s") == bucket_of("\ufffd", "s")


def test_a_surrogate_pair_hashes_as_its_character() -> None:
    assert encode_text("\ud83d\ude00") == "\U0001f600".encode()


def test_salts_name_their_purpose() -> None:
    assert traffic_salt("summary-tone") == "summary-tone:traffic"
    assert variant_salt("summary-tone") == "summary-tone:variant"
    assert layer_salt("summaries") == "layer:summaries"


def test_buckets_are_uniform() -> None:
    points = [bucket_of(f"user-{i}", "uniformity") for i in range(50_000)]
    assert stats.kstest(points, "uniform").pvalue > 0.001


def test_buckets_under_different_salts_are_independent() -> None:
    table = [[0] * 10 for _ in range(10)]
    for i in range(50_000):
        unit = f"user-{i}"
        row = int(bucket_of(unit, traffic_salt("exp")) * 10)
        column = int(bucket_of(unit, variant_salt("exp")) * 10)
        table[row][column] += 1
    assert stats.chi2_contingency(table).pvalue > 0.001
