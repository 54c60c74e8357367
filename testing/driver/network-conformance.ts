/**
 * The Network seam's contract, run by every implementation (the fake in
 * unit tests, LinuxNetwork in a simulated host): plug is idempotent and
 * names a namespace with one interface per port in order, a failed plug
 * leaves nothing, unplug/detach are idempotent, attach works on a plugged
 * instance only, restore keeps exactly the instances it is given.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Network } from '../../driver/network/network';
import type { Vif } from '../../nova/network-model';
import { fixtureVif, type FixtureNetwork } from './network-fixtures';

export interface NetworkUnderTest {
  network: Network;
  /** the instance namespace's interfaces as `ifname port-id` (real: its links and their MACs) */
  interfaces(uuid: string, vifs: Vif[]): Promise<string[]>;
  /** a network the implementation can wire */
  net: FixtureNetwork;
}

let serial = 0;
function vif(net: FixtureNetwork): Vif {
  const n = ++serial;
  const hex = n.toString(16).padStart(2, '0');
  const base = net.cidr.split('.').slice(0, 3).join('.');
  return fixtureVif({
    id: randomUUID(),
    mac: `fa:16:3e:c0:00:${hex}`,
    ip: `${base}.${10 + n}`,
    network: net,
  });
}

export function networkConformance(
  name: string,
  make: (t: TestContext) => Promise<NetworkUnderTest>,
  skip?: string,
): void {
  const each = (title: string, fn: (s: NetworkUnderTest, t: TestContext) => Promise<void>) =>
    test(`${name}: ${title}`, { skip }, async (t) => fn(await make(t), t));

  each(
    'plug gives a namespace with one interface per port, in order, and is idempotent',
    async (s) => {
      const uuid = randomUUID();
      const vifs = [vif(s.net), vif(s.net)];
      const first = await s.network.plug({ uuid, hostname: 'one', vifs });
      assert.match(first.netnsPath, /instance-/);
      assert.match(first.files.hostname, /^one\n$/);
      assert.deepEqual(await s.interfaces(uuid, vifs), [
        `eth0 ${vifs[0].id}`,
        `eth1 ${vifs[1].id}`,
      ]);
      const again = await s.network.plug({ uuid, hostname: 'one', vifs });
      assert.equal(again.netnsPath, first.netnsPath);
      assert.deepEqual(await s.network.pluggedInstances(), [uuid]);
      await s.network.unplug(uuid);
      await s.network.unplug(uuid);
      assert.deepEqual(await s.network.pluggedInstances(), []);
    },
  );

  each('a plug it refuses leaves nothing behind', async (s) => {
    const uuid = randomUUID();
    const v = vif(s.net);
    await assert.rejects(s.network.plug({ uuid, hostname: 'x', vifs: [v, v] }), {
      name: 'ConflictError',
    });
    await assert.rejects(
      s.network.plug({ uuid, hostname: 'x', vifs: [{ ...vif(s.net), address: 'not-a-mac' }] }),
      { name: 'InvalidArgumentError' },
    );
    assert.deepEqual(await s.network.pluggedInstances(), []);
  });

  each('attach adds the next interface at once; detach takes it away, twice is fine', async (s) => {
    const uuid = randomUUID();
    const first = vif(s.net);
    await s.network.plug({ uuid, hostname: 'a', vifs: [first] });
    const extra = vif(s.net);
    await s.network.attach(uuid, extra);
    await s.network.attach(uuid, extra);
    assert.deepEqual(await s.interfaces(uuid, [first, extra]), [
      `eth0 ${first.id}`,
      `eth1 ${extra.id}`,
    ]);
    await s.network.detach(uuid, extra.id);
    await s.network.detach(uuid, extra.id);
    assert.deepEqual(await s.interfaces(uuid, [first, extra]), [`eth0 ${first.id}`]);
    await assert.rejects(s.network.attach(randomUUID(), vif(s.net)), { name: 'NotFoundError' });
    await s.network.unplug(uuid);
  });

  each('restore keeps the instances it is given and unplugs the others', async (s) => {
    const keep = { uuid: randomUUID(), hostname: 'keep', vifs: [vif(s.net)] };
    const gone = { uuid: randomUUID(), hostname: 'gone', vifs: [vif(s.net)] };
    await s.network.plug(keep);
    await s.network.plug(gone);
    await s.network.restore([keep]);
    assert.deepEqual(await s.network.pluggedInstances(), [keep.uuid]);
    assert.deepEqual(await s.interfaces(keep.uuid, keep.vifs), [`eth0 ${keep.vifs[0].id}`]);
    await s.network.unplug(keep.uuid);
  });
}
