/**
 * The SDK document (`GET /api/v1/sdk/config`), compiled: what `assign` reads, swapped whole on
 * refresh and never mutated. Pure: no I/O.
 */

import {
  compileExperiment,
  decide,
  type CompiledExperiment,
  type Decision,
  type ExperimentDefinition,
  type Reason,
} from "./assignment.js";
import { Prompt, type PromptContent } from "./prompt.js";
import type { Attributes } from "./targeting.js";

/** The answer of `RolloutClient.assign`: what `POST /api/v1/assign` answers for the user. */
export interface Assignment {
  readonly experiment: string;
  readonly variant: string;
  readonly inExperiment: boolean;
  /** A `Reason`, or `offline` / `unknown_experiment` for the client's own fallbacks. */
  readonly reason: Reason | "offline" | "unknown_experiment";
  readonly prompt: Prompt | null;
  readonly config: Readonly<Record<string, unknown>> | null;
}

export interface SdkVariant {
  key: string;
  weight: number;
  config?: Record<string, unknown> | null;
  prompt?: PromptContent | null;
}

export interface SdkExperiment extends ExperimentDefinition {
  variants: SdkVariant[];
}

export interface SdkDocument {
  version?: number;
  environment?: string;
  experiments?: SdkExperiment[];
  prompts?: Record<
    string,
    { labels?: Record<string, number>; versions?: Record<string, Omit<PromptContent, "name" | "version">> }
  >;
}

export interface LocalExperiment {
  readonly compiled: CompiledExperiment;
  /** The application's answer for each compiled `Decision`, built once, at its `slot`. */
  readonly answers: readonly Assignment[];
}

export interface LocalConfig {
  readonly version: number;
  readonly etag: string | null;
  readonly experiments: ReadonlyMap<string, LocalExperiment>;
  readonly labels: ReadonlyMap<string, Readonly<Record<string, number>>>;
  readonly prompts: ReadonlyMap<string, Prompt>;
  /** The document's environment: the label `getPrompt` resolves unless told another. */
  readonly environment: string;
}

export const promptKey = (name: string, version: number): string => `${name}@${version}`;

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function localExperiment(entry: SdkExperiment): LocalExperiment {
  const compiled = compileExperiment(entry);
  const byVariant = new Map<string, { prompt: Prompt | null; config: Record<string, unknown> | null }>();
  for (const variant of entry.variants) {
    byVariant.set(variant.key, {
      prompt: variant.prompt ? new Prompt(variant.prompt) : null,
      config: variant.config == null ? null : deepFreeze(structuredClone(variant.config)),
    });
  }
  const answers = compiled.decisions.map((decided: Decision): Assignment => {
    const variant = byVariant.get(decided.variant)!;
    return Object.freeze({
      experiment: compiled.key,
      variant: decided.variant,
      inExperiment: decided.inExperiment,
      reason: decided.reason,
      prompt: variant.prompt,
      config: variant.config,
    });
  });
  return { compiled, answers };
}

/** The answer for one user; pure. */
export function answerFor(
  local: LocalExperiment,
  userId: string,
  attributes?: Attributes | null,
): Assignment {
  return local.answers[decide(local.compiled, userId, attributes).slot]!;
}

/**
 * Compile a whole document. An entry that cannot be compiled is left out and reported through
 * `onError`: one bad experiment must not take the others' configuration away.
 */
export function compileDocument(
  document: SdkDocument,
  etag: string | null,
  onError: (key: unknown, error: unknown) => void = () => undefined,
): LocalConfig {
  const experiments = new Map<string, LocalExperiment>();
  const prompts = new Map<string, Prompt>();
  for (const entry of document.experiments ?? []) {
    let local: LocalExperiment;
    try {
      local = localExperiment(entry);
    } catch (error) {
      onError(entry?.key, error);
      continue;
    }
    experiments.set(local.compiled.key, local);
    for (const answer of local.answers.values()) {
      if (answer.prompt) prompts.set(promptKey(answer.prompt.name, answer.prompt.version), answer.prompt);
    }
  }
  const labels = new Map<string, Readonly<Record<string, number>>>();
  for (const [name, entry] of Object.entries(document.prompts ?? {})) {
    labels.set(name, Object.freeze({ ...(entry.labels ?? {}) }));
    for (const [version, content] of Object.entries(entry.versions ?? {})) {
      const prompt = new Prompt({ ...content, name, version: Number(version) });
      prompts.set(promptKey(name, prompt.version), prompt);
    }
  }
  const environment = typeof document.environment === "string" ? document.environment : "production";
  return { version: Number(document.version ?? 0), etag, experiments, labels, prompts, environment };
}
