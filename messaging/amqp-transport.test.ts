import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/loader';
import { transportOptionsFromConfig } from './amqp-transport';

test('the transport reads the nova.conf keys a deployment shares with its oslo peers', () => {
  const config = loadConfig({
    env: {
      BERTH_DEFAULT_HOST: 'node-7',
      BERTH_DEFAULT_TRANSPORT_URL: 'rabbit://nova:pw@mq1:5672,nova:pw@mq2:5672/cell1',
      BERTH_OSLO_MESSAGING_RABBIT_AMQP_DURABLE_QUEUES: 'true',
      BERTH_OSLO_MESSAGING_RABBIT_RABBIT_QUORUM_QUEUE: 'yes',
    },
  });
  assert.deepEqual(transportOptionsFromConfig(config), {
    transportUrl: 'rabbit://nova:pw@mq1:5672,nova:pw@mq2:5672/cell1',
    controlExchange: 'nova',
    durableQueues: true,
    quorumQueues: true,
    connectionName: `berth:node-7:${process.pid}`,
  });
});
