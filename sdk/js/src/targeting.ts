/**
 * Targeting (docs/hashing.md, section 5): which users an experiment may include.
 *
 * A targeting object is the AND of its entries: combinators (`all`, `any`, `not`) or
 * `path: condition`. It is compiled once per configuration into nested closures, since `assign`
 * evaluates it on every call. Evaluation never throws: a comparison between values of different
 * kinds is false, and a missing attribute satisfies only `ne`, `nin` and `exists: false`.
 * Regular expressions run on RE2 semantics (`re2js`), the engine the service uses, so that both
 * answer alike and no pattern can backtrack for ever.
 */

import { RE2JS } from "re2js";

export type Attributes = Readonly<Record<string, unknown>>;
export type Predicate = (attributes: Attributes) => boolean;
type ValueTest = (value: unknown) => boolean;

const MISSING: unique symbol = Symbol("missing");
const COMBINATORS = new Set(["all", "any", "not"]);
const hasOwn = Object.prototype.hasOwnProperty;

/** Compile `targeting`; throws Error naming the place when it does not follow the grammar. */
export function compileTargeting(targeting: unknown): Predicate {
  if (targeting === null || targeting === undefined) {
    return everyone;
  }
  return compileObject(targeting, "targeting");
}

const everyone: Predicate = () => true;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function compileObject(node: unknown, where: string): Predicate {
  if (!isObject(node)) {
    throw new Error(`${where}: a targeting object must be a JSON object`);
  }
  const parts: Predicate[] = [];
  for (const [name, value] of Object.entries(node)) {
    parts.push(
      COMBINATORS.has(name)
        ? compileCombinator(name, value, `${where}.${name}`)
        : compileAttribute(name, value, where),
    );
  }
  return allOf(parts);
}

function compileCombinator(name: string, value: unknown, where: string): Predicate {
  if (name === "not") {
    const inner = compileObject(value, where);
    return (attributes) => !inner(attributes);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new Error(`${where}: '${name}' takes a non-empty list of targeting objects`);
  }
  const children = value.map((child, i) => compileObject(child, `${where}[${i}]`));
  return name === "all" ? allOf(children) : anyOf(children);
}

function allOf<T>(parts: ReadonlyArray<(subject: T) => boolean>): (subject: T) => boolean {
  if (parts.length === 0) return () => true;
  if (parts.length === 1) return parts[0]!;
  return (subject) => {
    for (const part of parts) if (!part(subject)) return false;
    return true;
  };
}

function anyOf<T>(parts: ReadonlyArray<(subject: T) => boolean>): (subject: T) => boolean {
  if (parts.length === 1) return parts[0]!;
  return (subject) => {
    for (const part of parts) if (part(subject)) return true;
    return false;
  };
}

function compileAttribute(path: string, condition: unknown, where: string): Predicate {
  const place = `${where}: attribute '${path}'`;
  const segments = path.split(".");
  if (segments.some((segment) => segment === "")) {
    throw new Error(`${place}: an attribute path is dot-separated non-empty names`);
  }
  const test = compileCondition(condition, place);
  if (segments.length === 1) {
    return (attributes) => test(hasOwn.call(attributes, path) ? attributes[path] : MISSING);
  }
  return (attributes) => test(lookup(attributes, segments));
}

function lookup(attributes: Attributes, segments: readonly string[]): unknown {
  let value: unknown = attributes;
  for (const segment of segments) {
    if (!isObject(value) || !hasOwn.call(value, segment)) return MISSING;
    value = value[segment];
  }
  return value;
}

function compileCondition(condition: unknown, place: string): ValueTest {
  if (!isObject(condition)) {
    return equals(scalar(condition, place, "eq"));
  }
  const tests = Object.entries(condition).map(([op, operand]) =>
    compileOperator(op, operand, place),
  );
  if (tests.length === 0) {
    throw new Error(`${place}: a condition needs at least one operator`);
  }
  return allOf(tests);
}

