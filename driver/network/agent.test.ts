import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, transports } from 'winston';
import { NETWORK_RPC } from '../../nova/network-model';
import { FakeNetwork } from '../../testing/driver/fake-network';
import { hostState } from '../../testing/driver/network-fixtures';
import { FakeTransport } from '../../testing/messaging/fake-transport';
import { waitFor } from '../../testing/wait-for';
import { NetworkAgent } from './agent';

const log = createLogger({ transports: [new transports.Console({ silent: true })] });

/** A control plane whose document and answers the test controls. */
async function controlPlane(t: TestContext, transport: FakeTransport) {
  const cp = {
    revision: 1,
    fetches: 0,
    fail: false,
    statuses: [] as unknown[],
    inFlight: 0,
    maxInFlight: 0,
    hold: Promise.resolve(),
  };
  const server = await transport.serve({ topic: NETWORK_RPC.server.topic, server: 'api' }, [
    {
      version: '1.0',
      methods: {
        [NETWORK_RPC.methods.getHostState]: async (args) => {
          cp.fetches++;
          cp.inFlight++;
          cp.maxInFlight = Math.max(cp.maxInFlight, cp.inFlight);
          await cp.hold;
          cp.inFlight--;
          if (cp.fail) throw new Error('api down');
          assert.equal(args.tunnel_ip, '192.0.2.1');
          return hostState(String(args.host), { revision: cp.revision });
        },
        [NETWORK_RPC.methods.portsStatus]: async (args) => {
          if (cp.fail) throw new Error('api down');
          cp.statuses.push(args);
          return null;
        },
      },
    },
  ]);
  t.after(() => server.stop());
  return cp;
}

async function agentOn(t: TestContext) {
  const transport = new FakeTransport();
  const cp = await controlPlane(t, transport);
  const network = new FakeNetwork();
  const agent = new NetworkAgent({
    transport,
    network,
    host: 'h1',
    tunnelIp: '192.0.2.1',
    log,
    debounceMs: 20,
  });
  t.after(() => agent.stop());
  await agent.start();
  return { transport, cp, network, agent };
}

const changed = (transport: FakeTransport, revision: number) =>
  transport.fanoutCast(NETWORK_RPC.agents.topic, NETWORK_RPC.methods.stateChanged, { revision });

test('the agent syncs at start and again on state_changed, once per burst', async (t) => {
  const { transport, cp, network, agent } = await agentOn(t);
  await waitFor('first sync', () => network.synced.length === 1);
  assert.equal(agent.revision, 1);
  cp.revision = 5;
  for (const r of [2, 3, 4, 5]) await changed(transport, r);
  await waitFor('sync of revision 5', () => agent.revision === 5);
  await agent.idle();
  assert.equal(cp.fetches, 2);
  await changed(transport, 4);
  await agent.idle();
  assert.equal(cp.fetches, 2, 'a revision already synced is not fetched again');
});

test('fetches never overlap: a change during a fetch runs one more after it', async (t) => {
  const { transport, cp, network, agent } = await agentOn(t);
  await waitFor('first sync', () => network.synced.length === 1);
  let release!: () => void;
  cp.hold = new Promise((r) => (release = r));
  await changed(transport, 2);
  await waitFor('a fetch in flight', () => cp.inFlight === 1);
  cp.revision = 3;
  await changed(transport, 3);
  release();
  await waitFor('revision 3 synced', () => agent.revision === 3);
  assert.equal(cp.maxInFlight, 1);
});

test('plugged ports are reported ACTIVE; those an outage kept back go with the next sync', async (t) => {
  const { transport, cp, network, agent } = await agentOn(t);
  await waitFor('first sync', () => network.synced.length === 1);
  agent.portsPlugged(['p0']);
  await waitFor('p0 reported', () => cp.statuses.length === 1);
  cp.fail = true;
  agent.portsPlugged(['p1']);
  await changed(transport, 2);
  await waitFor('a failed fetch', () => cp.fetches === 2);
  assert.equal(cp.statuses.length, 1);
  cp.fail = false;
  cp.revision = 2;
  await waitFor('the retried sync', () => agent.revision === 2, 10000);
  await waitFor('p1 reported', () => cp.statuses.length === 2);
  assert.deepEqual(cp.statuses[1], { host: 'h1', port_ids: ['p1'], status: 'ACTIVE' });
});
