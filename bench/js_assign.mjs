// Local assignment in the TypeScript SDK against GrowthBook's JavaScript SDK doing the same work,
// on the same users, in one run:
//
//   npm ci --prefix sdk/js && npm run build --prefix sdk/js && node bench/js_assign.mjs
//   node bench/js_assign.mjs --baseline /path/to/an/older/sdk/js   # also that build, same run
//
// The same work: one experiment, two variants 50/50, targeting `country in [DE, FR]`; each user
// in the experiment queues one exposure (our client's queue; GrowthBook's trackingCallback
// pushing the same record onto an array). Two scenarios: full traffic (GrowthBook coverage 1),
// and half the eligible users (coverage 0.5), where our specification hashes twice (traffic,
// then variant) and GrowthBook once.
//
// Fair measurement: every side gets the same prebuilt user objects (GrowthBook its prebuilt
// `{ attributes }` contexts, so neither allocates in the loop on the caller's behalf) and a
// fresh client per round; a warm-up round is discarded; each round runs the sides in a rotated
// order on fresh users (no exposure cache helps anyone); the figure is the median over rounds,
// both of wall time and of the process's CPU time (the latter counts GC threads too and is the
// steadier one on a loaded machine). Also printed: the hash alone (pure-TS SHA-256 against
// node:crypto's createHash) and the package's size as installed (dist plus runtime dependencies).
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = fileURLToPath(new URL("../sdk/js/", import.meta.url));
const require = createRequire(join(sdk, "package.json"));
const { GrowthBookClient } = require("@growthbook/growthbook");

const argv = process.argv.slice(2);
const baselineAt = argv.indexOf("--baseline");
const builds = [["ours", sdk]];
if (baselineAt >= 0) builds.push(["baseline", resolve(argv[baselineAt + 1])]);
const sdks = {};
for (const [name, dir] of builds) sdks[name] = await import(join(dir, "dist/esm/index.js"));
const SaltedBucket = (await import(join(sdk, "dist/esm/hashing.js"))).SaltedBucket;

const USERS = Number(process.env.USERS ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const COUNTRIES = ["DE", "FR", "US", "GB"];

function documentAt(traffic) {
  return {
    version: 1,
    experiments: [{
      key: "summary-tone", seed: "summary-tone", status: "running", control: "control", traffic,
      targeting: { country: { in: ["DE", "FR"] } }, layer: null, layer_range: null, winner: null,
      variants: [{ key: "control", weight: 0.5, config: null, prompt: null }, { key: "friendly", weight: 0.5, config: null, prompt: null }],
    }],
  };
}
const growthbookExperimentAt = (coverage) => ({
  key: "summary-tone", variations: ["control", "friendly"], weights: [0.5, 0.5], coverage,
  condition: { country: { $in: ["DE", "FR"] } }, hashAttribute: "id",
});

function population(round, count) {
  const users = Array.from({ length: count }, (_, i) => ({ id: `user-${round}-${i}`, country: COUNTRIES[i % COUNTRIES.length] }));
  return { users, contexts: users.map((attributes) => ({ attributes })) };
}

/** Wall and CPU nanoseconds per user of `loop()`. */
function timed(count, loop) {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = loop();
  const wall = Number(process.hrtime.bigint() - started) / count;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: ((used.user + used.system) * 1000) / count, ...result };
}

function rollout(build, traffic) {
  return ({ users }) => {
    const client = new build.RolloutClient({
      url: "http://127.0.0.1:9", apiKey: "bench", bootstrap: documentAt(traffic), flushIntervalMs: 3_600_000,
      maxQueue: 10_000_000, exposureCacheSize: 10_000_000, logger: { warn() {}, error() {} },
    });
    const run = timed(users.length, () => {
      let inExperiment = 0;
      for (let i = 0; i < users.length; i++) {
        const user = users[i];
        if (client.assign(user.id, "summary-tone", user).inExperiment) inExperiment++;
      }
      return { inExperiment };
    });
    // The client may hold one batch in flight (to the unreachable URL): it is not in the queue.
    const queued = client.stats().exposuresQueued;
    void client.close(0);
    if (queued + 1000 < run.inExperiment || queued > run.inExperiment) throw new Error(`exposures not queued: ${queued} of ${run.inExperiment}`);
    return run;
  };
}

