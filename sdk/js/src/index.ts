/**
 * @prompt-rollout/sdk: assign prompt variants locally, exactly as the service does, and report
 * exposures and events in the background. See sdk/js/README.md.
 */

export { RolloutClient, type RolloutClientOptions, type ClientStats, type AssignOptions } from "./client.js";
export { checkCovariates, MAX_COVARIATES, COVARIATE_MAGNITUDE, type Covariates, type CheckedCovariates } from "./covariates.js";
export type { Assignment, SdkDocument } from "./config.js";
export { compileDocument, answerFor } from "./config.js";
export { compileExperiment, decide, type Decision, type Reason, type ExperimentDefinition } from "./assignment.js";
export { bucketOf, messageDigestHex, shardOf } from "./hashing.js";
export { compileTargeting, type Attributes } from "./targeting.js";
export { ChatPromptError, Prompt, type ChatMessage, type PromptContent } from "./prompt.js";
export { renderPortable, portabilityProblem, type RenderLimits } from "./render.js";
export { PORTABLE_SUBSET } from "./portable_subset.js";
export * from "./errors.js";
