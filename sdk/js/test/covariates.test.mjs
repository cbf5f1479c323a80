// CUPED covariates: assign sends them with the user's exposure, within the service's bounds
// (experiments/model.py `Covariates`); an entry beyond them is dropped with a warning, never the
// exposure.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { checkCovariates, RolloutClient } from "../dist/esm/index.js";
import { ExposureQueue } from "../dist/esm/queue.js";
import { DOCUMENT, startServiceStub } from "./service-stub.mjs";

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function setUp() {
  const stub = await startServiceStub(structuredClone(DOCUMENT));
  const warnings = [];
  const logger = { warn: (message) => warnings.push(message), error: () => undefined };
  const client = new RolloutClient({ url: stub.url, apiKey: "rk_test", flushIntervalMs: 10, logger });
  cleanups.push(() => stub.close(), () => client.close(1000));
  assert.equal(await client.ready(), true);
  return { stub, client, warnings };
}

test("assign sends the covariates with the user's exposure", async () => {
  const { stub, client } = await setUp();
  const answer = client.assign("u1", "summary-tone", { country: "DE" }, { covariates: { requests_before: 12, tokens: 3.5 } });
  assert.equal(answer.inExperiment, true);
  assert.equal(await client.flush(), true);
  assert.deepEqual(stub.exposures, [{
    user_id: "u1", experiment: "summary-tone", variant: answer.variant,
    attributes: { country: "DE" }, covariates: { requests_before: 12, tokens: 3.5 },
  }]);
});

test("an exposure without covariates, or with none left, sends no covariates field", async () => {
  const { stub, client } = await setUp();
  client.assign("u1", "summary-tone", { country: "DE" });
  client.assign("u2", "summary-tone", { country: "DE" }, { covariates: {} });
  client.assign("u3", "summary-tone", { country: "DE" }, { covariates: { requests_before: Number.NaN } });
  assert.equal(await client.flush(), true);
  assert.deepEqual(stub.exposures.map((e) => [e.user_id, "covariates" in e]), [["u1", false], ["u2", false], ["u3", false]]);
});

test("the covariates queued are a copy: changing the caller's object later changes nothing sent", async () => {
  const { stub, client } = await setUp();
  const covariates = { requests_before: 12 };
  client.assign("u1", "summary-tone", { country: "DE" }, { covariates });
  covariates.requests_before = Number.POSITIVE_INFINITY;
  assert.equal(await client.flush(), true);
  assert.deepEqual(stub.exposures[0].covariates, { requests_before: 12 });
});

test("a covariate beyond the bounds is dropped with a warning and counted; the exposure and the rest go", async () => {
  const { stub, client, warnings } = await setUp();
  const covariates = { requests_before: 7, tokens: Number.POSITIVE_INFINITY, Requests: 1, big: 1e16, flag: true };
  client.assign("u1", "summary-tone", { country: "FR" }, { covariates });
  assert.equal(await client.flush(), true);
  assert.deepEqual(stub.exposures.map((e) => [e.user_id, e.covariates]), [["u1", { requests_before: 7 }]]);
  assert.equal(client.stats().covariatesDropped, 4);
  assert.equal(warnings.length, 1);
  for (const named of ["'tokens' is Infinity", "'Requests' is not a lower-case key", "'big' is beyond", "'flag' is a boolean"]) {
    assert.ok(warnings[0].includes(named), `${named} in ${warnings[0]}`);
  }
});

test("covariates are read only when an exposure is queued: a user already exposed sends none again", async () => {
  const { stub, client } = await setUp();
  client.assign("u1", "summary-tone", { country: "DE" }, { covariates: { requests_before: 1 } });
  client.assign("u1", "summary-tone", { country: "DE" }, { covariates: { requests_before: 2 } });
  client.assign("u9", "shipped", null, { covariates: { requests_before: 3 } });
  assert.equal(await client.flush(), true);
  assert.deepEqual(stub.exposures.map((e) => [e.user_id, e.covariates]), [["u1", { requests_before: 1 }]]);
});

test("checkCovariates: at most 10 names, keys, finite numbers within ±1e15", () => {
  const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`c${i}`, i]));
  assert.deepEqual(checkCovariates(ten), { accepted: ten, problems: [], dropped: 0 });
  const eleven = { ...ten, c10: 10 };
  const refused = checkCovariates(eleven);
  assert.deepEqual([refused.accepted, refused.dropped], [null, 11]);
  assert.match(refused.problems[0], /11 covariates given, at most 10/);
  const edges = checkCovariates({ a: 1e15, b: -1e15, c: -0, d: 1e15 * (1 + 2 ** -52), "e-1_x": 0, _f: 1, g: "12", h: 10n });
  assert.deepEqual(edges.accepted, { a: 1e15, b: -1e15, c: -0, "e-1_x": 0 });
  assert.equal(edges.dropped, 4);
  assert.deepEqual(checkCovariates({ ["x".repeat(65)]: 1 }).accepted, null);
  assert.deepEqual(checkCovariates({ ["x".repeat(64)]: 1 }).accepted, { ["x".repeat(64)]: 1 });
});

test("the exposure queue keeps each exposure's covariates through take and restore", () => {
  const queue = new ExposureQueue(10);
  const answer = { experiment: "e", variant: "a" };
  assert.equal(queue.push("u1", answer, null, { requests_before: 4 }), true);
  assert.equal(queue.push("u2", answer, null, null), true);
  const batch = queue.take(2);
  assert.deepEqual(batch, [
    { user_id: "u1", experiment: "e", variant: "a", covariates: { requests_before: 4 } },
    { user_id: "u2", experiment: "e", variant: "a" },
  ]);
  queue.restore(batch);
  assert.deepEqual(queue.take(2), batch);
});
