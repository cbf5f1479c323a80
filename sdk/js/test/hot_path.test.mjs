// What the fast paths of assign must preserve: the salted SHA-256 (midstate and opening rounds)
// equals node:crypto's for every prefix and unit length around the block boundaries; the hashes
// decide skips (full traffic, a whole layer, one variant) answer what hashing would; the
// exposure cache forgets the oldest pair first; the exposure queue sends in order, restores in
// order and counts overflow.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { bucketOf, compileExperiment, decide, messageDigestHex } from "../dist/esm/index.js";
import { ExposureCache } from "../dist/esm/exposure_cache.js";
import { ExposureQueue } from "../dist/esm/queue.js";

const nodeDigest = (unit, salt) => createHash("sha256").update(`${salt}\x1f${unit}`, "utf8").digest("hex");
const text = (length, alphabet) => Array.from({ length }, (_, i) => alphabet[i % alphabet.length]).join("");

test("salted SHA-256 equals node:crypto for salts and units of every length up to three blocks", () => {
  let compared = 0;
  for (let saltLength = 0; saltLength <= 140; saltLength++) {
    const salt = text(saltLength, "salt-");
    for (const unitLength of [0, 1, 2, 3, 4, 5, 31, 32, 33, 54, 55, 56, 63, 64, 65, 119, 120, 200]) {
      const unit = text(unitLength, "u0123456789");
      assert.equal(messageDigestHex(unit, salt), nodeDigest(unit, salt), `salt ${saltLength} B, unit ${unitLength} B`);
      compared++;
    }
  }
  assert.equal(compared, 141 * 18);
});

test("salted SHA-256 equals node:crypto for multi-byte salts and units, lone surrogates as U+FFFD", () => {
  const units = ["é", "日本語", "🙂x", "\ud800", "a\udc00b", text(70, "ü-")];
  for (const salt of ["", "é", text(63, "ß"), text(64, "日"), text(90, "🙂")]) {
    for (const unit of units) assert.equal(messageDigestHex(unit, salt), nodeDigest(unit, salt), `${salt} / ${unit}`);
  }
});

test("one salt hashes many units in turn, short and long, without one hash leaking into the next", () => {
  const compiled = compileExperiment({
    key: "long-seed", seed: text(80, "seed"), status: "running", control: "a", traffic: 0.5,
    variants: [{ key: "a", weight: 0.5 }, { key: "b", weight: 0.5 }],
  });
  const seen = new Set();
  for (const unit of ["u1", text(300, "x"), "u1", "", text(61, "y"), "u1"]) {
    const decision = decide(compiled, unit);
    const traffic = bucketOf(unit, `${text(80, "seed")}:traffic`);
    assert.equal(decision.reason === "traffic", !(traffic < 0.5), unit);
    if (unit === "u1") seen.add(decision.variant);
  }
  assert.equal(seen.size, 1);
});

test("full traffic, a layer range of [0, 1] and a single variant answer what their hash would", () => {
  const base = { key: "e", status: "running", control: "a", variants: [{ key: "a", weight: 0.5 }, { key: "b", weight: 0.5 }] };
  const full = compileExperiment({ ...base, traffic: 1.0, layer: "l", layer_range: [0, 1] });
  assert.equal(full.trafficBucket, null);
  assert.equal(full.layerBucket, null);
  const single = compileExperiment({ ...base, traffic: 1.0, variants: [{ key: "a", weight: 0 }, { key: "b", weight: 1 }] });
  assert.equal(single.variantBucket, null);
  for (let i = 0; i < 2000; i++) {
    const unit = `user-${i}`;
    const variant = bucketOf(unit, "e:variant") < 0.5 ? "a" : "b";
    assert.deepEqual([decide(full, unit).variant, decide(full, unit).reason], [variant, "assigned"]);
    assert.deepEqual([decide(single, unit).variant, decide(single, unit).inExperiment], ["b", true]);
  }
  const nobody = compileExperiment({ ...base, traffic: 1.0, layer: "l", layer_range: [0.3, 0.3] });
  assert.equal(decide(nobody, "u1").reason, "layer");
});

test("the exposure cache forgets the oldest (experiment, user) pair first, across experiments", () => {
  const cache = new ExposureCache(3);
  const a = cache.usersOf("a");
  const b = cache.usersOf("b");
  cache.remember(a, "u1");
  cache.remember(b, "u1");
  cache.remember(a, "u2");
  cache.remember(a, "u2");
  assert.equal(cache.size, 3);
  cache.remember(b, "u3");
  assert.deepEqual([[...cache.usersOf("a")], [...cache.usersOf("b")]], [["u2"], ["u1", "u3"]]);
  cache.remember(a, "u4");
  assert.deepEqual([[...cache.usersOf("a")], [...cache.usersOf("b")]], [["u2", "u4"], ["u3"]]);
  assert.equal(cache.size, 3);
});

test("an exposure cache of capacity 0 remembers nobody", () => {
  const cache = new ExposureCache(0);
  cache.remember(cache.usersOf("a"), "u1");
  assert.equal(cache.usersOf("a").has("u1"), false);
});

test("the exposure queue answers batches in order, restores a failed one in front, counts overflow", () => {
  const queue = new ExposureQueue(3);
  const control = { experiment: "e", variant: "control" };
  const friendly = { experiment: "e", variant: "friendly" };
  assert.equal(queue.push("u1", control, { country: "DE" }), true);
  assert.equal(queue.push("u2", friendly, {}), true);
  assert.equal(queue.push("u3", control, null), true);
  const first = queue.take(2);
  assert.deepEqual(first, [
    { user_id: "u1", experiment: "e", variant: "control", attributes: { country: "DE" } },
    { user_id: "u2", experiment: "e", variant: "friendly" },
  ]);
  assert.equal(queue.push("u4", friendly, undefined), true);
  assert.equal(queue.push("u5", friendly, undefined), true);
  assert.equal(queue.push("u6", friendly, undefined), false);
  assert.equal(queue.overflow, 1);
  queue.restore(first);
  assert.equal(queue.length, 5);
  assert.deepEqual(queue.take(10).map((e) => e.user_id), ["u1", "u2", "u3", "u4", "u5"]);
  assert.equal(queue.length, 0);
});
