// Driven by tests/e2e/test_js_sdk.py against the real service under gunicorn.
//
//   node e2e/agreement.mjs compare <job.json>   local answers == POST /api/v1/assign, every user
//   node e2e/agreement.mjs track <job.json>     exposures and events through the failing proxy
//   node e2e/agreement.mjs cuped <job.json>     exposures with covariates, one event per user
//
// The job names the service (`url`, the proxy's or the service's), `direct` (the service itself,
// for the reference answers), the sdk `key`, and the users, experiments or events. The report is
// one JSON line on stdout.
import { readFileSync, writeFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

import { RolloutClient } from "../dist/esm/index.js";

const [mode, jobPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, "utf8"));
const quiet = { warn: () => undefined, error: (message) => process.stderr.write(`${message}\n`) };

function promptFields(prompt) {
  if (!prompt) return null;
  const { name, version, template, model, params } = prompt;
  return { name, version, template: template ?? null, model: model ?? null, params: params ?? {} };
}

async function reference(user) {
  const response = await fetch(`${job.direct}/api/v1/assign`, {
    method: "POST",
    headers: { Authorization: `Bearer ${job.key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: user.id, attributes: user.attributes, experiments: job.experiments, track: false }),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`assign answered ${response.status}: ${JSON.stringify(body)}`);
  return body.assignments;
}

async function compare() {
  const client = new RolloutClient({ url: job.url, apiKey: job.key, refreshIntervalMs: 600_000, logger: quiet });
  if (!(await client.ready())) throw new Error("no configuration");
  const local = job.users.map((user) =>
    Object.fromEntries(job.experiments.map((key) => [key, client.assign(user.id, key, user.attributes)])),
  );
  const remote = new Array(job.users.length);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < job.users.length) {
      const index = next++;
      remote[index] = await reference(job.users[index]);
    }
  }));
  const mismatches = [];
  const reasons = new Set();
  const variants = {};
  job.users.forEach((user, index) => {
    for (const key of job.experiments) {
      const mine = local[index][key];
      const theirs = remote[index][key];
      reasons.add(`${key}:${mine.reason}`);
      const same = mine.variant === theirs.variant && mine.inExperiment === theirs.in_experiment &&
        mine.reason === theirs.reason && isDeepStrictEqual(mine.config ?? null, theirs.config ?? null) &&
        isDeepStrictEqual(promptFields(mine.prompt?.toJSON()), promptFields(theirs.prompt));
      if (!same && mismatches.length < 5) mismatches.push({ user: user.id, key, mine, theirs });
      if (!same) mismatches.count = (mismatches.count ?? 0) + 1;
      if (mine.inExperiment) (variants[key] ??= {})[user.id] = mine.variant;
    }
  });
  if (job.variants_out) writeFileSync(job.variants_out, JSON.stringify(variants));
  await client.close(1000);
  return { compared: job.users.length * job.experiments.length, mismatches: mismatches.count ?? 0,
    examples: mismatches, reasons: [...reasons].sort(), configVersion: client.configVersion };
}

async function track() {
  const client = new RolloutClient({
    url: job.url, apiKey: job.key, refreshIntervalMs: 600_000, flushIntervalMs: 20,
    batchSize: job.batch_size, timeoutMs: 2000, logger: quiet,
  });
  if (!(await client.ready())) throw new Error("no configuration");
  let inExperiment = 0;
  let ids = 0;
  for (const [index, userId] of job.users.entries()) {
    if (client.assign(userId, job.experiment, null).inExperiment) inExperiment++;
    for (let i = 0; i < 1 + (index % 3 === 0 ? 1 : 0); i++) {
      if (client.track(userId, job.experiment, job.metric, 1) !== null) ids++;
    }
    if (index % 200 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const closed = await client.close(60_000);
  return { closed, inExperiment, tracked: ids, stats: client.stats() };
}

async function cuped() {
  const client = new RolloutClient({ url: job.url, apiKey: job.key, refreshIntervalMs: 600_000, flushIntervalMs: 20, logger: quiet });
  if (!(await client.ready())) throw new Error("no configuration");
  const variants = {};
  for (const user of job.users) {
    const answer = client.assign(user.id, job.experiment, null, { covariates: user.covariates });
    if (!answer.inExperiment) throw new Error(`${user.id} is outside ${job.experiment}: ${answer.reason}`);
    variants[user.id] = answer.variant;
    client.track(user.id, job.experiment, job.metric, user.value);
  }
  const closed = await client.close(60_000);
  return { closed, variants, stats: client.stats() };
}

const modes = { compare, track, cuped };
const report = await modes[mode]();
process.stdout.write(`${JSON.stringify(report)}\n`);
