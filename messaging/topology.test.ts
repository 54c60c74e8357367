import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FANOUT_EXCHANGE_OPTIONS,
  TRANSIENT_QUEUE_OPTIONS,
  controlExchangeOptions,
  fanoutQueueName,
  replyQueueName,
  topicQueueOptions,
} from './topology';

const deployments = {
  default: { durableQueues: false, quorumQueues: false },
  durable: { durableQueues: true, quorumQueues: false },
  quorum: { durableQueues: false, quorumQueues: true },
};

test('control exchange and topic queues follow amqp_durable_queues, as oslo declares them', () => {
  assert.deepEqual(controlExchangeOptions(deployments.default), {
    durable: false,
    autoDelete: false,
  });
  assert.deepEqual(topicQueueOptions(deployments.default), {
    durable: false,
    autoDelete: false,
    arguments: {},
  });
  assert.deepEqual(controlExchangeOptions(deployments.durable), {
    durable: true,
    autoDelete: false,
  });
  assert.deepEqual(topicQueueOptions(deployments.durable), {
    durable: true,
    autoDelete: false,
    arguments: {},
  });
});

test('quorum queues force durable and add x-queue-type', () => {
  assert.deepEqual(controlExchangeOptions(deployments.quorum), {
    durable: true,
    autoDelete: false,
  });
  assert.deepEqual(topicQueueOptions(deployments.quorum), {
    durable: true,
    autoDelete: false,
    arguments: { 'x-queue-type': 'quorum' },
  });
});

test('fanout and reply entities are transient whatever the deployment', () => {
  assert.deepEqual(FANOUT_EXCHANGE_OPTIONS, { durable: false, autoDelete: true });
  assert.deepEqual(TRANSIENT_QUEUE_OPTIONS, {
    durable: false,
    autoDelete: false,
    arguments: { 'x-expires': 1_800_000 },
  });
  assert.match(replyQueueName(), /^reply_[0-9a-f]{32}$/);
  assert.match(fanoutQueueName('compute'), /^compute_fanout_[0-9a-f]{32}$/);
  assert.notEqual(replyQueueName(), replyQueueName());
});
