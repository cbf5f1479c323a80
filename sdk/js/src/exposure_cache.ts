/**
 * Which (experiment, user) pairs were exposed lately, so a hot user queues one exposure, not one
 * a call. Remembers the `capacity` most recently queued pairs and forgets the oldest first.
 *
 * Why one Set of user ids per experiment rather than one Set of "experiment user" strings: the
 * user id the caller passes is already a string whose hash V8 caches, so looking it up allocates
 * nothing, where building a joined key would allocate and hash a new string on every `assign`.
 */

export class ExposureCache {
  private readonly byExperiment = new Map<string, Set<string>>();
  /** The Set each remembered pair went into, oldest first from `head`: the eviction order. */
  private order: Array<Set<string> | undefined> = [];
  private head = 0;

  constructor(readonly capacity: number) {}

  /** The users remembered for `experiment`, to test with `has` and extend with `remember`. */
  usersOf(experiment: string): Set<string> {
    let users = this.byExperiment.get(experiment);
    if (users === undefined) {
      users = new Set();
      this.byExperiment.set(experiment, users);
    }
    return users;
  }

  /** Remember `userId` in `users` (from `usersOf`); forget the oldest pair beyond capacity. */
  remember(users: Set<string>, userId: string): void {
    if (this.capacity <= 0 || users.has(userId)) return;
    users.add(userId);
    this.order.push(users);
    if (this.size > this.capacity) this.forgetOldest();
  }

  get size(): number {
    return this.order.length - this.head;
  }

  /**
   * The oldest pair is the first user of the Set at `head`: each Set keeps insertion order, and
   * only this method removes users, oldest first. (An emptied Set stays, one per experiment.)
   */
  private forgetOldest(): void {
    const users = this.order[this.head]!;
    this.order[this.head] = undefined;
    this.head++;
    const oldest = users.values().next();
    if (!oldest.done) users.delete(oldest.value);
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }
}
