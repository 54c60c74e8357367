/**
 * Duplicate suppression by `_unique_id`. oslo remembers 16 ids per listener;
 * berth acknowledges only after handling, so a connection loss redelivers
 * whatever was in flight, and it remembers many more.
 */
export class DuplicateFilter {
  // A Map iterates in insertion order, so its first key is the oldest.
  private readonly handlings = new Map<string, Promise<void>>();

  constructor(private readonly capacity = 1024) {}

  /**
   * Starts `handle` for an id not seen before. For a known id it returns the
   * earlier handling instead (running or finished) and starts nothing.
   */
  run(id: string, handle: () => Promise<void>): { duplicate: boolean; done: Promise<void> } {
    const earlier = this.handlings.get(id);
    if (earlier) return { duplicate: true, done: earlier };
    const done = handle();
    this.handlings.set(
      id,
      done.catch(() => undefined),
    );
    if (this.handlings.size > this.capacity) {
      this.handlings.delete(this.handlings.keys().next().value as string);
    }
    return { duplicate: false, done };
  }
}
