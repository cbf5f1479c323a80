/**
 * Prompt rendering in JavaScript that gives exactly the service's (Jinja2) text, or refuses.
 *
 * Nunjucks parses the template; the syntax tree is then checked against the *portable subset*
 * (what Jinja2 and this renderer provably agree on, pinned by tests/vectors/render.json) and
 * rewritten so that every value passes through a guard with Python's semantics before Nunjucks
 * sees it:
 *
 * - printing: strings, integers, plain decimals, `True`/`False`/`None` as Python prints them; a
 *   list, an object or a number Python would print differently (`1e-05`) is refused;
 * - truthiness in `if` and `not`: Python's (an empty list or object is false);
 * - `==`, `<`, `in`, `~`: Python's typed comparisons, never JavaScript's coercions;
 * - lookups read own properties only (no prototype), and a missing one is `MissingVariable`;
 * - the filters `upper lower capitalize trim length join first last default replace`, each with
 *   Python's definition.
 *
 * Everything else (macros, `set`, calls, arithmetic, other filters and tests...) is `NotPortable`,
 * a clear error rather than a different text. Work is bounded: loops may run `maxIterations`
 * iterations in all (charged when a loop starts, so a hopeless loop is refused before it runs),
 * every iteration checks the `timeBudgetMs` clock, and the text may not pass `maxChars`, counted
 * chunk by chunk.
 */

import nunjucks from "nunjucks";

import {
  MissingVariable,
  NotPortable,
  OutputTooLarge,
  RenderError,
  RenderLimitExceeded,
  TemplateInvalid,
} from "./errors.js";
import { PORTABLE_SUBSET } from "./portable_subset.js";

export interface RenderLimits {
  /** The longest text a render may produce (the service's default: 100,000 characters). */
  maxChars?: number;
  /** Loop iterations a render may run in all. */
  maxIterations?: number;
  /** The longest value `~` and `join` may build. */
  maxValueChars?: number;
  /** Wall-clock milliseconds a render may take, checked at every loop iteration. */
  timeBudgetMs?: number;
}

export const DEFAULT_LIMITS: Required<RenderLimits> = {
  maxChars: 100_000,
  maxIterations: 100_000,
  maxValueChars: 1_000_000,
  timeBudgetMs: 1_000,
};

interface NodeLike {
  typename: string;
  lineno: number;
  colno: number;
  value?: unknown;
  children?: NodeLike[];
  [field: string]: unknown;
}

interface NodesModule {
  [name: string]: new (lineno: number, colno: number, ...args: unknown[]) => NodeLike;
}

interface Internals {
  parser: { parse(source: string): NodeLike };
  nodes: NodesModule;
  compiler: { Compiler: new (name: string, throwOnUndefined: boolean) => { compile(node: NodeLike): void; getCode(): string } };
}

const internals = nunjucks as unknown as Internals;
const N = internals.nodes;

const FILTERS = new Set(Object.keys(PORTABLE_SUBSET.filters));
const COMPARISONS = new Set<string>(PORTABLE_SUBSET.comparisons);
const RESERVED_NAMES = new Set<string>(PORTABLE_SUBSET.reserved_names);
const DICT_METHODS = new Set<string>(PORTABLE_SUBSET.dict_methods);
const LOOP_FIELDS = new Set<string>(PORTABLE_SUBSET.loop_fields);

/** An integer JavaScript holds exactly (what Python prints alike), non-negative when asked. */
function exactInteger(value: unknown, nonNegative = false): boolean {
  return typeof value === "number" && Number.isInteger(value) &&
    Math.abs(value) <= PORTABLE_SUBSET.max_integer_literal && (!nonNegative || value >= 0);
}

function refuse(node: NodeLike, what: string): never {
  throw new NotPortable(`line ${node.lineno + 1}: ${what} is outside the portable template subset`);
}

const literal = (node: NodeLike, value: unknown): NodeLike => new N.Literal!(node.lineno, node.colno, value);

function guard(node: NodeLike, name: string, args: NodeLike[]): NodeLike {
  const list = new N.NodeList!(node.lineno, node.colno, args);
  return new N.Filter!(node.lineno, node.colno, new N.Symbol!(node.lineno, node.colno, `__portable_${name}`), list);
}

/** The name Jinja would report missing for `node` (the variable, or the attribute/key). */
function nameOf(node: NodeLike): string {
  if (node.typename === "Symbol") return String(node.value);
  if (node.typename === "LookupVal") return String((node.val as NodeLike).value);
  return "expression";
}

