"""Write tests/vectors/assignment.json: the test vectors of the hash and assignment specification.

Run by hand, from the repository root, only when the specification changes on purpose:

    .venv/bin/python tests/vectors/generate.py

The vectors are committed. tests/unit/test_assignment.py recomputes every one of them from the
kernel (rollout_sdk.kernel), so an accidental change to hashing, salts, boundaries, targeting or
the status rules fails the suite; an SDK in another language checks itself against the same
file (docs/hashing.md).

The file holds
- `hashes`: unit, salt, the SHA-256 of the hashed bytes, the 53-bit integer and the bucket;
- `experiments`: assignment-relevant configurations, by name, as the SDK config carries them;
- `cases`: a user id and attributes against one experiment, the three raw buckets (`layer` is
  null without a layer), and the expected variant, in_experiment and reason;
- `shards`: a user id, an experiment key and a shard count, the 53-bit integer of the id under
  the shard salt, and the user's storage shard (`shard_of`).
Non-ASCII text is written as JSON \\u escapes, so a lone surrogate survives the round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from rollout_sdk.kernel.assignment import ExperimentSpec, assign, compile_experiment, spec_of
from rollout_sdk.kernel.document import read_experiment
from rollout_sdk.kernel.hashing import (
    bucket_of,
    encode_text,
    layer_salt,
    shard_of,
    shard_salt,
    traffic_salt,
    variant_salt,
)

OUTPUT = Path(__file__).with_name("assignment.json")

USERS = [
    "u1",
    "user-12345",
    "alice@example.com",
    "",
    " ",
    "12345",
    "null",
    "tab\tid",
    "Zo\u00eb",
    "a\u0301",  # "a" + combining acute: other bytes than the precomposed "\u00e1"
    "\u00e1",
    "\u7528\u6237-42",
    "\u30e6\u30fc\u30b6\u30fc",
    "\U0001f600\U0001f389",
    "\ud800",  # a lone surrogate: hashed as U+FFFD
    "x" * 256,
]

ATTRIBUTES: list[dict[str, Any] | None] = [
    None,
    {},
    {"country": "DE"},
    {"country": "FR", "plan": "free"},
    {"country": "US", "plan": "pro", "age": 17},
    {
        "country": "DE",
        "plan": "pro",
        "age": 34,
        "beta": True,
        "device": {"os": "ios", "build": 1702},
        "tags": ["early", "staff"],
        "email": "ana@corp.example",
    },
    {"country": "FR", "plan": "team", "age": 51.5, "device": {"os": "android"}, "tags": []},
    {"country": "de", "plan": None, "age": "34", "beta": 1, "email": "bob@example.org"},
]

DEFAULTS: dict[str, Any] = {"control": "control", "status": "running", "traffic": 1.0}
"""What a configuration in `experiments` means when it leaves a field out."""

TWO_WAY = [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}]

EXPERIMENTS: dict[str, dict[str, Any]] = {
    "plain": {"key": "summary-tone", "seed": "summary-tone", "variants": TWO_WAY},
    "seed-fallback": {"key": "seedless", "seed": "", "variants": TWO_WAY},
    "renamed-same-seed": {"key": "renamed", "seed": "summary-tone", "variants": TWO_WAY},
    "three-way": {
        "key": "three-way",
        "seed": "three-way",
        "variants": [
            {"key": "control", "weight": 0.2},
            {"key": "short", "weight": 0.3},
            {"key": "long", "weight": 0.5},
        ],
    },
    "zero-weight": {
        "key": "zero-weight",
        "seed": "zero-weight",
        "variants": [
            {"key": "control", "weight": 0.25},
            {"key": "retired", "weight": 0.0},
            {"key": "treatment", "weight": 0.75},
        ],
    },
    "tenths": {
        "key": "tenths",
        "seed": "tenths",
        "variants": [{"key": f"v{i}", "weight": 0.1} for i in range(10)],
        "control": "v0",
    },
    "low-traffic": {
        "key": "low-traffic",
        "seed": "low-traffic",
        "variants": TWO_WAY,
        "traffic": 0.1,
    },
    "half-traffic": {
        "key": "half-traffic",
        "seed": "half-traffic",
        "variants": [{"key": "control", "weight": 0.3}, {"key": "friendly", "weight": 0.7}],
        "traffic": 0.5,
    },
    "no-traffic": {"key": "no-traffic", "seed": "no-traffic", "variants": TWO_WAY, "traffic": 0.0},
    "layer-low": {
        "key": "layer-low",
        "seed": "layer-low",
        "variants": TWO_WAY,
        "layer": "summaries",
        "layer_range": [0.0, 0.5],
    },
    "layer-high": {
        "key": "layer-high",
        "seed": "layer-high",
        "variants": TWO_WAY,
        "traffic": 0.8,
        "layer": "summaries",
        "layer_range": [0.5, 1.0],
    },
    "layer-unallocated": {
        "key": "layer-unallocated",
        "seed": "layer-unallocated",
        "variants": TWO_WAY,
        "layer": "summaries",
    },
    "targeted": {
        "key": "targeted",
        "seed": "targeted",
        "variants": TWO_WAY,
        "targeting": {"country": {"in": ["DE", "FR"]}, "plan": {"ne": "free"}},
    },
    "targeted-rich": {
        "key": "targeted-rich",
        "seed": "targeted-rich",
        "variants": TWO_WAY,
        "traffic": 0.9,
        "targeting": {
            "any": [
                {"age": {"gte": 18, "lt": 65}, "device.os": "ios"},
                {"email": {"regex": "@corp\\.example$"}},
                {"tags": {"contains": "staff"}},
                {"all": [{"plan": {"exists": True}}, {"not": {"plan": {"nin": ["team"]}}}]},
            ],
            "not": {"country": "US"},
        },
    },
    "draft": {"key": "draft", "seed": "draft", "variants": TWO_WAY, "status": "draft"},
    "paused": {"key": "paused", "seed": "paused", "variants": TWO_WAY, "status": "paused"},
    "rolled-back": {
        "key": "rolled-back",
        "seed": "rolled-back",
        "variants": TWO_WAY,
        "status": "rolled_back",
    },
    "concluded": {
        "key": "concluded",
        "seed": "concluded",
        "variants": TWO_WAY,
        "status": "concluded",
        "winner": "friendly",
    },
}

HASH_INPUTS = [
    ("u1", "summary-tone:traffic"),
    ("u1", "summary-tone:variant"),
    ("u1", "layer:summaries"),
    ("", ""),
    ("", "summary-tone:variant"),
    ("user-12345", ""),
    ("c", "ab"),  # with the separator, these two differ
    ("bc", "a"),
    ("Zo\u00eb", "s"),
    ("\U0001f600", "s"),
    ("\ud800", "s"),
    ("\ufffd", "s"),
]


def experiment_of(config: dict[str, Any]) -> ExperimentSpec:
    """The kernel's spec of a vector configuration, read as an SDK document entry."""
    return spec_of(read_experiment(DEFAULTS | config))


