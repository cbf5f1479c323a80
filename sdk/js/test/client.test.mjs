// RolloutClient against a stand-in service on 127.0.0.1: batching, retries, queues, fallbacks.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { RolloutClient } from "../dist/esm/index.js";
import { backoffDelay, parseRetryAfter } from "../dist/esm/retry.js";
import { DOCUMENT, startServiceStub } from "./service-stub.mjs";

const quiet = { warn: () => undefined, error: () => undefined };
const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function setUp(options = {}) {
  const stub = await startServiceStub(structuredClone(DOCUMENT));
  const client = new RolloutClient({ url: stub.url, apiKey: "rk_test", flushIntervalMs: 10, logger: quiet, ...options });
  cleanups.push(() => stub.close(), () => client.close(1000));
  return { stub, client };
}

test("assign answers locally with the variant's prompt and config, and queues one exposure", async () => {
  const { stub, client } = await setUp();
  assert.equal(await client.ready(), true);
  const answer = client.assign("u1", "summary-tone", { country: "DE" });
  assert.deepEqual([answer.variant, answer.inExperiment, answer.reason], ["control", true, "assigned"]);
  assert.equal(answer.prompt.render({ text: "doc" }), "Summarize: doc");
  assert.deepEqual(answer.config, { tone: "neutral" });
  client.assign("u1", "summary-tone", { country: "DE" });
  assert.equal(client.assign("u1", "summary-tone", { country: "US" }).reason, "targeting");
  assert.equal(await client.flush(), true);
  assert.deepEqual(stub.exposures, [{ user_id: "u1", experiment: "summary-tone", variant: "control", attributes: { country: "DE" } }]);
});

test("a concluded experiment answers its winner, outside the experiment, with no exposure", async () => {
  const { stub, client } = await setUp();
  await client.ready();
  const answer = client.assign("u9", "shipped");
  assert.deepEqual([answer.variant, answer.inExperiment, answer.reason, answer.config], ["b", false, "concluded", { size: 2 }]);
  await client.flush();
  assert.equal(stub.exposures.length, 0);
});

test("without any configuration every answer is the control variant", async () => {
  const client = new RolloutClient({ url: "http://127.0.0.1:9", apiKey: "k", logger: quiet, timeoutMs: 500, controls: { x: "base" } });
  cleanups.push(() => client.close(100));
  assert.equal(await client.ready(), false);
  assert.deepEqual([client.assign("u1", "x").variant, client.assign("u1", "x").reason], ["base", "offline"]);
  assert.equal(client.assign("u1", "y").variant, "control");
});

test("refresh sends the ETag and a 304 keeps the configuration", async () => {
  const { stub, client } = await setUp();
  await client.ready();
  assert.equal(await client.refresh(), true);
  assert.deepEqual(stub.configRequests, [null, '"v1"']);
  assert.equal(client.stats().configNotModified, 1);
  assert.equal(client.configVersion, 7);
});

test("503 and 429 are retried (Retry-After honoured); every event arrives once", async () => {
  const { stub, client } = await setUp();
  await client.ready();
  stub.script.push("503", "429:1");
  const ids = [client.track("u1", "summary-tone", "clicks", 1), client.track("u2", "summary-tone", "clicks", 2, 4)];
  const started = Date.now();
  assert.equal(await client.flush(), true);
  assert.ok(Date.now() - started >= 950, "waited for Retry-After");
  assert.deepEqual(stub.events.map((e) => e.event_id), ids);
  assert.equal(stub.events[1].denominator, 4);
  assert.equal(client.stats().retries, 2);
});

test("other 4xx answers are dropped and counted, never retried", async () => {
  const { stub, client } = await setUp();
  await client.ready();
  stub.script.push("400");
  client.track("u1", "summary-tone", "clicks", 1);
  assert.equal(await client.flush(), true);
  assert.equal(stub.posts.length, 1);
  assert.equal(client.stats().eventsDropped, 1);
});

test("a full queue counts what it refuses", async () => {
  const { client } = await setUp({ maxQueue: 2, flushIntervalMs: 60_000 });
  await client.ready();
  const ids = [1, 2, 3].map((i) => client.track(`u${i}`, "summary-tone", "clicks", 1));
  assert.equal(ids[2], null);
  assert.equal(client.stats().eventsOverflow, 1);
  assert.throws(() => client.track("u1", "summary-tone", "clicks", Number.NaN), RangeError);
});

test("backoff doubles with jitter up to its cap, and Retry-After is a floor", () => {
  assert.equal(backoffDelay(1, () => 0), 100);
  assert.equal(backoffDelay(3, () => 1), 800);
  assert.equal(backoffDelay(30, () => 1), 30_000);
  assert.equal(backoffDelay(1, () => 0, 5000), 5000);
  assert.equal(parseRetryAfter("3", 0), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfter("soon", 0), null);
});

test("getPrompt without a label resolves the label of the document's environment", async () => {
  const document = structuredClone(DOCUMENT);
  document.environment = "staging";
  document.prompts = {
    greet: {
      labels: { production: 1, staging: 2 },
      versions: { 1: { template: "Live {{ name }}", model: "m", params: {} },
                  2: { template: "Tried {{ name }}", model: "m", params: {} } },
    },
  };
  const stub = await startServiceStub(document);
  const client = new RolloutClient({ url: stub.url, apiKey: "rk_test", logger: quiet });
  cleanups.push(() => stub.close(), () => client.close(1000));
  await client.ready();
  assert.equal(client.getPrompt("greet").version, 2);
  assert.equal(client.getPrompt("greet", "production").version, 1);
});

test("a document without an environment is production's", async () => {
  const { client } = await setUp();
  await client.ready();
  assert.equal(client.getPrompt("summarize"), client.getPrompt("summarize", "production"));
});
