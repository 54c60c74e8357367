/**
 * Names and flags of the exchanges and queues, exactly as oslo's rabbit
 * driver (14.0.3) declares them: RabbitMQ refuses a redeclaration whose
 * flags differ (406 PRECONDITION_FAILED), so berth must match its peers.
 */
import type { Options } from 'amqplib';
import { hexUuid } from './ids';

/** The deployment's [oslo_messaging_rabbit] knobs that change declarations. */
export interface QueueFlags {
  durableQueues: boolean;
  quorumQueues: boolean;
}

// rabbit_transient_queues_ttl (1800 s) as x-expires, on reply and fanout queues only.
const TRANSIENT_QUEUE_EXPIRES_MS = 1_800_000;

// oslo: "Quorum queues are durable by default", so quorum forces durable.
function durable(flags: QueueFlags): boolean {
  return flags.durableQueues || flags.quorumQueues;
}

/** The control exchange (e.g. `nova`): topic, carrying RPC and notifications. */
export function controlExchangeOptions(flags: QueueFlags): Options.AssertExchange {
  return { durable: durable(flags), autoDelete: false };
}

/** Queues `topic`, `topic.server` and notification queues `topic.priority`. */
export function topicQueueOptions(flags: QueueFlags): Options.AssertQueue {
  return {
    durable: durable(flags),
    autoDelete: false,
    arguments: flags.quorumQueues ? { 'x-queue-type': 'quorum' } : {},
  };
}

export function fanoutExchangeName(topic: string): string {
  return `${topic}_fanout`;
}

export const FANOUT_EXCHANGE_OPTIONS: Options.AssertExchange = { durable: false, autoDelete: true };

export function fanoutQueueName(topic: string): string {
  return `${topic}_fanout_${hexUuid()}`;
}

export function replyQueueName(): string {
  return `reply_${hexUuid()}`;
}

/** Reply and fanout queues: never durable or quorum, expire 30 min after their last consumer. */
export const TRANSIENT_QUEUE_OPTIONS: Options.AssertQueue = {
  durable: false,
  autoDelete: false,
  arguments: { 'x-expires': TRANSIENT_QUEUE_EXPIRES_MS },
};
