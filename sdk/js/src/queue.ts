/**
 * Bounded FIFO queues that count what did not fit, instead of growing without end: one of
 * objects (events), and one of exposures kept as columns.
 */

import type { Attributes } from "./targeting.js";

/** What the sender needs of a queue: batches taken from the front, and put back on failure. */
export interface Batches<T> {
  readonly length: number;
  overflow: number;
  take(count: number): T[];
  restore(batch: readonly T[]): void;
}

export class BoundedQueue<T> implements Batches<T> {
  private items: T[] = [];
  private head = 0;
  overflow = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Append `item`; false (and counted as overflow) when the queue is full. */
  push(item: T): boolean {
    if (this.length >= this.capacity) {
      this.overflow++;
      return false;
    }
    this.items.push(item);
    return true;
  }

  /** Remove and answer up to `count` items from the front. */
  take(count: number): T[] {
    const batch = this.items.slice(this.head, this.head + count);
    this.head += batch.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  /** Put a batch that could not be sent back at the front, in its order. */
  restore(batch: readonly T[]): void {
    this.items = [...batch, ...this.items.slice(this.head)];
    this.head = 0;
  }
}

/** One exposure as `POST /api/v1/exposures` takes it. */
export interface Exposure {
  user_id: string;
  experiment: string;
  variant: string;
  attributes?: Attributes;
  /** Checked by `checkCovariates` before they are queued. */
  covariates?: Readonly<Record<string, number>>;
}

/** The part of an answer an exposure records. */
export interface ExposedAnswer {
  readonly experiment: string;
  readonly variant: string;
}

function hasEntries(attributes: Attributes): boolean {
  for (const name in attributes) {
    if (Object.prototype.hasOwnProperty.call(attributes, name)) return true;
  }
  return false;
}

/**
 * Exposures queued by `assign`, on its hot path. Each is kept as references (the user id, the
 * compiled answer, the caller's attributes, the checked covariates) in parallel arrays, so
 * queuing one allocates no object: the request's objects are built when a batch is taken, in the
 * background.
 */
export class ExposureQueue implements Batches<Exposure> {
  private users: string[] = [];
  private answers: ExposedAnswer[] = [];
  private attributes: Array<Attributes | null | undefined> = [];
  private covariates: Array<Readonly<Record<string, number>> | null | undefined> = [];
  private head = 0;
  overflow = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.users.length - this.head;
  }

  /** Append one exposure; false (and counted as overflow) when the queue is full. */
  push(
    userId: string,
    answer: ExposedAnswer,
    attributes: Attributes | null | undefined,
    covariates?: Readonly<Record<string, number>> | null,
  ): boolean {
    if (this.length >= this.capacity) {
      this.overflow++;
      return false;
    }
    this.users.push(userId);
    this.answers.push(answer);
    this.attributes.push(attributes);
    this.covariates.push(covariates);
    return true;
  }

  /** Remove and answer up to `count` exposures from the front, as the request sends them. */
  take(count: number): Exposure[] {
    const end = Math.min(this.head + count, this.users.length);
    const batch: Exposure[] = [];
    for (let i = this.head; i < end; i++) {
      const answer = this.answers[i]!;
      const exposure: Exposure = { user_id: this.users[i]!, experiment: answer.experiment, variant: answer.variant };
      const attributes = this.attributes[i];
      if (attributes && hasEntries(attributes)) exposure.attributes = attributes;
      const covariates = this.covariates[i];
      if (covariates) exposure.covariates = covariates;
      batch.push(exposure);
    }
    this.head = end;
    if (this.head > 1024 && this.head * 2 > this.users.length) this.compact([]);
    return batch;
  }

  /** Put a batch that could not be sent back at the front, in its order. */
  restore(batch: readonly Exposure[]): void {
    this.compact(batch);
  }

  /** Drop what was taken, with `front` put before what is left. */
  private compact(front: readonly Exposure[]): void {
    this.users = [...front.map((e) => e.user_id), ...this.users.slice(this.head)];
    this.answers = [...front, ...this.answers.slice(this.head)];
    this.attributes = [...front.map((e) => e.attributes), ...this.attributes.slice(this.head)];
    this.covariates = [...front.map((e) => e.covariates), ...this.covariates.slice(this.head)];
    this.head = 0;
  }
}
