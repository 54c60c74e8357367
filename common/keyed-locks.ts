/**
 * One operation per key at a time (design §7): two spawns of one uuid, or
 * a reboot racing a destroy, would otherwise interleave their steps on the
 * same container. Operations on different keys run concurrently.
 */
export class KeyedLocks {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(operation);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
