// Every vector of tests/vectors/assignment.json (docs/hashing.md), bit for bit.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import { bucketOf, compileExperiment, decide, messageDigestHex } from "../dist/esm/index.js";
import { assignmentVectors } from "./vectors.mjs";

const { hashes, cases, experiments, experiment_defaults: defaults } = assignmentVectors;

test("every hash vector has the specified SHA-256 and the bit-identical bucket", () => {
  assert.ok(hashes.length >= 12);
  for (const vector of hashes) {
    assert.equal(messageDigestHex(vector.unit, vector.salt), vector.sha256, JSON.stringify(vector));
    assert.equal(bucketOf(vector.unit, vector.salt), vector.bucket, JSON.stringify(vector));
    assert.equal(Math.round(bucketOf(vector.unit, vector.salt) * 2 ** 53), vector.x);
  }
});

test("messages longer than one SHA-256 block hash correctly", () => {
  const long = cases.find((c) => c.user_id.length === 256);
  assert.ok(long, "the vectors hold a 256-character id");
  assert.equal(bucketOf(long.user_id, `${experiments[long.experiment].seed || experiments[long.experiment].key}:traffic`), long.buckets.traffic);
});

test("every assignment case gives the expected variant, in_experiment and reason", () => {
  const compiled = Object.fromEntries(
    Object.entries(experiments).map(([name, config]) => [name, compileExperiment({ ...defaults, ...config })]),
  );
  assert.ok(cases.length > 200);
  const reasons = new Set();
  for (const vector of cases) {
    const decision = decide(compiled[vector.experiment], vector.user_id, vector.attributes);
    const got = { variant: decision.variant, in_experiment: decision.inExperiment, reason: decision.reason };
    assert.deepEqual(got, vector.expected, `${vector.experiment} / ${JSON.stringify(vector.user_id)}`);
    reasons.add(decision.reason);
  }
  assert.deepEqual([...reasons].sort(), [
    "assigned", "concluded", "layer", "not_running", "paused", "rolled_back", "targeting", "traffic",
  ]);
});

test("the CommonJS build answers the same buckets as the ESM build", () => {
  const require = createRequire(import.meta.url);
  const cjs = require("../dist/cjs/index.js");
  for (const vector of hashes) assert.equal(cjs.bucketOf(vector.unit, vector.salt), vector.bucket);
});
