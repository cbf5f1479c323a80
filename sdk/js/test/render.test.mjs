// The shared render corpus (tests/vectors/render.json): the service's exact text, or a refusal.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MissingVariable, NotPortable, OutputTooLarge, Prompt, RenderLimitExceeded, portabilityProblem, renderPortable } from "../dist/esm/index.js";
import { renderVectors } from "./vectors.mjs";

test("every portable case renders to the service's text", () => {
  assert.ok(renderVectors.cases.length >= 30);
  for (const vector of renderVectors.cases) {
    assert.equal(renderPortable(vector.template, vector.variables), vector.expected, vector.name);
    assert.equal(portabilityProblem(vector.template), null, vector.name);
  }
});

test("every error case fails with the service's code, naming the variable", () => {
  assert.ok(renderVectors.errors.length >= 4);
  for (const vector of renderVectors.errors) {
    assert.throws(
      () => renderPortable(vector.template, vector.variables),
      (error) => error instanceof MissingVariable && error.code === vector.error.code && error.variable === vector.error.variable,
      vector.name,
    );
  }
});

test("every template outside the portable subset is refused, never rendered differently", () => {
  assert.ok(renderVectors.not_portable.length >= 10);
  for (const vector of renderVectors.not_portable) {
    assert.throws(() => renderPortable(vector.template, vector.variables), NotPortable, vector.name);
  }
});

test("a version the service marks as not portable is refused even when it looks portable", () => {
  const prompt = new Prompt({ name: "summarize", version: 4, template: "Hi {{ name }}", portable: false });
  assert.throws(() => prompt.render({ name: "Ana" }), /summarize@4 uses templates beyond the portable subset/);
  assert.equal(new Prompt({ name: "summarize", version: 3, template: "Hi {{ name }}" }).render({ name: "Ana" }), "Hi Ana");
});

test("a nested loop bomb is stopped, even when it writes nothing", () => {
  const xs = Array.from({ length: 1000 }, (_, i) => i);
  const bomb = "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}";
  assert.throws(() => renderPortable(bomb, { xs }), RenderLimitExceeded);
  const started = Date.now();
  assert.throws(
    () => renderPortable(bomb, { xs }, { timeBudgetMs: 100, maxIterations: 1e9 }),
    (error) => error instanceof RenderLimitExceeded && /took longer than 100 ms/.test(error.message),
  );
  assert.ok(Date.now() - started < 1000);
});

test("a loop longer than the iteration budget is refused before it starts", () => {
  const started = Date.now();
  assert.throws(
    () => renderPortable("{% for x in xs %}{% endfor %}", { xs: new Array(100_001).fill(0) }),
    /at most 100000 iterations/,
  );
  assert.ok(Date.now() - started < 100);
});

test("output is bounded while it is produced", () => {
  const xs = Array.from({ length: 10_000 }, () => "y".repeat(100));
  assert.throws(() => renderPortable("{% for x in xs %}{{ x }}{% endfor %}", { xs }), OutputTooLarge);
  assert.equal(renderPortable("{% for x in xs %}{{ x }}{% endfor %}", { xs: xs.slice(0, 10) }).length, 1000);
});

test("variables are read as own properties only, never from the prototype", () => {
  assert.throws(() => renderPortable("{{ constructor }}", {}), MissingVariable);
  assert.throws(() => renderPortable("{{ user.toString }}", { user: {} }), MissingVariable);
});
