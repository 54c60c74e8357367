/**
 * Matches replies to pending calls by `_msg_id`, with oslo's client rules:
 * a call ends only on `ending: true`, keeps the last non-null result or
 * failure before it, and every reply (heartbeats included) restarts the
 * call-monitor timer.
 */
import { log } from '../common/log';
import type { OsloMessage } from './envelope';
import { decodeFailure } from './failures';
import { MessagingTimeout } from './transport';

export interface WaitOptions {
  timeoutMs: number;
  /** fail when no reply or heartbeat arrives for this long */
  monitorMs?: number;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(err: Error): void;
  deadline: NodeJS.Timeout;
  monitor?: NodeJS.Timeout;
  restartMonitor(): void;
  outcome?: { result: unknown } | { failure: string };
}

export class ReplyWaiter {
  private readonly pending = new Map<string, PendingCall>();

  get size(): number {
    return this.pending.size;
  }

  /** Registers a call before its request is published, so no reply can outrun it. */
  wait(msgId: string, opts: WaitOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const expire = () => this.settle(msgId, new MessagingTimeout(timeoutMessage(msgId)));
      const { monitorMs } = opts;
      const call: PendingCall = {
        resolve,
        reject,
        deadline: setTimeout(expire, opts.timeoutMs),
        restartMonitor: () => {
          if (monitorMs === undefined) return;
          clearTimeout(call.monitor);
          call.monitor = setTimeout(expire, monitorMs);
        },
      };
      call.restartMonitor();
      this.pending.set(msgId, call);
    });
  }

  deliver(message: OsloMessage): void {
    const msgId = message._msg_id;
    const call = typeof msgId === 'string' ? this.pending.get(msgId) : undefined;
    if (!call) {
      log.debug('dropped a reply nobody waits for', { msg_id: msgId });
      return;
    }
    call.restartMonitor();
    if (typeof message.failure === 'string' && message.failure !== '') {
      call.outcome = { failure: message.failure };
    } else if (message.result !== undefined && message.result !== null) {
      call.outcome = { result: message.result };
    }
    if (message.ending !== true) return;
    const outcome = call.outcome;
    if (outcome && 'failure' in outcome)
      this.settle(msgId as string, decodeFailure(outcome.failure));
    else this.settle(msgId as string, undefined, outcome?.result ?? null);
  }

  /** Forgets a call whose request could not be published. */
  cancel(msgId: string): void {
    const call = this.pending.get(msgId);
    if (!call) return;
    clearTimeout(call.deadline);
    clearTimeout(call.monitor);
    this.pending.delete(msgId);
  }

  failAll(err: Error): void {
    for (const msgId of [...this.pending.keys()]) this.settle(msgId, err);
  }

  private settle(msgId: string, err: Error | undefined, result?: unknown): void {
    const call = this.pending.get(msgId);
    if (!call) return;
    this.cancel(msgId);
    if (err) call.reject(err);
    else call.resolve(result);
  }
}

function timeoutMessage(msgId: string): string {
  return `Timed out waiting for a reply to message ID ${msgId}`;
}