function growthbook(coverage) {
  const experiment = growthbookExperimentAt(coverage);
  return async ({ contexts }) => {
    const queue = [];
    const gb = new GrowthBookClient({
      trackingCallback: (tracked, result, user) => {
        queue.push({ user_id: user.attributes.id, experiment: tracked.key, variant: result.value });
      },
    });
    await gb.init({ payload: { features: {} } });
    const run = timed(contexts.length, () => {
      let inExperiment = 0;
      for (let i = 0; i < contexts.length; i++) {
        if (gb.runInlineExperiment(experiment, contexts[i]).inExperiment) inExperiment++;
      }
      return { inExperiment };
    });
    gb.destroy?.();
    if (queue.length !== run.inExperiment) throw new Error(`GrowthBook tracked ${queue.length} of ${run.inExperiment}`);
    return run;
  };
}

function hashing(pure) {
  const salted = new SaltedBucket("summary-tone:variant");
  return ({ users }) => timed(users.length, () => {
    let sum = 0;
    for (let i = 0; i < users.length; i++) {
      const id = users[i].id;
      if (pure) {
        sum += salted.bucket(id);
      } else {
        const digest = createHash("sha256").update(`summary-tone:variant\x1f${id}`).digest();
        sum += (digest.readUInt32BE(0) * 2 ** 21 + (digest.readUInt32BE(4) >>> 11)) * 2 ** -53;
      }
    }
    return { sum };
  });
}

const sides = {};
for (const [label, traffic] of [["full traffic", 1.0], ["traffic 0.5", 0.5]]) {
  for (const [name] of builds) sides[`${name} | ${label}`] = rollout(sdks[name], traffic);
  sides[`GrowthBook | ${label}`] = growthbook(traffic);
}
sides["SHA-256 bucket, pure TS"] = hashing(true);
sides["SHA-256 bucket, node:crypto"] = hashing(false);

const names = Object.keys(sides);
const samples = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round <= ROUNDS; round++) {
  const people = population(round, round === 0 ? USERS / 4 : USERS);
  const answers = {};
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + round) % names.length];
    const run = await sides[name](people);
    answers[name] = run;
    if (round > 0) samples[name].push(run);
  }
  const full = names.filter((n) => n.endsWith("full traffic")).map((n) => answers[n].inExperiment);
  if (new Set(full).size !== 1) throw new Error(`not the same answers at full traffic: ${full}`);
  for (const name of names.filter((n) => n.endsWith("traffic 0.5"))) {
    const share = answers[name].inExperiment / people.users.length;
    if (Math.abs(share - 0.25) > 0.01) throw new Error(`${name}: ${share} of users in the experiment, not a quarter`);
  }
  if (Math.abs(answers["SHA-256 bucket, pure TS"].sum - answers["SHA-256 bucket, node:crypto"].sum) > 1e-6) {
    throw new Error("the two SHA-256 disagree");
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const figure = (name, clock) => median(samples[name].map((run) => run[clock]));

function size(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, entry) => total + size(join(path, entry)), 0);
}
const runtime = Object.keys(require("./package.json").dependencies);
const installed = size(join(sdk, "dist")) + runtime.reduce((t, name) => t + size(join(sdk, "node_modules", name)), 0);

console.log(`users per round: ${USERS}, rounds: ${ROUNDS} after a warm-up (median ns per user: wall / CPU)`);
const pad = Math.max(...names.map((n) => n.length));
for (const name of names) {
  console.log(`${name.padEnd(pad)} : ${figure(name, "wall").toFixed(0).padStart(6)} ns / ${figure(name, "cpu").toFixed(0).padStart(6)} ns`);
}
for (const label of ["full traffic", "traffic 0.5"]) {
  for (const [name] of builds) {
    const ratio = (clock) => (figure(`GrowthBook | ${label}`, clock) / figure(`${name} | ${label}`, clock)).toFixed(2);
    console.log(`ratio GrowthBook / ${name}, ${label}: ${ratio("wall")}x wall, ${ratio("cpu")}x CPU (target >= 3x)`);
  }
}
console.log(`installed size: dist ${(size(join(sdk, "dist")) / 1024).toFixed(0)} KiB; with runtime deps (${runtime.join(", ")}) ${(installed / 1024).toFixed(0)} KiB`);
