/**
 * The TypeScript SDK: local assignment, exposures and events sent in the background.
 *
 *     const client = new RolloutClient({ url: "http://127.0.0.1:8000", apiKey: "rk_..." });
 *     await client.ready();
 *     const answer = client.assign("u1", "summary-tone", { country: "DE" });   // no network call
 *     client.assign("u2", "summary-tone", { country: "FR" }, { covariates: { requests_before: 12 } });
 *     client.track("u1", "summary-tone", "thumbs_up", 1);                         // only enqueues
 *     await client.close();
 *
 * The same guarantees as the Python SDK (rollout/client.py):
 * - *assign never waits for the network*: the SDK document is compiled in memory and refreshed
 *   with `If-None-Match`; without any configuration the answer is the control variant;
 * - *reporting never blocks and never double-counts*: `track` appends to a bounded queue (what
 *   does not fit is counted in `stats()`); batches leave by size or time, exposures before
 *   events; network errors, 5xx and 429 are retried with backoff and jitter (honouring
 *   `Retry-After`), other 4xx are dropped and counted; every event carries an `event_id` and
 *   exposures are set-if-absent, so a batch received but not acknowledged is never counted twice.
 * Timers are unref'd: a client never keeps a Node process alive by itself.
 */

import { checkCovariates, type Covariates } from "./covariates.js";
import { answerFor, compileDocument, promptKey, type Assignment, type LocalConfig, type SdkDocument } from "./config.js";
import type { Prompt } from "./prompt.js";
import { ExposureCache } from "./exposure_cache.js";
import { BoundedQueue, ExposureQueue, type Batches } from "./queue.js";
import { backoffDelay, parseRetryAfter } from "./retry.js";
import type { Attributes } from "./targeting.js";

export const MAX_BATCH = 1000;
const LOG_EVERY_MS = 10_000;

export interface RolloutClientOptions {
  /** The service's base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** An API key of role `sdk`. */
  apiKey: string;
  refreshIntervalMs?: number;
  flushIntervalMs?: number;
  /** At most 1000, the service's limit. */
  batchSize?: number;
  /** Exposures and events each queue at most this many; more are counted as overflow. */
  maxQueue?: number;
  timeoutMs?: number;
  closeTimeoutMs?: number;
  /** The control variant of experiments, for answers before any configuration arrives. */
  controls?: Readonly<Record<string, string>>;
  /** An SDK document (as saved from GET /api/v1/sdk/config) to answer from until reached. */
  bootstrap?: SdkDocument;
  /** How many (experiment, user) pairs are remembered as exposed, so hot users send one. */
  exposureCacheSize?: number;
  fetch?: typeof fetch;
  logger?: Pick<Console, "warn" | "error">;
}

/** What `assign` takes beyond the user's attributes. */
export interface AssignOptions {
  /**
   * Numbers measured before the exposure (the user's requests of the last week, say) that
   * metrics declaring them as `covariate` are adjusted for (CUPED). Sent with the exposure; the
   * service keeps those of the user's first exposure. Entries the service would refuse are
   * dropped with a warning (the exposure is still sent) and counted in `covariatesDropped`.
   */
  covariates?: Covariates | null;
}

export interface ClientStats {
  configVersion: number | null;
  configFetches: number;
  configNotModified: number;
  configErrors: number;
  exposuresQueued: number;
  eventsQueued: number;
  exposuresAccepted: number;
  exposuresDuplicates: number;
  exposuresRejected: number;
  exposuresDropped: number;
  exposuresOverflow: number;
  eventsAccepted: number;
  eventsDuplicates: number;
  eventsRejected: number;
  eventsDropped: number;
  eventsOverflow: number;
  /** Covariates given to `assign` that were not sent: beyond the service's bounds. */
  covariatesDropped: number;
  requests: number;
  retries: number;
}