/** Rewrites a checked syntax tree; `scope` holds the names bound by enclosing loops. */
class Rewriter {
  private readonly scope: string[] = [];

  statements(node: NodeLike): NodeLike {
    switch (node.typename) {
      case "Root":
      case "NodeList":
        node.children = node.children!.map((child) => this.statements(child));
        return node;
      case "Output":
        node.children = node.children!.map((child) =>
          child.typename === "TemplateData"
            ? guard(child, "text", [literal(child, child.value)])
            : guard(child, "print", [this.expression(child), literal(child, nameOf(child))]),
        );
        return node;
      case "If":
        node.cond = this.test(node.cond as NodeLike);
        node.body = this.statements(node.body as NodeLike);
        if (node.else_) node.else_ = this.statements(node.else_ as NodeLike);
        return node;
      case "For": {
        const target = node.name as NodeLike;
        if (target.typename !== "Symbol") refuse(node, "a loop unpacking several names");
        const array = node.arr as NodeLike;
        node.arr = guard(array, "iterate", [this.expression(array), literal(array, nameOf(array))]);
        if (node.else_) node.else_ = this.statements(node.else_ as NodeLike);
        this.scope.push(String(target.value), "loop");
        node.body = this.statements(node.body as NodeLike);
        // A step at the top of every iteration, so even a loop that writes nothing is timed.
        const step = new N.Output!(node.lineno, node.colno, [guard(node, "step", [])]);
        (node.body as NodeLike).children!.unshift(step);
        this.scope.length -= 2;
        return node;
      }
      default:
        return refuse(node, `the '${node.typename}' tag`);
    }
  }

  /** An expression in a boolean position, with Python's truthiness. */
  test(node: NodeLike): NodeLike {
    switch (node.typename) {
      case "Group":
        if (node.children!.length !== 1) refuse(node, "a tuple");
        return this.test(node.children![0]!);
      case "And":
      case "Or":
        node.left = this.test(node.left as NodeLike);
        node.right = this.test(node.right as NodeLike);
        return node;
      case "Not":
        node.target = this.test(node.target as NodeLike);
        return node;
      default:
        return guard(node, "test", [this.expression(node), literal(node, nameOf(node))]);
    }
  }

  expression(node: NodeLike): NodeLike {
    switch (node.typename) {
      case "Literal": {
        const value = node.value;
        if (typeof value === "number" && !exactInteger(value)) {
          refuse(node, "a non-integer number literal");
        }
        return node;
      }
      case "Symbol": {
        const name = String(node.value);
        if (RESERVED_NAMES.has(name)) refuse(node, `the name '${name}'`);
        if (this.scope.includes(name)) return node;
        return guard(node, "variable", [literal(node, name)]);
      }
      case "Group":
        if (node.children!.length !== 1) refuse(node, "a tuple");
        return this.expression(node.children![0]!);
      case "LookupVal": {
        const key = node.val as NodeLike;
        const target = node.target as NodeLike;
        if (key.typename !== "Literal") refuse(node, "a computed subscript");
        const value = key.value;
        const isLoop = target.typename === "Symbol" && target.value === "loop" && this.scope.includes("loop");
        if (isLoop) {
          if (!LOOP_FIELDS.has(String(value))) refuse(node, `loop.${String(value)}`);
        } else if (typeof value === "string") {
          if (value.startsWith(PORTABLE_SUBSET.private_prefix)) refuse(node, `the attribute '${value}'`);
          if (DICT_METHODS.has(value)) refuse(node, `the attribute '${value}' (a method of Python's dict)`);
        } else if (!exactInteger(value, true)) {
          refuse(node, "a subscript other than a name or a non-negative integer");
        }
        return guard(node, "get", [this.expression(target), key, literal(target, nameOf(target))]);
      }
      case "Filter": {
        const name = String((node.name as NodeLike).value);
        if (!FILTERS.has(name)) refuse(node, `the filter '${name}'`);
        const args = (node.args as NodeLike).children!;
        const [low, high] = PORTABLE_SUBSET.filters[name]!;
        const extra = args.slice(1);
        if (extra.length < low || extra.length > high || extra.some((a) => a.typename === "KeywordArgs")) {
          refuse(node, `the filter '${name}' with these arguments`);
        }
        const subject = args[0]!;
        return guard(node, name, [
          this.expression(subject),
          literal(subject, nameOf(subject)),
          ...extra.map((arg) => this.expression(arg)),
        ]);
      }
      case "Compare": {
        const ops = node.ops as NodeLike[];
        if (ops.length !== 1 || !COMPARISONS.has(String(ops[0]!.type))) refuse(node, "this comparison");
        const left = node.expr as NodeLike;
        const right = ops[0]!.expr as NodeLike;
        return guard(node, "compare", [
          this.expression(left), literal(node, ops[0]!.type), this.expression(right),
          literal(left, nameOf(left)), literal(right, nameOf(right)),
        ]);
      }
      case "In": {
        const left = node.left as NodeLike;
        const right = node.right as NodeLike;
        return guard(node, "in", [
          this.expression(left), this.expression(right),
          literal(left, nameOf(left)), literal(right, nameOf(right)),
        ]);
      }
      case "Not":
        return this.test(node);
      case "Concat": {
        const left = node.left as NodeLike;
        const right = node.right as NodeLike;
        return guard(node, "concat", [
          this.expression(left), this.expression(right),
          literal(left, nameOf(left)), literal(right, nameOf(right)),
        ]);
      }
      case "InlineIf":
        if (!node.else_) refuse(node, "an inline if without else");
        node.cond = this.test(node.cond as NodeLike);
        node.body = this.expression(node.body as NodeLike);
        node.else_ = this.expression(node.else_ as NodeLike);
        return node;
      default:
        return refuse(node, `the '${node.typename}' expression`);
    }
  }
}

