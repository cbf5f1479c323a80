// Chat prompts in the TypeScript SDK: a version as a list of messages, rendered locally.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChatPromptError, MissingVariable, NotPortable, OutputTooLarge, Prompt } from "../dist/esm/index.js";

const MESSAGES = [
  { role: "system", content: "You help with {{ product }}." },
  { role: "user", content: "{{ question }}" },
];
const chat = (fields = {}) =>
  new Prompt({ name: "support", version: 3, template: null, messages: MESSAGES, model: "gpt-4o", params: {}, portable: true, ...fields });

test("renderMessages answers each message with its content rendered", () => {
  const prompt = chat();
  assert.equal(prompt.isChat, true);
  assert.deepEqual(prompt.renderMessages({ product: "Rollout", question: "Why?" }), [
    { role: "system", content: "You help with Rollout." },
    { role: "user", content: "Why?" },
  ]);
});

test("render of a chat prompt is an error pointing at renderMessages", () => {
  assert.throws(() => chat().render({ product: "x", question: "y" }), (error) =>
    error instanceof ChatPromptError && /support@3 is a chat prompt.*renderMessages/.test(error.message));
});

test("renderMessages of one template is an error pointing at render", () => {
  const prompt = new Prompt({ name: "greet", version: 1, template: "Hi", model: null, params: {} });
  assert.throws(() => prompt.renderMessages(), (error) => error instanceof ChatPromptError && /render\(variables\)/.test(error.message));
});

test("a variable missing from any message is named", () => {
  assert.throws(() => chat().renderMessages({ product: "x" }), (error) => error instanceof MissingVariable && error.variable === "question");
});

test("the output bound holds for all the messages together", () => {
  const prompt = chat({ messages: [{ role: "user", content: "{{ text }}" }, { role: "user", content: "{{ text }}" }] });
  const text = "a".repeat(60);
  assert.equal(prompt.renderMessages({ text }, { maxChars: 120 }).length, 2);
  assert.throws(() => prompt.renderMessages({ text }, { maxChars: 119 }), OutputTooLarge);
});

test("a chat prompt marked not portable is refused, not rendered", () => {
  assert.throws(() => chat({ portable: false }).renderMessages({ product: "x", question: "y" }), NotPortable);
});

test("toJSON carries the messages as the service answers them", () => {
  assert.deepEqual(chat().toJSON().messages, MESSAGES);
  assert.equal(chat().toJSON().template, null);
});
