// The OpenFeature provider through the OpenFeature server SDK itself.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { OpenFeature } from "@openfeature/server-sdk";

import { RolloutProvider } from "../dist/esm/openfeature.js";
import { DOCUMENT, startServiceStub } from "./service-stub.mjs";

let stub;
let provider;
let flags;

before(async () => {
  stub = await startServiceStub(structuredClone(DOCUMENT));
  provider = new RolloutProvider({ url: stub.url, apiKey: "rk_test", flushIntervalMs: 10, logger: { warn() {}, error() {} } });
  await OpenFeature.setProviderAndWait(provider);
  flags = OpenFeature.getClient();
});

after(async () => {
  await OpenFeature.close();
  await stub.close();
});

test("a string evaluation answers the variant key, with SPLIT in the experiment", async () => {
  const details = await flags.getStringDetails("summary-tone", "fallback", { targetingKey: "u1", country: "DE" });
  assert.deepEqual([details.value, details.variant, details.reason], ["control", "control", "SPLIT"]);
  assert.equal(details.flagMetadata.inExperiment, true);
});

test("users outside the targeting get the control variant with DEFAULT", async () => {
  const details = await flags.getStringDetails("summary-tone", "fallback", { targetingKey: "u1", country: "US" });
  assert.deepEqual([details.value, details.reason], ["control", "DEFAULT"]);
});

test("an object evaluation answers the variant's config; a concluded experiment is STATIC", async () => {
  const details = await flags.getObjectDetails("shipped", {}, { targetingKey: "u2" });
  assert.deepEqual([details.value, details.variant, details.reason], [{ size: 2 }, "b", "STATIC"]);
});

test("errors answer the caller's default with OpenFeature's codes", async () => {
  const unknown = await flags.getStringDetails("nope", "fallback", { targetingKey: "u1" });
  assert.deepEqual([unknown.value, unknown.reason, unknown.errorCode], ["fallback", "ERROR", "FLAG_NOT_FOUND"]);
  const anonymous = await flags.getStringDetails("summary-tone", "fallback", {});
  assert.equal(anonymous.errorCode, "TARGETING_KEY_MISSING");
  const boolean = await flags.getBooleanDetails("summary-tone", false, { targetingKey: "u1" });
  assert.equal(boolean.errorCode, "TYPE_MISMATCH");
});

test("the evaluation records the exposure and the tracking API sends the event", async () => {
  await flags.getStringValue("summary-tone", "fallback", { targetingKey: "u-tracked", country: "FR" });
  flags.track("thumbs_up", { targetingKey: "u-tracked" }, { experiment: "summary-tone", value: 1 });
  assert.equal(await provider.client.flush(), true);
  assert.ok(stub.exposures.some((e) => e.user_id === "u-tracked" && e.experiment === "summary-tone"));
  const event = stub.events.find((e) => e.user_id === "u-tracked");
  assert.deepEqual([event.metric, event.value, event.experiment], ["thumbs_up", 1, "summary-tone"]);
});

test("a covariates context field is sent with the exposure, not as an attribute", async () => {
  const context = { targetingKey: "u-cuped", country: "DE", covariates: { requests_before: 12 } };
  const details = await flags.getStringDetails("summary-tone", "fallback", context);
  assert.equal(details.reason, "SPLIT");
  assert.equal(await provider.client.flush(), true);
  const exposure = stub.exposures.find((e) => e.user_id === "u-cuped");
  assert.deepEqual(exposure, {
    user_id: "u-cuped", experiment: "summary-tone", variant: details.variant,
    attributes: { country: "DE" }, covariates: { requests_before: 12 },
  });
});
