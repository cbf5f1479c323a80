/**
 * Which variant a user gets (docs/hashing.md, section 3): a pure function of one experiment of
 * the SDK document, the user id and the attributes. No state, no I/O, no clock.
 *
 * Compilation does the work that does not depend on the user (boundaries, targeting closures,
 * salts hashed ahead, the answers themselves), so `decide` costs at most its three hashes, and
 * skips each hash whose comparison cannot fail: a bucket lies in [0, 1), so full traffic, a
 * layer range covering [0, 1) and a single positive-weight variant decide without one.
 */

import { SaltedBucket, layerSalt, trafficSalt, variantSalt } from "./hashing.js";
import { compileTargeting, type Attributes, type Predicate } from "./targeting.js";

export type Reason =
  | "assigned"
  | "not_running"
  | "paused"
  | "rolled_back"
  | "concluded"
  | "targeting"
  | "layer"
  | "traffic";

export type Status = "draft" | "running" | "paused" | "concluded" | "rolled_back";

/** The assignment-relevant fields of one experiment of `GET /api/v1/sdk/config`. */
export interface ExperimentDefinition {
  key: string;
  seed?: string | null;
  status: Status;
  control: string;
  traffic: number;
  targeting?: Record<string, unknown> | null;
  layer?: string | null;
  layer_range?: readonly [number, number] | number[] | null;
  winner?: string | null;
  variants: ReadonlyArray<{ key: string; weight: number }>;
}

/** The decision for one user: only `inExperiment` answers are exposures. */
export interface Decision {
  readonly variant: string;
  readonly inExperiment: boolean;
  readonly reason: Reason;
  /** This decision's index among its experiment's `decisions`, for tables built beside them. */
  readonly slot: number;
}

export interface CompiledExperiment {
  readonly key: string;
  readonly hasTargeting: boolean;
  /** The answer for everyone when the status alone decides (anything but running). */
  readonly fixed: Decision | null;
  readonly targeting: Predicate | null;
  /** Null when the experiment has no layer or its range holds every point of [0, 1). */
  readonly layerBucket: SaltedBucket | null;
  readonly layerLo: number;
  readonly layerHi: number;
  readonly traffic: number;
  /** Null when `traffic` is at least 1: every bucket is below it. */
  readonly trafficBucket: SaltedBucket | null;
  /** Null when one variant has all the weight. */
  readonly variantBucket: SaltedBucket | null;
  /** Cumulative weights closing each positive-weight variant's range, except the last. */
  readonly upperBounds: Float64Array;
  readonly assigned: readonly Decision[];
  readonly byTargeting: Decision;
  readonly byLayer: Decision;
  readonly byTraffic: Decision;
  /** Every decision above, each at its `slot`. */
  readonly decisions: readonly Decision[];
}

const FIXED_REASONS: Record<Exclude<Status, "running" | "concluded">, Reason> = {
  draft: "not_running",
  paused: "paused",
  rolled_back: "rolled_back",
};

/** Makes the decisions of one experiment, numbering them as they are made. */
class Decisions {
  readonly all: Decision[] = [];

  make(variant: string, inExperiment: boolean, reason: Reason): Decision {
    const made = Object.freeze({ variant, inExperiment, reason, slot: this.all.length });
    this.all.push(made);
    return made;
  }
}

/** Precompute `definition`; throws when it cannot be assigned from (a winner not a variant...). */
export function compileExperiment(definition: ExperimentDefinition): CompiledExperiment {
  const { key, control, status } = definition;
  const seed = definition.seed || key;
  const keys = definition.variants.map((v) => v.key);
  if (!keys.includes(control)) {
    throw new Error(`experiment '${key}': control '${control}' is not one of its variants`);
  }
  const decisions = new Decisions();
  let fixed: Decision | null = null;
  if (status === "concluded") {
    const winner = definition.winner || control;
    if (!keys.includes(winner)) {
      throw new Error(`experiment '${key}': winner '${winner}' is not one of its variants`);
    }
    fixed = decisions.make(winner, false, "concluded");
  } else if (status !== "running") {
    const reason = FIXED_REASONS[status];
    if (reason === undefined) {
      throw new Error(`experiment '${key}': unknown status '${String(status)}'`);
    }
    fixed = decisions.make(control, false, reason);
  }
  // Plain left-to-right double addition, as every SDK must do to land on the same boundaries.
  const bounds: number[] = [];
  const assigned: Decision[] = [];
  let cumulative = 0.0;
  for (const variant of definition.variants) {
    cumulative += variant.weight;
    if (variant.weight > 0) {
      bounds.push(cumulative);
      assigned.push(decisions.make(variant.key, true, "assigned"));
    }
  }
  if (assigned.length === 0) {
    throw new Error(`experiment '${key}': no variant has a positive weight`);
  }
  const layer = definition.layer ?? null;
  let layerLo = 0;
  let layerHi = 1;
  if (layer !== null) {
    // A layered experiment without its share of the layer includes nobody.
    const range = definition.layer_range ?? [0, 0];
    layerLo = range[0]!;
    layerHi = range[1]!;
  }
  const targeting = definition.targeting ?? null;
  const layerHoldsAll = layerLo <= 0 && layerHi >= 1;
  return {
    key,
    hasTargeting: targeting !== null,
    fixed,
    targeting: targeting === null ? null : compileTargeting(targeting),
    layerBucket: layer === null || layerHoldsAll ? null : new SaltedBucket(layerSalt(layer)),
    layerLo,
    layerHi,
    traffic: definition.traffic,
    trafficBucket: definition.traffic >= 1 ? null : new SaltedBucket(trafficSalt(seed)),
    variantBucket: assigned.length === 1 ? null : new SaltedBucket(variantSalt(seed)),
    upperBounds: Float64Array.from(bounds.slice(0, -1)),
    assigned,
    byTargeting: decisions.make(control, false, "targeting"),
    byLayer: decisions.make(control, false, "layer"),
    byTraffic: decisions.make(control, false, "traffic"),
    decisions: decisions.all,
  };
}

const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** The decision for `userId`; returns one of the compiled `Decision` objects, never a new one. */
export function decide(
  compiled: CompiledExperiment,
  userId: string,
  attributes?: Attributes | null,
): Decision {
  if (compiled.fixed !== null) return compiled.fixed;
  if (compiled.targeting !== null && !compiled.targeting(attributes ?? NO_ATTRIBUTES)) {
    return compiled.byTargeting;
  }
  if (compiled.layerBucket !== null) {
    const point = compiled.layerBucket.bucket(userId);
    if (!(compiled.layerLo <= point && point < compiled.layerHi)) return compiled.byLayer;
  }
  if (compiled.trafficBucket !== null && !(compiled.trafficBucket.bucket(userId) < compiled.traffic)) {
    return compiled.byTraffic;
  }
  if (compiled.variantBucket === null) return compiled.assigned[0]!;
  const point = compiled.variantBucket.bucket(userId);
  const bounds = compiled.upperBounds;
  let index = 0;
  while (index < bounds.length && bounds[index]! <= point) index++;
  return compiled.assigned[index]!;
}
