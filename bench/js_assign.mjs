// Local assignment in the TypeScript SDK against GrowthBook's JavaScript SDK doing the same work,
// on the same 200k users, in one run:
//
//   npm ci --prefix sdk/js && npm run build --prefix sdk/js && node bench/js_assign.mjs
//
// The same work: one experiment, two variants 50/50, targeting `country in [DE, FR]`, full
// traffic; each user in the experiment queues one exposure (our client's queue; GrowthBook's
// trackingCallback pushing onto an array). Each round uses fresh users, so no cache helps either
// side. Also printed: the hash alone (pure-TS SHA-256 against node:crypto's createHash) and the
// package's size as installed (dist plus its runtime dependencies).
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = fileURLToPath(new URL("../sdk/js/", import.meta.url));
const require = createRequire(join(sdk, "package.json"));
const { RolloutClient, bucketOf } = await import(join(sdk, "dist/esm/index.js"));
const { GrowthBookClient } = require("@growthbook/growthbook");

const USERS = 200_000;
const ROUNDS = 5;
const COUNTRIES = ["DE", "FR", "US", "GB"];

const document = {
  version: 1,
  experiments: [{
    key: "summary-tone", seed: "summary-tone", status: "running", control: "control", traffic: 1.0,
    targeting: { country: { in: ["DE", "FR"] } }, layer: null, layer_range: null, winner: null,
    variants: [{ key: "control", weight: 0.5, config: null, prompt: null }, { key: "friendly", weight: 0.5, config: null, prompt: null }],
  }],
};
const growthbookExperiment = {
  key: "summary-tone", variations: ["control", "friendly"], weights: [0.5, 0.5], coverage: 1,
  condition: { country: { $in: ["DE", "FR"] } }, hashAttribute: "id",
};

function population(round) {
  return Array.from({ length: USERS }, (_, i) => ({ id: `user-${round}-${i}`, country: COUNTRIES[i % COUNTRIES.length] }));
}

function ours(users) {
  const client = new RolloutClient({
    url: "http://127.0.0.1:9", apiKey: "bench", bootstrap: document, flushIntervalMs: 3_600_000,
    maxQueue: 10_000_000, exposureCacheSize: 10_000_000, logger: { warn() {}, error() {} },
  });
  const started = process.hrtime.bigint();
  let inExperiment = 0;
  for (const user of users) {
    if (client.assign(user.id, "summary-tone", { country: user.country }).inExperiment) inExperiment++;
  }
  const elapsed = Number(process.hrtime.bigint() - started);
  const queued = client.stats().exposuresQueued;
  void client.close(0);
  return { elapsed, inExperiment, queued };
}

async function growthbook(users) {
  const queue = [];
  const gb = new GrowthBookClient({
    trackingCallback: (experiment, result, user) => {
      queue.push({ user_id: user.attributes.id, experiment: experiment.key, variant: result.value });
    },
  });
  await gb.init({ payload: { features: {} } });
  const started = process.hrtime.bigint();
  let inExperiment = 0;
  for (const user of users) {
    if (gb.runInlineExperiment(growthbookExperiment, { attributes: user }).inExperiment) inExperiment++;
  }
  const elapsed = Number(process.hrtime.bigint() - started);
  gb.destroy?.();
  return { elapsed, inExperiment, queued: queue.length };
}

function hashes(users, pure) {
  const started = process.hrtime.bigint();
  let sum = 0;
  for (const user of users) {
    if (pure) {
      sum += bucketOf(user.id, "summary-tone:variant");
    } else {
      const digest = createHash("sha256").update(`summary-tone:variant\x1f${user.id}`).digest();
      sum += (digest.readUInt32BE(0) * 2 ** 21 + (digest.readUInt32BE(4) >>> 11)) * 2 ** -53;
    }
  }
  return { elapsed: Number(process.hrtime.bigint() - started), sum };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = { ours: [], growthbook: [], pure: [], nodeCrypto: [] };
for (let round = 0; round < ROUNDS; round++) {
  const users = population(round);
  const a = ours(users);
  const b = await growthbook(users);
  // Our client may hold one batch in flight (the unreachable URL): it is not in the queue.
  if (a.inExperiment !== b.inExperiment || a.queued + 1000 < a.inExperiment || b.queued !== b.inExperiment) {
    throw new Error(`not the same work: ${JSON.stringify({ a, b })}`);
  }
  results.ours.push(a.elapsed / USERS);
  results.growthbook.push(b.elapsed / USERS);
  const pure = hashes(users, true);
  const native = hashes(users, false);
  if (Math.abs(pure.sum - native.sum) > 1e-6) throw new Error("the two SHA-256 disagree");
  results.pure.push(pure.elapsed / USERS);
  results.nodeCrypto.push(native.elapsed / USERS);
}

function size(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, entry) => total + size(join(path, entry)), 0);
}
const runtime = Object.keys(require("./package.json").dependencies);
const installed = size(join(sdk, "dist")) + runtime.reduce((t, name) => t + size(join(sdk, "node_modules", name)), 0);

const [o, g] = [median(results.ours), median(results.growthbook)];
console.log(`users per round: ${USERS}, rounds: ${ROUNDS} (median ns per user)`);
console.log(`prompt-rollout assign + exposure queued : ${o.toFixed(0)} ns`);
console.log(`GrowthBook runInlineExperiment + track  : ${g.toFixed(0)} ns`);
console.log(`ratio (GrowthBook / ours)               : ${(g / o).toFixed(2)}x (target >= 3x)`);
console.log(`SHA-256 bucket, pure TS                 : ${median(results.pure).toFixed(0)} ns`);
console.log(`SHA-256 bucket, node:crypto createHash  : ${median(results.nodeCrypto).toFixed(0)} ns`);
console.log(`installed size: dist ${(size(join(sdk, "dist")) / 1024).toFixed(0)} KiB; with runtime deps (${runtime.join(", ")}) ${(installed / 1024).toFixed(0)} KiB`);
