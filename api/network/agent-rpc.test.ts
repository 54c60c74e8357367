import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { NETWORK_RPC, type HostNetworkState } from '../../nova/network-model';
import type { Server } from '../../messaging/transport';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';
import { waitFor } from '../../testing/wait-for';
import { serveAgentRpc } from './agent-rpc';

describeEachDatabase('network agent RPC', (database) => {
  let api: TestApi;
  let rpc: Server;
  let agent: Server;
  const revisions: number[] = [];
  before(async () => {
    api = await startTestApi({ database });
    rpc = await serveAgentRpc(api.deps.network, api.transport, 'api-test');
    agent = await api.transport.serve(
      { topic: NETWORK_RPC.agents.topic, server: 'node-1' },
      [
        {
          version: '1.0',
          methods: { state_changed: (a) => void revisions.push(a.revision as number) },
        },
      ],
      { fanout: true },
    );
  });
  after(async () => {
    await agent.stop();
    await rpc.stop();
    await api.close();
  });

  const call = (method: string, args: Record<string, unknown>) =>
    api.transport.call(NETWORK_RPC.server, method, args);

  it('answers get_host_state with the host’s ports and tunnel IPs, and takes port status', async () => {
    const net = (
      await api.request('POST', '/network/v2.0/networks', { body: { network: { name: 'rpc' } } })
    ).body.network;
    await api.request('POST', '/network/v2.0/subnets', {
      body: { subnet: { network_id: net.id, ip_version: 4, cidr: '10.40.0.0/24' } },
    });
    const port = (
      await api.request('POST', '/network/v2.0/ports', {
        token: 'admin:admin',
        body: {
          port: {
            network_id: net.id,
            tenant_id: 'demo',
            'binding:host_id': 'node-1',
            device_owner: 'compute:nova',
            device_id: 'vm',
          },
        },
      })
    ).body.port;
    const state = (await call('get_host_state', {
      host: 'node-1',
      tunnel_ip: '192.0.2.7',
    })) as HostNetworkState;
    assert.equal(state.host, 'node-1');
    assert.deepEqual(
      state.networks.map((n) => n.id),
      [net.id],
    );
    const mine = state.ports.find((p) => p.id === port.id)!;
    assert.equal(mine.tunnelIp, '192.0.2.7');
    assert.equal(state.public.cidr, '172.24.4.0/24');
    assert.ok(state.revision >= 3);
    assert.equal(
      await call('update_ports_status', { host: 'node-1', port_ids: [port.id], status: 'ACTIVE' }),
      null,
    );
    const shown = await api.request('GET', `/network/v2.0/ports/${port.id}`);
    assert.equal(shown.body.port.status, 'ACTIVE');
    // Another host cannot set the status of a port bound elsewhere.
    await call('update_ports_status', { host: 'node-2', port_ids: [port.id], status: 'DOWN' });
    assert.equal(
      (await api.request('GET', `/network/v2.0/ports/${port.id}`)).body.port.status,
      'ACTIVE',
    );
    await assert.rejects(
      call('update_ports_status', { host: 'node-1', port_ids: 'x', status: 'ACTIVE' }),
    );
  });

  it('fans out state_changed with a rising revision after each committed write, and none after a failed one', async () => {
    const start = await api.deps.network.revision();
    await waitFor('earlier fanouts', async () => revisions.includes(start) || undefined);
    const seen = revisions.length;
    await api.request('POST', '/network/v2.0/networks', { body: { network: { name: 'fan' } } });
    await waitFor('a state_changed', async () => revisions.length > seen || undefined);
    assert.equal(revisions.at(-1), start + 1);
    const bad = await api.request('POST', '/network/v2.0/ports', {
      body: { port: { network_id: '00000000-0000-4000-8000-000000000000' } },
    });
    assert.equal(bad.status, 404);
    await api.transport.settle();
    assert.equal(
      await api.deps.network.revision(),
      start + 1,
      'a failed write commits no revision',
    );
  });
});
