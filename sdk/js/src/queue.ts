/** A bounded FIFO queue that counts what did not fit, instead of growing without end. */

export class BoundedQueue<T> {
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