type Kind = "exposures" | "events";
type Event = { event_id: string; user_id: string; experiment: string; metric: string; value: number; denominator?: number };
type Outcome = { action: "settled" } | { action: "retry"; retryAfterMs: number | null } | { action: "split" };

interface Tally {
  accepted: number;
  duplicates: number;
  rejected: number;
  dropped: number;
}

function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}

function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buffer);
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class RolloutClient {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly options: Required<Omit<RolloutClientOptions, "bootstrap" | "controls" | "fetch" | "logger">>;
  private readonly controls: Readonly<Record<string, string>>;
  private readonly fetch: typeof fetch;
  private readonly logger: Pick<Console, "warn" | "error">;
  private config: LocalConfig | null = null;
  private readonly fallbacks = new Map<string, Assignment>();
  private readonly exposures: ExposureQueue;
  private readonly events: BoundedQueue<Event>;
  private readonly seen: ExposureCache;
  private readonly tally: Record<Kind, Tally> = {
    exposures: { accepted: 0, duplicates: 0, rejected: 0, dropped: 0 },
    events: { accepted: 0, duplicates: 0, rejected: 0, dropped: 0 },
  };
  private readonly counters = {
    configFetches: 0, configNotModified: 0, configErrors: 0, covariatesDropped: 0, requests: 0, retries: 0,
  };
  private readonly idPrefix = `${randomHex(8)}-`;
  private sequence = 0;
  private readonly lastLog = new Map<string, number>();
  private readonly first: Promise<boolean>;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private flushTimer: ReturnType<typeof setInterval> | null = null;
  private draining: Promise<void> | null = null;
  private hurry: (() => void) | null = null;
  private closed = false;
  private deadline: number | null = null;

  constructor(options: RolloutClientOptions) {
    const batchSize = options.batchSize ?? 500;
    if (!(batchSize >= 1 && batchSize <= MAX_BATCH)) {
      throw new RangeError(`batchSize must be between 1 and ${MAX_BATCH}`);
    }
    this.url = options.url.replace(/\/+$/, "");
    this.headers = {
      Authorization: `Bearer ${options.apiKey}`,
      "Content-Type": "application/json",
    };
    this.options = {
      url: this.url,
      apiKey: options.apiKey,
      refreshIntervalMs: options.refreshIntervalMs ?? 5_000,
      flushIntervalMs: options.flushIntervalMs ?? 1_000,
      batchSize,
      maxQueue: options.maxQueue ?? 100_000,
      timeoutMs: options.timeoutMs ?? 5_000,
      closeTimeoutMs: options.closeTimeoutMs ?? 10_000,
      exposureCacheSize: options.exposureCacheSize ?? 100_000,
    };
    this.controls = { ...(options.controls ?? {}) };
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.logger = options.logger ?? console;
    this.exposures = new ExposureQueue(this.options.maxQueue);
    this.seen = new ExposureCache(this.options.exposureCacheSize);
    this.events = new BoundedQueue(this.options.maxQueue);
    if (options.bootstrap) this.config = this.compile(options.bootstrap, null);
    this.first = this.refresh().finally(() => this.scheduleRefresh());
    this.flushTimer = setInterval(() => this.kick(), this.options.flushIntervalMs);
    unref(this.flushTimer);
  }

  /** Resolves once the first configuration fetch is done: true when the client has one. */
  async ready(): Promise<boolean> {
    await this.first;
    return this.config !== null;
  }

  // --- the hot path -----------------------------------------------------------------------------

  /**
   * The user's variant, computed locally (no network). An answer in the experiment also queues
   * the user's exposure, once as long as the user stays in the exposure cache, with
   * `options.covariates` (read only when an exposure is queued: pass them on every call).
   */
  assign(userId: string, experiment: string, attributes?: Attributes | null, options?: AssignOptions): Assignment {
    const config = this.config;
    const local = config?.experiments.get(experiment);
    if (local === undefined) {
      return this.fallback(experiment, config === null ? "offline" : "unknown_experiment");
    }
    const answer = answerFor(local, userId, attributes);
    if (answer.inExperiment) {
      const users = this.seen.usersOf(experiment);
      if (!users.has(userId)) this.expose(users, answer, userId, attributes, options?.covariates);
    }
    return answer;
  }

  private expose(
    users: Set<string>,
    answer: Assignment,
    userId: string,
    attributes: Attributes | null | undefined,
    covariates: Covariates | null | undefined,
  ): void {
    if (this.closed) {
      this.exposures.overflow++;
      return;
    }
    const sent = covariates ? this.checked(covariates) : null;
    if (!this.exposures.push(userId, answer, attributes, sent)) {
      this.logLimited("overflow-exposures", "warn", "rollout: the exposure queue is full; exposures are dropped");
      return;
    }
    this.seen.remember(users, userId);
    if (this.exposures.length >= this.options.batchSize) this.kick();
  }

  /** The covariates the service accepts (a copy); the others are logged and counted, not sent. */
  private checked(covariates: Covariates): Record<string, number> | null {
    const { accepted, problems, dropped } = checkCovariates(covariates);
    if (dropped > 0) {
      this.counters.covariatesDropped += dropped;
      this.logLimited("covariates", "warn",
        `rollout: ${dropped} covariate(s) not sent with the exposure (the exposure is): ${problems.join("; ")}`);
    }
    return accepted;
  }

  /** Queue one event and answer its `event_id` (null if the queue was full or the client closed). */
  track(userId: string, experiment: string, metric: string, value: number, denominator?: number): string | null {
    if (!Number.isFinite(value) || (denominator !== undefined && !Number.isFinite(denominator))) {
      throw new RangeError("track: value and denominator must be finite numbers");
    }
    if (this.closed) {
      this.events.overflow++;
      return null;
    }
    const eventId = `${this.idPrefix}${(this.sequence++).toString(16)}`;
    const event: Event = { event_id: eventId, user_id: userId, experiment, metric, value };
    if (denominator !== undefined) event.denominator = denominator;
    if (!this.events.push(event)) {
      this.logLimited("overflow-events", "warn", "rollout: the event queue is full; events are dropped");
      return null;
    }
    if (this.events.length >= this.options.batchSize) this.kick();
    return eventId;
  }

  /** A prompt version by label from the SDK document, or null; without a label, the live
   * version of the key's environment (the label named like the document's `environment`). */
  getPrompt(name: string, label?: string): Prompt | null {
    const wanted = label ?? this.config?.environment ?? "production";
    const version = this.config?.labels.get(name)?.[wanted];
    if (version === undefined) return null;
    return this.config?.prompts.get(promptKey(name, version)) ?? null;
  }

  private fallback(experiment: string, reason: "offline" | "unknown_experiment"): Assignment {
    const key = `${reason}\u001f${experiment}`;
    let answer = this.fallbacks.get(key);
    if (answer === undefined) {
      answer = Object.freeze({
        experiment,
        variant: this.controls[experiment] ?? "control",
        inExperiment: false,
        reason,
        prompt: null,
        config: null,
      });
      if (this.fallbacks.size < 10_000) this.fallbacks.set(key, answer);
      if (reason === "unknown_experiment") {
        this.logLimited(`unknown-${experiment}`, "warn", `rollout: experiment '${experiment}' is not in the SDK config`);
      }
    }
    return answer;
  }

  // --- configuration ----------------------------------------------------------------------------

  /** Fetch the configuration now; true when it was read (changed or not). */
  async refresh(): Promise<boolean> {
    const headers: Record<string, string> = { ...this.headers };
    const etag = this.config?.etag;
    if (etag) headers["If-None-Match"] = etag;
    try {
      const response = await this.fetch(`${this.url}/api/v1/sdk/config`, {
        headers,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (response.status === 304) {
        this.counters.configNotModified++;
        return true;
      }
      if (!response.ok) {
        this.counters.configErrors++;
        this.logLimited("config", "warn", `rollout: the SDK config answered HTTP ${response.status}`);
        return false;
      }
      const document = (await response.json()) as SdkDocument;
      this.config = this.compile(document, response.headers.get("ETag"));
      this.counters.configFetches++;
      return true;
    } catch (error) {
      this.counters.configErrors++;
      this.logLimited("config", "warn", `rollout: fetching the SDK config failed (${String(error)})`);
      return false;
    }
  }

  private compile(document: SdkDocument, etag: string | null): LocalConfig {
    return compileDocument(document, etag, (key, error) =>
      this.logger.error(`rollout: experiment '${String(key)}' of the SDK config is unusable: ${String(error)}`),
    );
  }

  private scheduleRefresh(): void {
    if (this.closed) return;
    this.refreshTimer = setTimeout(() => {
      void this.refresh().finally(() => this.scheduleRefresh());
    }, this.options.refreshIntervalMs);
    unref(this.refreshTimer);
  }

  get configVersion(): number | null {
    return this.config?.version ?? null;
  }

  // --- sending ----------------------------------------------------------------------------------

  /** Start sending what is queued, unless a drain is already under way. */
  private kick(): Promise<void> {
    if (this.draining === null && (this.exposures.length > 0 || this.events.length > 0)) {
      this.draining = this.drain().finally(() => {
        this.draining = null;
      });
    }
    return this.draining ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    while (this.exposures.length > 0 || this.events.length > 0) {
      // Exposures first: the service rejects an event of a user it has not seen exposed, and
      // every event's exposure was queued before it.
      const eventsReady = this.events.length;
      if (!(await this.sendQueued("exposures", this.exposures, this.exposures.length))) return;
      if (!(await this.sendQueued("events", this.events, eventsReady))) return;
    }
  }

  private async sendQueued<T>(kind: Kind, queue: Batches<T>, count: number): Promise<boolean> {
    while (count > 0) {
      const batch = queue.take(Math.min(count, this.options.batchSize));
      if (batch.length === 0) return true;
      if (!(await this.deliver(kind, batch))) {
        queue.restore(batch);
        return false;
      }
      count -= batch.length;
    }
    return true;
  }

  /** POST `batch` until it is settled; false only when a closing client runs out of time. */
  private async deliver(kind: Kind, batch: readonly unknown[]): Promise<boolean> {
    const body = JSON.stringify({ [kind]: batch });
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.post(kind, body, batch.length);
      if (outcome.action === "settled") return true;
      if (outcome.action === "split") {
        const half = Math.floor(batch.length / 2);
        return (await this.deliver(kind, batch.slice(0, half))) && this.deliver(kind, batch.slice(half));
      }
      this.counters.retries++;
      const floor = outcome.retryAfterMs ?? 0;
      if (!(await this.pause(backoffDelay(attempt, Math.random, outcome.retryAfterMs), floor))) return false;
    }
  }

  /**
   * Wait `delayMs` before a retry. flush() and close() cut the wait short, never below `floorMs`
   * (the server's Retry-After); false when a closing client's deadline comes first.
   */
  private async pause(delayMs: number, floorMs: number): Promise<boolean> {
    const started = Date.now();
    let until = started + delayMs;
    const notBefore = started + floorMs;
    if (this.deadline !== null) {
      if (notBefore >= this.deadline) return false;
      until = Math.min(until, this.deadline);
    }
    while (Date.now() < until) {
      const hurried = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.hurry = null;
          resolve(false);
        }, until - Date.now());
        this.hurry = () => {
          clearTimeout(timer);
          this.hurry = null;
          resolve(true);
        };
      });
      if (hurried) until = Math.max(notBefore, Date.now());
      if (this.deadline !== null && notBefore >= this.deadline) return false;
    }
    return true;
  }

  private async post(kind: Kind, body: string, size: number): Promise<Outcome> {
    this.counters.requests++;
    let response: Response;
    try {
      response = await this.fetch(`${this.url}/api/v1/${kind}`, {
        method: "POST",
        headers: this.headers,
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      this.logLimited(`send-${kind}`, "warn", `rollout: sending ${size} ${kind} failed (${String(error)}); retrying`);
      return { action: "retry", retryAfterMs: null };
    }
    const status = response.status;
    if (status >= 200 && status < 300) {
      let answer: { accepted?: number; duplicates?: number; rejected?: unknown[] } = {};
      try {
        answer = (await response.json()) as typeof answer;
      } catch {
        // A body lost after the status line: the batch arrived; ids and set-if-absent make it safe.
      }
      const tally = this.tally[kind];
      tally.accepted += Number(answer.accepted ?? 0);
      tally.duplicates += Number(answer.duplicates ?? 0);
      const rejected = answer.rejected ?? [];
      tally.rejected += rejected.length;
      if (rejected.length > 0) {
        this.logLimited(`rejected-${kind}`, "warn",
          `rollout: the service rejected ${rejected.length} of ${size} ${kind}, e.g. ${JSON.stringify(rejected[0])}`);
      }
      return { action: "settled" };
    }
    await response.arrayBuffer().catch(() => undefined);
    if (status === 429 || status >= 500) {
      this.logLimited(`send-${kind}`, "warn", `rollout: sending ${size} ${kind} answered HTTP ${status}; retrying`);
      return { action: "retry", retryAfterMs: parseRetryAfter(response.headers.get("Retry-After"), Date.now()) };
    }
    if (status === 413 && size > 1) return { action: "split" };
    this.tally[kind].dropped += size;
    this.logger.error(`rollout: the service refused ${size} ${kind} with HTTP ${status}; dropped, not retried`);
    return { action: "settled" };
  }

  private logLimited(topic: string, level: "warn" | "error", message: string): void {
    const now = Date.now();
    if (now - (this.lastLog.get(topic) ?? -Infinity) >= LOG_EVERY_MS) {
      this.lastLog.set(topic, now);
      this.logger[level](message);
    }
  }

  // --- flushing and closing ---------------------------------------------------------------------

  /** Send everything queued now; true when the queues are empty, false on timeout. */
  async flush(timeoutMs?: number): Promise<boolean> {
    const until = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (this.exposures.length > 0 || this.events.length > 0 || this.draining !== null) {
      this.hurry?.();
      const drained = this.kick();
      if (until === Infinity) {
        await drained;
      } else {
        const left = until - Date.now();
        if (left <= 0) return false;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
        clearTimeout(timer);
      }
      if (this.deadline !== null && Date.now() >= this.deadline) break;
    }
    return this.exposures.length === 0 && this.events.length === 0;
  }

  /** Stop refreshing, send what is queued (waiting at most `closeTimeoutMs`), stop accepting. */
  async close(timeoutMs: number = this.options.closeTimeoutMs): Promise<boolean> {
    if (!this.closed) {
      this.closed = true;
      if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
      if (this.flushTimer !== null) clearInterval(this.flushTimer);
    }
    this.deadline = Date.now() + timeoutMs;
    await this.first.catch(() => undefined);
    return this.flush(timeoutMs);
  }

  stats(): ClientStats {
    const { exposures, events } = this.tally;
    return {
      configVersion: this.configVersion,
      ...this.counters,
      exposuresQueued: this.exposures.length,
      eventsQueued: this.events.length,
      exposuresAccepted: exposures.accepted,
      exposuresDuplicates: exposures.duplicates,
      exposuresRejected: exposures.rejected,
      exposuresDropped: exposures.dropped,
      exposuresOverflow: this.exposures.overflow,
      eventsAccepted: events.accepted,
      eventsDuplicates: events.duplicates,
      eventsRejected: events.rejected,
      eventsDropped: events.dropped,
      eventsOverflow: this.events.overflow,
    };
  }
}
