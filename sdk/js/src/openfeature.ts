/**
 * An OpenFeature provider for server SDKs (`@openfeature/server-sdk`), backed by RolloutClient.
 *
 *     import { OpenFeature } from "@openfeature/server-sdk";
 *     import { RolloutProvider } from "@prompt-rollout/sdk/openfeature";
 *     await OpenFeature.setProviderAndWait(new RolloutProvider({ url, apiKey }));
 *     const flags = OpenFeature.getClient();
 *     const tone = await flags.getStringValue("summary-tone", "control", { targetingKey: "u1", country: "DE" });
 *     await flags.getStringValue("summary-tone", "control", { targetingKey: "u2", covariates: { requests_before: 12 } });
 *     flags.track("thumbs_up", { targetingKey: "u1" }, { experiment: "summary-tone", value: 1 });
 *
 * The flag key is the experiment's key and `targetingKey` the user id; a `covariates` context
 * field (name -> number, measured before the exposure) is sent with the exposure for CUPED, as
 * `assign`'s `covariates` option; the other context fields are the attributes. A string
 * evaluation answers the variant key, an object evaluation the variant's `config`; the exposure
 * is queued by `assign` as for any local answer. Reasons:
 *
 * | the service's reason                 | OpenFeature reason | |
 * | `assigned`                           | SPLIT              | in the experiment, by hash |
 * | `targeting`, `layer`, `traffic`      | DEFAULT            | outside it: the control variant |
 * | `paused`, `rolled_back`, `not_running` | DISABLED         | everyone gets control |
 * | `concluded`                          | STATIC             | everyone gets the winner |
 * | `offline` / `unknown_experiment`     | ERROR              | PROVIDER_NOT_READY / FLAG_NOT_FOUND |
 *
 * `track(name, context, details)` sends an event of metric `name` for `details.experiment` (or
 * `context.experiment`) with `details.value` (default 1). Only types are imported from
 * OpenFeature, so this module costs nothing to applications that do not use it.
 */

import type {
  EvaluationContext,
  JsonValue,
  Logger,
  Provider,
  ResolutionDetails,
  TrackingEventDetails,
} from "@openfeature/server-sdk";
import type { ErrorCode } from "@openfeature/server-sdk";

import { RolloutClient, type RolloutClientOptions } from "./client.js";
import type { Assignment } from "./config.js";
import type { Covariates } from "./covariates.js";
import type { Attributes } from "./targeting.js";

const REASONS: Record<Assignment["reason"], string> = {
  assigned: "SPLIT",
  targeting: "DEFAULT",
  layer: "DEFAULT",
  traffic: "DEFAULT",
  paused: "DISABLED",
  rolled_back: "DISABLED",
  not_running: "DISABLED",
  concluded: "STATIC",
  offline: "ERROR",
  unknown_experiment: "ERROR",
};

const code = (name: string): ErrorCode => name as ErrorCode;

function failure<T>(value: T, errorCode: string, errorMessage: string): ResolutionDetails<T> {
  return { value, reason: "ERROR", errorCode: code(errorCode), errorMessage };
}

export class RolloutProvider implements Provider {
  readonly metadata = { name: "prompt-rollout" } as const;
  readonly runsOn = "server" as const;
  readonly client: RolloutClient;
  private readonly owned: boolean;

  /** Given a client, uses it (and leaves closing it to you); given options, makes and owns one. */
  constructor(clientOrOptions: RolloutClient | RolloutClientOptions) {
    this.owned = !(clientOrOptions instanceof RolloutClient);
    this.client = clientOrOptions instanceof RolloutClient ? clientOrOptions : new RolloutClient(clientOrOptions);
  }

  async initialize(): Promise<void> {
    // Without a configuration the provider still answers (ERROR, the caller's default) and
    // catches up when the service is reached: an outage at start-up is not fatal.
    await this.client.ready();
  }

  async onClose(): Promise<void> {
    if (this.owned) await this.client.close();
  }

  private decide(flagKey: string, context: EvaluationContext): Assignment | string {
    const { targetingKey, covariates, ...attributes } = context;
    if (typeof targetingKey !== "string" || targetingKey === "") {
      return "TARGETING_KEY_MISSING";
    }
    // Only a plain object names covariates; the client checks each of its entries.
    const named = typeof covariates === "object" && covariates !== null && !Array.isArray(covariates);
    const sent = named ? (covariates as Covariates) : null;
    return this.client.assign(targetingKey, flagKey, attributes as Attributes, { covariates: sent });
  }

  private resolve<T>(flagKey: string, defaultValue: T, context: EvaluationContext, pick: (a: Assignment) => T | undefined): ResolutionDetails<T> {
    const answer = this.decide(flagKey, context);
    if (typeof answer === "string") return failure(defaultValue, answer, "the context has no targetingKey (the user id)");
    if (answer.reason === "offline") {
      return failure(defaultValue, "PROVIDER_NOT_READY", "the SDK configuration has not been fetched yet");
    }
    if (answer.reason === "unknown_experiment") {
      return failure(defaultValue, "FLAG_NOT_FOUND", `experiment '${flagKey}' is not running`);
    }
    const value = pick(answer);
    return {
      value: value === undefined ? defaultValue : value,
      variant: answer.variant,
      reason: REASONS[answer.reason],
      flagMetadata: { inExperiment: answer.inExperiment, rolloutReason: answer.reason },
    };
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, defaultValue, context, (answer) => answer.variant);
  }

  async resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, defaultValue, context, (answer) => (answer.config ?? undefined) as T | undefined);
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean): Promise<ResolutionDetails<boolean>> {
    return failure(defaultValue, "TYPE_MISMATCH", `experiment '${flagKey}' answers a variant key: evaluate it as a string`);
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return failure(defaultValue, "TYPE_MISMATCH", `experiment '${flagKey}' answers a variant key: evaluate it as a string`);
  }

  track(trackingEventName: string, context: EvaluationContext, details: TrackingEventDetails = {}, logger?: Logger): void {
    const experiment = details.experiment ?? context.experiment;
    const user = context.targetingKey;
    if (typeof experiment !== "string" || typeof user !== "string") {
      (logger ?? console).warn(`rollout: track('${trackingEventName}') needs a targetingKey and details.experiment`);
      return;
    }
    this.client.track(user, experiment, trackingEventName, details.value ?? 1);
  }
}
