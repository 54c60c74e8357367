import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

const ADMIN = 'admin:admin';

describeEachDatabase('server lifecycle actions', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
  });
  after(() => cloud.close());

  async function boot(name: string, flavorRef = '42'): Promise<string> {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name, imageRef: cloud.image.id, flavorRef } },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
    return r.body.server.id;
  }

  const act = (id: string, body: unknown, o: { token?: string; version?: string } = {}) =>
    cloud.request('POST', `/v2.1/servers/${id}/action`, { body, ...o });
  const show = async (id: string, version = '2.73') =>
    (await cloud.request('GET', `/v2.1/servers/${id}`, { version })).body.server;

  test('lock: a locked server refuses its owner, says why from 2.73, and unlocks', async () => {
    const id = await boot('locked');
    assert.equal(
      (await act(id, { lock: { locked_reason: 'maintenance' } }, { version: '2.73' })).status,
      202,
    );
    const s = await show(id);
    assert.equal(s.locked, true);
    assert.equal(s.locked_reason, 'maintenance');
    const stop = await act(id, { 'os-stop': null });
    assert.equal(stop.status, 409, JSON.stringify(stop.body));
    assert.match(stop.body.conflictingRequest.message, /locked/);
    // An admin passes the lock, as Nova's policy lets it.
    assert.equal((await act(id, { unlock: null })).status, 202);
    assert.equal((await show(id)).locked, false);
    assert.equal((await act(id, { lock: { locked_reason: '' } }, { version: '2.73' })).status, 400);
  });

  test('lock by an admin cannot be undone by the owner', async () => {
    const id = await boot('admin-locked');
    assert.equal((await act(id, { lock: null }, { token: ADMIN })).status, 202);
    const r = await act(id, { unlock: null }, { token: 'demo:demo' });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal((await act(id, { unlock: null }, { token: ADMIN })).status, 202);
  });

  test('resize goes to VERIFY_RESIZE with the new flavor; revert and confirm end it', async () => {
    const id = await boot('resized', '42');
    assert.equal((await act(id, { resize: { flavorRef: '1' } })).status, 202);
    const resized = await cloud.waitForStatus(id, ['VERIFY_RESIZE', 'ERROR']);
    assert.equal(resized.status, 'VERIFY_RESIZE', JSON.stringify(resized));
    const driver = cloud.computes.get('node-1')!.driver;
    assert.equal(driver.sizeOf(id).memoryMb, 512);
    const migrations = await cloud.request('GET', `/v2.1/servers/${id}`, { version: '2.47' });
    assert.equal(migrations.body.server.flavor.original_name, 'm1.tiny');

    assert.equal((await act(id, { revertResize: null })).status, 202);
    await cloud.waitForStatus(id, ['ACTIVE']);
    assert.equal(driver.sizeOf(id).memoryMb, 64);
    assert.equal((await show(id, '2.47')).flavor.original_name, 'b1.nano');

    assert.equal((await act(id, { resize: { flavorRef: '1' } })).status, 202);
    await cloud.waitForStatus(id, ['VERIFY_RESIZE']);
    assert.equal((await act(id, { confirmResize: null })).status, 204);
    await cloud.waitForStatus(id, ['ACTIVE']);
    assert.equal((await show(id, '2.47')).flavor.original_name, 'm1.tiny');
    assert.equal(driver.sizeOf(id).memoryMb, 512);
  });

  test('OS-DCF:diskConfig is kept as create, rebuild and resize ask', async () => {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: {
        server: {
          name: 'dcf',
          imageRef: cloud.image.id,
          flavorRef: '42',
          'OS-DCF:diskConfig': 'AUTO',
        },
      },
    });
    assert.equal(r.body.server['OS-DCF:diskConfig'], 'AUTO');
    const id = r.body.server.id as string;
    assert.equal((await cloud.waitForStatus(id, ['ACTIVE']))['OS-DCF:diskConfig'], 'AUTO');
    const rebuilt = await act(id, {
      rebuild: { imageRef: cloud.image.id, 'OS-DCF:diskConfig': 'MANUAL' },
    });
    assert.equal(rebuilt.body.server['OS-DCF:diskConfig'], 'MANUAL');
    await cloud.waitForStatus(id, ['ACTIVE']);
    assert.equal(
      (await act(id, { resize: { flavorRef: '1', 'OS-DCF:diskConfig': 'AUTO' } })).status,
      202,
    );
    await cloud.waitForStatus(id, ['VERIFY_RESIZE']);
    assert.equal((await show(id))['OS-DCF:diskConfig'], 'AUTO');
    assert.equal((await act(id, { confirmResize: null })).status, 204);
    await cloud.waitForStatus(id, ['ACTIVE']);
    const updated = await cloud.request('PUT', `/v2.1/servers/${id}`, {
      body: { server: { 'OS-DCF:diskConfig': 'MANUAL' } },
    });
    assert.equal(updated.body.server['OS-DCF:diskConfig'], 'MANUAL');
  });

  test('a server awaiting resize confirmation deletes', async () => {
    const id = await boot('resized-then-deleted', '42');
    assert.equal((await act(id, { resize: { flavorRef: '1' } })).status, 202);
    await cloud.waitForStatus(id, ['VERIFY_RESIZE']);
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await cloud.waitForStatus(id, ['DELETED']);
  });

  test("resize refusals are Nova's 400s and 409s", async () => {
    const id = await boot('no-resize', '2');
    const same = await act(id, { resize: { flavorRef: '2' } });
    assert.equal(same.status, 400);
    assert.match(same.body.badRequest.message, /must change flavor/);
    const down = await act(id, { resize: { flavorRef: '1' } });
    assert.equal(down.status, 400, JSON.stringify(down.body));
    const unknown = await act(id, { resize: { flavorRef: 'no-such-flavor' } });
    assert.equal(unknown.status, 400);
    assert.equal((await act(id, { resize: {} })).status, 400);
    const notResized = await act(id, { confirmResize: null });
    // Nova checks the state first: only a resized server has a resize to confirm.
    assert.equal(notResized.status, 409, JSON.stringify(notResized.body));
  });

  test('os-resetState is admin-only and sets the vm state without a task', async () => {
    const id = await boot('reset');
    const member = await act(id, { 'os-resetState': { state: 'error' } });
    assert.equal(member.status, 403);
    assert.equal(
      (await act(id, { 'os-resetState': { state: 'bogus' } }, { token: ADMIN })).status,
      400,
    );
    assert.equal(
      (await act(id, { 'os-resetState': { state: 'error' } }, { token: ADMIN })).status,
      202,
    );
    assert.equal((await show(id)).status, 'ERROR');
    assert.equal(
      (await act(id, { 'os-resetState': { state: 'active' } }, { token: ADMIN })).status,
      202,
    );
    assert.equal((await show(id)).status, 'ACTIVE');
  });

  test('forceDelete removes the server', async () => {
    const id = await boot('forced');
    assert.equal((await act(id, { forceDelete: null })).status, 202);
    await cloud.waitForStatus(id, ['DELETED']);
    assert.equal(await cloud.computes.get('node-1')!.driver.instanceExists(id), false);
  });

  test('what a container cannot do is refused with a fault, never a 500', async () => {
    const id = await boot('refusals');
    const cases: [unknown, number, string?][] = [
      [{ migrate: null }, 403, 'member'],
      [{ rescue: null }, 400],
      [{ unrescue: null }, 409],
      [{ restore: null }, 409],
      [{ changePassword: { adminPass: 'x' } }, 501],
      [{ resetNetwork: null }, 410],
      [{ 'os-migrateLive': { host: null, block_migration: 'auto' } }, 403, 'member'],
    ];
    for (const [body, status] of cases) {
      const r = await act(id, body, { version: '2.25' });
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      if (status !== 202) assert.equal(Object.values(r.body as object)[0].code, status);
    }
    const migrate = await act(id, { migrate: null }, { token: ADMIN });
    assert.equal(migrate.status, 400);
    assert.match(migrate.body.badRequest.message, /No valid host/);
    const crash = await act(id, { trigger_crash_dump: null }, { version: '2.17' });
    assert.equal(crash.status, 400);
    const before217 = await act(id, { trigger_crash_dump: null }, { version: '2.16' });
    assert.equal(before217.status, 400);
    assert.match(before217.body.badRequest.message, /no such action/);
  });

  test('add/removeSecurityGroup change the ports and the os-security-groups list', async () => {
    const id = await boot('secgroups');
    const neutron = (path: string, body: unknown) =>
      cloud.request('POST', `/network/v2.0/${path}`, { body });
    const sg = await neutron('security-groups', { security_group: { name: 'web' } });
    assert.equal(sg.status, 201, JSON.stringify(sg.body));
    const portless = await act(id, { addSecurityGroup: { name: 'web' } });
    assert.equal(portless.status, 404);
    assert.match(
      portless.body.itemNotFound.message,
      /could not be found as device id on any ports/,
    );
    // The test cloud plugs fake ports; a Neutron port with the server as its device stands for one.
    const net = await neutron('networks', { network: { name: `sg-${id}` } });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    const port = await neutron('ports', {
      port: { network_id: net.body.network.id, device_id: id, device_owner: 'compute:nova' },
    });
    assert.equal(port.status, 201, JSON.stringify(port.body));
    const names = async () =>
      (await cloud.request('GET', `/v2.1/servers/${id}/os-security-groups`)).body.security_groups
        .map((g: { name: string }) => g.name)
        .sort();
    assert.deepEqual(await names(), ['default']);
    assert.equal((await act(id, { addSecurityGroup: { name: 'web' } })).status, 202);
    assert.deepEqual(await names(), ['default', 'web']);
    assert.equal((await act(id, { removeSecurityGroup: { name: 'web' } })).status, 202);
    assert.deepEqual(await names(), ['default']);
    const missing = await act(id, { addSecurityGroup: { name: 'no-such-group' } });
    assert.ok([400, 404].includes(missing.status), JSON.stringify(missing.body));
    const notOn = await act(id, { removeSecurityGroup: { name: 'web' } });
    assert.equal(notOn.status, 400, JSON.stringify(notOn.body));
    // Without any group, the server shows no security_groups key, as Nova.
    assert.equal((await act(id, { removeSecurityGroup: { name: 'default' } })).status, 202);
    assert.ok(!('security_groups' in (await show(id))));
  });
});
