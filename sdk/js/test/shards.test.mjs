// The storage shard of a user (docs/hashing.md, "Storage shards"), against the shared vectors.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import { bucketOf, shardOf } from "../dist/esm/index.js";
import { assignmentVectors } from "./vectors.mjs";

const { shards } = assignmentVectors;

test("every shard vector gives the specified 53-bit integer and shard", () => {
  assert.ok(shards.length >= 100);
  for (const vector of shards) {
    const x = bucketOf(vector.unit, `${vector.key}:shard`) * 2 ** 53;
    assert.equal(x, vector.x, JSON.stringify(vector));
    assert.equal(shardOf(vector.unit, vector.key, vector.shards), vector.shard, JSON.stringify(vector));
  }
  assert.ok(shards.some((v) => v.shards === 64 && v.shard > 31), "the vectors reach the upper shards");
});

test("one shard is shard 0 for every user", () => {
  for (const vector of shards) assert.equal(shardOf(vector.unit, vector.key, 1), 0);
});

test("a shard count outside 1..64 is refused", () => {
  for (const count of [0, 65, 1.5, Number.NaN]) {
    assert.throws(() => shardOf("u1", "summary-tone", count), RangeError);
  }
});

test("the CommonJS build answers the same shards", () => {
  const require = createRequire(import.meta.url);
  const cjs = require("../dist/cjs/index.js");
  for (const vector of shards) assert.equal(cjs.shardOf(vector.unit, vector.key, vector.shards), vector.shard);
});
