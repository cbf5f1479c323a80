/** When to retry a request: exponential backoff with jitter, and the server's `Retry-After`. */

export const BACKOFF_BASE_MS = 200;
export const BACKOFF_CAP_MS = 30_000;
export const RETRY_AFTER_CAP_MS = 300_000;

/**
 * Milliseconds before retry number `attempt` (1, 2, ...): the ceiling doubles from
 * BACKOFF_BASE_MS up to BACKOFF_CAP_MS and the delay is drawn from [ceiling/2, ceiling] ("equal
 * jitter"), so clients that failed together do not retry together; `Retry-After` is a floor.
 */
export function backoffDelay(attempt: number, random: () => number, retryAfterMs: number | null = null): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.max(ceiling / 2 + random() * (ceiling / 2), retryAfterMs ?? 0);
}

/** `Retry-After` in milliseconds from `nowMs`: delta-seconds or an HTTP date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, RETRY_AFTER_CAP_MS);
  const when = Date.parse(trimmed);
  if (Number.isNaN(when)) return null;
  return Math.min(Math.max(0, when - nowMs), RETRY_AFTER_CAP_MS);
}