function compileOperator(op: string, operand: unknown, place: string): ValueTest {
  switch (op) {
    case "eq":
      return equals(scalar(operand, place, op));
    case "ne": {
      const equal = equals(scalar(operand, place, op));
      return (value) => !equal(value);
    }
    case "in":
      return memberOf(scalarList(operand, place, op));
    case "nin": {
      const member = memberOf(scalarList(operand, place, op));
      return (value) => !member(value);
    }
    case "exists":
      if (typeof operand !== "boolean") {
        throw new Error(`${place}: 'exists' takes true or false`);
      }
      return operand ? (value) => value !== MISSING : (value) => value === MISSING;
    case "contains":
      return contains(scalar(operand, place, op));
    case "regex":
      return regexTest(operand, place);
    case "gt":
      return ordering(operand, place, (order) => order > 0);
    case "gte":
      return ordering(operand, place, (order) => order >= 0);
    case "lt":
      return ordering(operand, place, (order) => order < 0);
    case "lte":
      return ordering(operand, place, (order) => order <= 0);
    default:
      throw new Error(`${place}: unknown operator '${op}'`);
  }
}

type Scalar = string | number | boolean | null;

function scalar(operand: unknown, place: string, op: string): Scalar {
  if (
    operand === null ||
    typeof operand === "string" ||
    typeof operand === "boolean" ||
    (typeof operand === "number" && Number.isFinite(operand))
  ) {
    return operand;
  }
  throw new Error(`${place}: '${op}' takes a string, finite number, boolean or null`);
}

function scalarList(operand: unknown, place: string, op: string): Scalar[] {
  if (!Array.isArray(operand)) {
    throw new Error(`${place}: '${op}' takes a list of values`);
  }
  return operand.map((item) => scalar(item, place, op));
}

/** Typed JSON equality: a value equals only a value of its own kind (`true` never equals 1). */
function equals(expected: Scalar): ValueTest {
  return (value) => value === expected;
}

function memberOf(values: readonly Scalar[]): ValueTest {
  // A Set compares with SameValueZero: typed, as the specification wants ("1" is not 1).
  const set = new Set<unknown>(values);
  return (value) => set.has(value);
}

function contains(expected: Scalar): ValueTest {
  if (typeof expected === "string") {
    return (value) =>
      typeof value === "string"
        ? value.includes(expected)
        : Array.isArray(value) && value.includes(expected);
  }
  return (value) => Array.isArray(value) && value.includes(expected);
}

const patterns = new Map<string, RE2JS>();

function regexTest(operand: unknown, place: string): ValueTest {
  if (typeof operand !== "string") {
    throw new Error(`${place}: 'regex' takes a pattern string`);
  }
  let pattern = patterns.get(operand);
  if (pattern === undefined) {
    try {
      pattern = RE2JS.compile(operand);
    } catch (error) {
      throw new Error(`${place}: 'regex' pattern does not compile: ${String(error)}`);
    }
    if (patterns.size < 1024) patterns.set(operand, pattern);
  }
  const compiled = pattern;
  return (value) => typeof value === "string" && compiled.matcher(value).find();
}

function ordering(operand: unknown, place: string, holds: (order: number) => boolean): ValueTest {
  if (typeof operand === "string") {
    return (value) => typeof value === "string" && holds(compareCodePoints(value, operand));
  }
  if (typeof operand === "number" && Number.isFinite(operand)) {
    return (value) =>
      typeof value === "number" && holds(value < operand ? -1 : value > operand ? 1 : 0);
  }
  throw new Error(`${place}: an ordering takes a finite number or a string`);
}

/**
 * Compare two strings by Unicode code point, as Python does. JavaScript's `<` compares UTF-16
 * code units, which puts a character beyond U+FFFF (a surrogate pair, 0xD800-0xDFFF) below one
 * of U+E000-U+FFFF; shifting the code units restores code point order.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
      if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
      return x - y;
    }
  }
  return a.length - b.length;
}
