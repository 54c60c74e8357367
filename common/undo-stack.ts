/**
 * Undo steps of a multi-step operation (design §3, §5): each step that
 * made something registers how to remove it; on failure they run newest
 * first and the caller rethrows its original error, not an undo's.
 */
import type { Logger } from 'winston';

export class UndoStack {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];

  constructor(private readonly log?: Logger) {}

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** Runs every step even when some fail: one leftover must not keep the others in place. */
  async rollback(): Promise<void> {
    for (const { what, undo } of this.steps.splice(0).reverse()) {
      try {
        await undo();
      } catch (err) {
        this.log?.error('rollback step failed; something may be left behind', { step: what, err });
      }
    }
  }
}
