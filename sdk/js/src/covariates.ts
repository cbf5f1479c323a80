/**
 * Covariates for CUPED: numbers measured before a user's exposure (last week's requests or
 * tokens) that metrics declaring them as `covariate` are adjusted for (docs/statistics.md).
 *
 * The service refuses an exposure whose covariates break its bounds (at most 10, names that are
 * keys, finite numbers with |x| <= 1e15: sdk/python/rollout_sdk/kernel/covariates.py, which the
 * service's `Covariates` and the Python SDK use), and a refused exposure loses the user from the
 * analysis. So the SDK checks them before queuing: a bad entry
 * is dropped (and the exposure sent without it, which the service reads as 0 for that name),
 * never the exposure. The same bounds, written here once for the TypeScript SDK.
 */

/** What `assign` takes: covariate name -> number. */
export type Covariates = Readonly<Record<string, number>>;

export const MAX_COVARIATES = 10;
/** A covariate's largest size: the service's sums of squares of such values stay finite. */
export const COVARIATE_MAGNITUDE = 1e15;
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** The covariates the service accepts, and why each of the others is not sent. */
export interface CheckedCovariates {
  /** A fresh object (the caller may change theirs later), or null when none is left to send. */
  readonly accepted: Record<string, number> | null;
  readonly problems: readonly string[];
  /** How many of the given entries are not sent. */
  readonly dropped: number;
}

function problemOf(name: string, value: unknown): string | null {
  if (!NAME.test(name)) return `covariate name '${name}' is not a lower-case key (${NAME.source})`;
  if (typeof value !== "number") return `covariate '${name}' is a ${typeof value}, not a number`;
  if (!Number.isFinite(value)) return `covariate '${name}' is ${String(value)}, not a finite number`;
  if (Math.abs(value) > COVARIATE_MAGNITUDE) return `covariate '${name}' is beyond ±${COVARIATE_MAGNITUDE}`;
  return null;
}

/**
 * Check `covariates` against the service's bounds. More than `MAX_COVARIATES` names sends none:
 * which of them the metrics adjust for is the service's to know, not the SDK's to guess.
 */
export function checkCovariates(covariates: Covariates): CheckedCovariates {
  const names = Object.keys(covariates);
  if (names.length > MAX_COVARIATES) {
    return {
      accepted: null,
      problems: [`${names.length} covariates given, at most ${MAX_COVARIATES} are accepted`],
      dropped: names.length,
    };
  }
  const accepted: Record<string, number> = {};
  const problems: string[] = [];
  let kept = 0;
  for (const name of names) {
    const value: unknown = covariates[name];
    const problem = problemOf(name, value);
    if (problem === null) {
      accepted[name] = value as number;
      kept++;
    } else {
      problems.push(problem);
    }
  }
  return { accepted: kept > 0 ? accepted : null, problems, dropped: problems.length };
}
