/**
 * A bounded LRU of token validation results, each entry good until its own
 * deadline. Keys are SHA-256 digests, as keystonemiddleware keys its cache,
 * so the cache never holds a usable bearer token.
 */
import { createHash } from 'node:crypto';

interface Entry<T> {
  value: T;
  /** epoch milliseconds after which the entry is gone */
  until: number;
}

export class TokenCache<T> {
  // A Map iterates in insertion order: re-inserting on a hit keeps the least
  // recently used entry first, where eviction takes it from.
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly capacity: number,
    private readonly now: () => number,
  ) {
    if (capacity < 1) throw new Error(`token cache capacity must be at least 1, not ${capacity}`);
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }

  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.until <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T, until: number): void {
    this.entries.delete(key);
    if (until <= this.now()) return;
    this.entries.set(key, { value, until });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