// --- the guards, with Python's semantics -------------------------------------------------------

interface RenderState {
  limits: Required<RenderLimits>;
  chars: number;
  iterations: number;
  variables: Readonly<Record<string, unknown>>;
  deadline: number;
  failure: unknown;
}

let current: RenderState | null = null;
const hasOwn = Object.prototype.hasOwnProperty;

function state(): RenderState {
  if (current === null) throw new RenderError("render_failed", "templates are rendered with renderPortable");
  return current;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function defined(value: unknown, name: string): unknown {
  if (value === undefined) throw new MissingVariable(name);
  return value;
}

/** `str(value)` as Python prints it, or NotPortable when JavaScript cannot know that text. */
function pythonText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") {
    // Integers print alike; other numbers alike only where neither language uses an exponent.
    const magnitude = Math.abs(value);
    if (Number.isSafeInteger(value) || (magnitude >= 1e-4 && magnitude < 1e15 && Number.isFinite(value))) {
      return String(value);
    }
    throw new NotPortable(`printing the number ${String(value)}`);
  }
  throw new NotPortable(`printing a ${Array.isArray(value) ? "list" : typeof value}`);
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

function emit(text: string): string {
  const render = state();
  render.chars += text.length;
  if (render.chars > render.limits.maxChars) throw new OutputTooLarge(render.limits.maxChars);
  return text;
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "list";
  return typeof value;
}

function pythonEquals(left: unknown, right: unknown): boolean {
  const a = kind(left);
  const b = kind(right);
  if ((a === "boolean" && b === "number") || (a === "number" && b === "boolean")) {
    throw new NotPortable("comparing a boolean with a number");
  }
  if (a === "list" || a === "object" || b === "list" || b === "object") {
    throw new NotPortable("comparing lists or objects");
  }
  return left === right;
}

