/**
 * One operation per instance at a time (design §7): two spawns of one
 * uuid, or a reboot racing a destroy, would otherwise interleave their
 * steps on the same container. Operations on different instances run
 * concurrently.
 */
export class InstanceLocks {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(uuid: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(uuid) ?? Promise.resolve();
    const result = previous.then(operation);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(uuid, tail);
    void tail.then(() => {
      if (this.tails.get(uuid) === tail) this.tails.delete(uuid);
    });
    return result;
  }
}