def hash_vector(unit: str, salt: str) -> dict[str, Any]:
    digest = hashlib.sha256(encode_text(salt) + b"\x1f" + encode_text(unit)).digest()
    return {
        "unit": unit,
        "salt": salt,
        "sha256": digest.hex(),
        "x": int.from_bytes(digest[:8], "big") >> 11,
        "bucket": bucket_of(unit, salt),
    }


def cases() -> list[dict[str, Any]]:
    out = []
    for number, (name, config) in enumerate(EXPERIMENTS.items()):
        experiment = experiment_of(config)
        compiled = compile_experiment(experiment)
        seed = experiment.seed
        for index, user in enumerate(USERS):
            attributes = ATTRIBUTES[(index + number) % len(ATTRIBUTES)]
            answer = assign(compiled, user, attributes)
            layer = experiment.layer
            out.append(
                {
                    "experiment": name,
                    "user_id": user,
                    "attributes": attributes,
                    "buckets": {
                        "layer": None if layer is None else bucket_of(user, layer_salt(layer)),
                        "traffic": bucket_of(user, traffic_salt(seed)),
                        "variant": bucket_of(user, variant_salt(seed)),
                    },
                    "expected": {
                        "variant": answer.variant,
                        "in_experiment": answer.in_experiment,
                        "reason": answer.reason.value,
                    },
                }
            )
    return out


SHARD_KEYS = ["summary-tone", "checkout-copy"]
SHARD_COUNTS = [1, 2, 3, 16, 64]


def shard_vectors() -> list[dict[str, Any]]:
    """Every user under each key and shard count; x is shown so a port can check its integer."""
    out = []
    for key in SHARD_KEYS:
        for user in USERS:
            x = hash_vector(user, shard_salt(key))["x"]
            for shards in SHARD_COUNTS:
                shard = shard_of(user, key, shards)
                out.append({"unit": user, "key": key, "shards": shards, "x": x, "shard": shard})
    return out


def render(document: dict[str, Any]) -> str:
    """Pretty enough to review in a diff: one hash, experiment or case a line."""
    lines = ["{"]
    items = list(document.items())
    for position, (key, value) in enumerate(items):
        comma = "," if position < len(items) - 1 else ""
        if isinstance(value, list):
            body = ",\n".join(f"    {json.dumps(item)}" for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{body}\n  ]{comma}")
        elif isinstance(value, dict):
            body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f"  {json.dumps(key)}: {{\n{body}\n  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    generated = cases()
    document = {
        "description": "Test vectors of the prompt-rollout hash and assignment specification",
        "specification": "docs/hashing.md",
        "experiment_defaults": DEFAULTS,
        "hashes": [hash_vector(unit, salt) for unit, salt in HASH_INPUTS],
        "experiments": EXPERIMENTS,
        "cases": generated,
        "shards": shard_vectors(),
    }
    OUTPUT.write_text(render(document), encoding="ascii")
    reasons = Counter(case["expected"]["reason"] for case in generated)
    print(f"wrote {len(generated)} cases to {OUTPUT}: {dict(reasons)}")


if __name__ == "__main__":
    main()
