// The portable subset: one definition (tests/vectors/portable_subset.json) and the service's flag.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { NotPortable, PORTABLE_SUBSET, compileDocument, portabilityProblem } from "../dist/esm/index.js";

const written = JSON.parse(readFileSync(new URL("../../../tests/vectors/portable_subset.json", import.meta.url), "utf8"));

test("the subset render.ts checks is the one written in tests/vectors", () => {
  // jinja2_nodes and string_escapes are the Python checker's: Nunjucks' own parser decides those.
  const { description, jinja2_nodes, string_escapes, ...shared } = written;
  assert.ok(description && jinja2_nodes && string_escapes);
  assert.deepEqual({ ...PORTABLE_SUBSET }, shared);
});

test("every rule of the subset is enforced", () => {
  for (const name of Object.keys(PORTABLE_SUBSET.filters)) {
    const [low] = PORTABLE_SUBSET.filters[name];
    const args = low === 0 ? "" : `(${Array(low).fill("'a'").join(", ")})`;
    assert.equal(portabilityProblem(`{{ s|${name}${args} }}`), null, name);
  }
  assert.match(portabilityProblem("{{ s|title }}"), /the filter 'title'/);
  for (const op of PORTABLE_SUBSET.comparisons) assert.equal(portabilityProblem(`{% if a ${op} b %}{% endif %}`), null, op);
  for (const op of PORTABLE_SUBSET.membership) assert.equal(portabilityProblem(`{% if a ${op} b %}{% endif %}`), null, op);
  for (const field of PORTABLE_SUBSET.loop_fields) {
    assert.equal(portabilityProblem(`{% for x in xs %}{{ loop.${field} }}{% endfor %}`), null, field);
  }
  assert.match(portabilityProblem("{% for x in xs %}{{ loop.cycle }}{% endfor %}"), /loop\.cycle/);
  for (const name of ["True", "False", "None", "undefined"]) assert.match(portabilityProblem(`{{ ${name} }}`), /the name/, name);
  for (const name of PORTABLE_SUBSET.dict_methods) assert.match(portabilityProblem(`{{ d.${name} }}`), /a method of Python's dict/, name);
  assert.match(portabilityProblem(`{{ d.${PORTABLE_SUBSET.private_prefix}x }}`), /the attribute/);
  assert.equal(portabilityProblem(`{{ ${PORTABLE_SUBSET.max_integer_literal} }}`), null);
  assert.match(portabilityProblem(`{{ ${PORTABLE_SUBSET.max_integer_literal + 2} }}`), /non-integer number literal/);
});

test("a version the service marks portable: false is refused through the SDK document, naming it", () => {
  const document = {
    version: 1,
    experiments: [],
    prompts: {
      summarize: {
        labels: { production: 2, staging: 3 },
        versions: {
          2: { template: "Hi {{ name }}", model: null, params: {}, portable: false },
          3: { template: "Hi {{ name }}", model: null, params: {}, portable: true },
        },
      },
    },
  };
  const config = compileDocument(document, null);
  assert.throws(
    () => config.prompts.get("summarize@2").render({ name: "Ana" }),
    (error) => error instanceof NotPortable && error.code === "not_portable" &&
      /prompt summarize@2 uses templates beyond the portable subset; render it with the service/.test(error.message),
  );
  assert.equal(config.prompts.get("summarize@3").render({ name: "Ana" }), "Hi Ana");
  assert.equal(config.prompts.get("summarize@2").toJSON().portable, false);
});
