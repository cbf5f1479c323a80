/**
 * The portable template subset as data: what this SDK and the service (Jinja2) render alike.
 *
 * Written once in tests/vectors/portable_subset.json; the service's checker
 * (sdk/python/rollout_sdk/kernel/portability.py) and this one are each tested against that file,
 * so the two SDKs cannot drift apart silently. render.ts reads every rule from here. (The file's
 * `jinja2_nodes` and `string_escapes` are the Python checker's alone: Nunjucks' own tree and
 * lexer decide what render.ts sees.)
 */

export const PORTABLE_SUBSET = {
  /** Each filter with the least and most arguments it takes besides its subject. */
  filters: {
    upper: [0, 0], lower: [0, 0], capitalize: [0, 0], trim: [0, 0], length: [0, 0],
    join: [0, 1], first: [0, 0], last: [0, 0], default: [1, 1], replace: [2, 2],
  } as Readonly<Record<string, readonly [number, number]>>,
  comparisons: ["==", "!=", "<", ">", "<=", ">="],
  /** Nunjucks parses these as an `In` node (`not in` as `Not(In)`), not as a comparison. */
  membership: ["in", "not in"],
  loop_fields: ["index", "index0", "revindex", "revindex0", "first", "last", "length"],
  /** Names that are literals in Jinja but variables in Nunjucks (or the reverse). */
  reserved_names: ["True", "False", "None", "null", "undefined"],
  /**
   * Attribute names Jinja resolves to a method of Python's dict before it looks for an item
   * (`user.items` is dict.items, not user["items"]).
   */
  dict_methods: ["items", "keys", "values", "get", "pop", "popitem", "update", "copy", "clear", "setdefault", "fromkeys"],
  private_prefix: "_",
  max_integer_literal: Number.MAX_SAFE_INTEGER,
} as const;
