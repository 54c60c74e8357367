/** Delivers lifecycle events to every subscriber, whatever one of them does. */
import type { Logger } from 'winston';
import type { LifecycleEvent } from './driver';

export class LifecycleListeners {
  private readonly listeners: ((event: LifecycleEvent) => void)[] = [];

  constructor(private readonly log?: Logger) {}

  add(listener: (event: LifecycleEvent) => void): void {
    this.listeners.push(listener);
  }

  emit(event: LifecycleEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log?.error('lifecycle event listener failed', { instance_uuid: event.uuid, err });
      }
    }
  }
}