function pythonOrder(left: unknown, right: unknown): number {
  if (typeof left === "number" && typeof right === "number") return left - right;
  if (typeof left === "string" && typeof right === "string") {
    const a = Array.from(left, (c) => c.codePointAt(0)!);
    const b = Array.from(right, (c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  }
  throw new NotPortable(`ordering a ${kind(left)} and a ${kind(right)}`);
}

const PYTHON_WHITESPACE = "[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+";
const STRIP = new RegExp(`^${PYTHON_WHITESPACE}|${PYTHON_WHITESPACE}$`, "g");

function text(value: unknown, name: string, filter: string): string {
  defined(value, name);
  if (typeof value !== "string") throw new NotPortable(`the filter '${filter}' on a ${kind(value)}`);
  return value;
}

function list(value: unknown, name: string, filter: string): unknown[] {
  defined(value, name);
  if (!Array.isArray(value)) throw new NotPortable(`the filter '${filter}' on a ${kind(value)}`);
  return value;
}

const GUARDS: Record<string, (...args: any[]) => unknown> = {
  text: (value: string) => emit(value),
  step: () => {
    const render = state();
    if (Date.now() > render.deadline) {
      throw new RenderLimitExceeded(`the render took longer than ${render.limits.timeBudgetMs} ms`);
    }
    return "";
  },
  print: (value: unknown, name: string) => emit(pythonText(defined(value, name))),
  test: (value: unknown, name: string) => truthy(defined(value, name)),
  variable: (name: string) => {
    const variables = state().variables;
    return hasOwn.call(variables, name) ? variables[name] : undefined;
  },
  get: (target: unknown, key: string | number, name: string) => {
    defined(target, name);
    if (Array.isArray(target) && typeof key === "number") return target[key];
    if (isPlainObject(target) && typeof key === "string") {
      return hasOwn.call(target, key) ? target[key] : undefined;
    }
    throw new NotPortable(`looking up ${JSON.stringify(key)} in a ${kind(target)}`);
  },
  iterate: (value: unknown, name: string) => {
    defined(value, name);
    if (!Array.isArray(value)) throw new NotPortable(`a loop over a ${kind(value)}`);
    const render = state();
    render.iterations += value.length;
    if (render.iterations > render.limits.maxIterations) {
      throw new RenderLimitExceeded(`loops may run at most ${render.limits.maxIterations} iterations`);
    }
    return value;
  },
  compare: (left: unknown, op: string, right: unknown, leftName: string, rightName: string) => {
    defined(left, leftName);
    defined(right, rightName);
    switch (op) {
      case "==": return pythonEquals(left, right);
      case "!=": return !pythonEquals(left, right);
      case "<": return pythonOrder(left, right) < 0;
      case ">": return pythonOrder(left, right) > 0;
      case "<=": return pythonOrder(left, right) <= 0;
      default: return pythonOrder(left, right) >= 0;
    }
  },
  in: (item: unknown, container: unknown, itemName: string, containerName: string) => {
    defined(item, itemName);
    defined(container, containerName);
    if (typeof container === "string" && typeof item === "string") return container.includes(item);
    if (Array.isArray(container)) return container.some((element) => pythonEquals(element, item));
    if (isPlainObject(container) && typeof item === "string") return hasOwn.call(container, item);
    throw new NotPortable(`'in' between a ${kind(item)} and a ${kind(container)}`);
  },
  concat: (left: unknown, right: unknown, leftName: string, rightName: string) => {
    const joined = pythonText(defined(left, leftName)) + pythonText(defined(right, rightName));
    if (joined.length > state().limits.maxValueChars) {
      throw new RenderLimitExceeded(`concatenated text would be larger than ${state().limits.maxValueChars} characters`);
    }
    return joined;
  },
  upper: (value: unknown, name: string) => text(value, name, "upper").toUpperCase(),
  lower: (value: unknown, name: string) => text(value, name, "lower").toLowerCase(),
  capitalize: (value: unknown, name: string) => {
    const [first = "", ...rest] = Array.from(text(value, name, "capitalize"));
    return first.toUpperCase() + rest.join("").toLowerCase();
  },
  trim: (value: unknown, name: string) => text(value, name, "trim").replace(STRIP, ""),
  length: (value: unknown, name: string) => {
    defined(value, name);
    if (typeof value === "string") return Array.from(value).length;
    if (Array.isArray(value)) return value.length;
    if (isPlainObject(value)) return Object.keys(value).length;
    throw new NotPortable(`the filter 'length' on a ${kind(value)}`);
  },
  join: (value: unknown, name: string, separator: unknown = "") => {
    const items = list(value, name, "join");
    if (typeof separator !== "string") throw new NotPortable("join with a separator that is not text");
    const joined = items.map(pythonText).join(separator);
    if (joined.length > state().limits.maxValueChars) {
      throw new RenderLimitExceeded(`joined text would be larger than ${state().limits.maxValueChars} characters`);
    }
    return joined;
  },
  first: (value: unknown, name: string) => list(value, name, "first")[0],
  last: (value: unknown, name: string) => {
    const items = list(value, name, "last");
    return items[items.length - 1];
  },
  default: (value: unknown, _name: string, fallback: unknown) => (value === undefined ? fallback : value),
  replace: (value: unknown, name: string, old: unknown, replacement: unknown) => {
    if (typeof old !== "string" || typeof replacement !== "string" || old === "") {
      // An empty `old` inserts between code points in Python, between UTF-16 units here.
      throw new NotPortable("replace with arguments that are not non-empty text");
    }
    const source = text(value, name, "replace");
    const size = source.length + (source.split(old).length - 1) * (replacement.length - old.length);
    if (size > state().limits.maxValueChars) {
      throw new RenderLimitExceeded(`replaced text would be larger than ${state().limits.maxValueChars} characters`);
    }
    return source.replaceAll(old, replacement);
  },
};

const environment = new nunjucks.Environment([], { autoescape: false, throwOnUndefined: false });
for (const [name, implementation] of Object.entries(GUARDS)) {
  // Nunjucks wraps what a filter throws in its own error and drops the original, so the render
  // keeps the first failure itself and rethrows that one.
  environment.addFilter(`__portable_${name}`, (...args: unknown[]) => {
    try {
      return implementation(...args);
    } catch (error) {
      if (current !== null && current.failure === null) current.failure = error;
      throw error;
    }
  });
}

// --- compiling and rendering --------------------------------------------------------------------

const CACHE_SIZE = 256;
const cache = new Map<string, nunjucks.Template | NotPortable | TemplateInvalid>();

/** Jinja reads `\r\n` and `\r` as `\n` (its lexer normalises newlines); so must we. */
function jinjaSource(template: string): string {
  return template.replace(/\r\n?/g, "\n");
}

function compile(template: string): nunjucks.Template {
  let compiled = cache.get(template);
  if (compiled === undefined) {
    compiled = compileUncached(template);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(template, compiled);
  }
  if (compiled instanceof RenderError) throw compiled;
  return compiled;
}

function compileUncached(template: string): nunjucks.Template | NotPortable | TemplateInvalid {
  const source = jinjaSource(template);
  if (/\{%-?\s*elseif\b/.test(source)) {
    return new NotPortable("the 'elseif' tag (Jinja spells it 'elif')");
  }
  let tree: NodeLike;
  try {
    tree = internals.parser.parse(source);
  } catch (error) {
    return new TemplateInvalid(`template ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    new Rewriter().statements(tree);
  } catch (error) {
    if (error instanceof NotPortable) return error;
    throw error;
  }
  const compiler = new internals.compiler.Compiler("prompt", false);
  compiler.compile(tree);
  // The same step as a precompiled Nunjucks template: the generated module, then a Template.
  const module = new Function(compiler.getCode())() as object;
  return new nunjucks.Template({ type: "code", obj: module } as unknown as string, environment, "prompt");
}

/** Whether `template` is inside the portable subset: null when it is, else why not. */
export function portabilityProblem(template: string): string | null {
  try {
    compile(template);
    return null;
  } catch (error) {
    if (error instanceof RenderError) return error.message;
    throw error;
  }
}

export interface RenderOptions extends RenderLimits {
  /** Refuse at once, naming this prompt: the service marked it as not portable. */
  refuse?: string | undefined;
}

/** Render `template` with `variables` exactly as the service would, or throw a RenderError. */
export function renderPortable(
  template: string,
  variables: Readonly<Record<string, unknown>> = {},
  options: RenderOptions = {},
): string {
  const [text] = renderPortableAll([template], variables, options);
  return text as string;
}

/**
 * Each of `templates` rendered with the same `variables` under one budget for them all (output
 * characters, loop iterations, time), as the service renders a chat prompt's messages.
 */
export function renderPortableAll(
  templates: readonly string[],
  variables: Readonly<Record<string, unknown>> = {},
  options: RenderOptions = {},
): string[] {
  if (options.refuse !== undefined) {
    throw new NotPortable(`${options.refuse} uses templates beyond the portable subset`);
  }
  const compiled = templates.map((template) => compile(template));
  const limits = {
    maxChars: options.maxChars ?? DEFAULT_LIMITS.maxChars,
    maxIterations: options.maxIterations ?? DEFAULT_LIMITS.maxIterations,
    maxValueChars: options.maxValueChars ?? DEFAULT_LIMITS.maxValueChars,
    timeBudgetMs: options.timeBudgetMs ?? DEFAULT_LIMITS.timeBudgetMs,
  };
  const deadline = Date.now() + limits.timeBudgetMs;
  const render: RenderState = { limits, chars: 0, iterations: 0, variables, deadline, failure: null };
  current = render;
  try {
    return compiled.map((template) => template.render({}));
  } catch (error) {
    const cause = render.failure ?? error;
    if (cause instanceof RenderError) throw cause;
    throw new RenderError("render_failed", cause instanceof Error ? cause.message : String(cause));
  } finally {
    current = null;
  }
}
