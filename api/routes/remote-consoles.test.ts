import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN } from '../../testing/api/endpoints';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';

describe('remote consoles', () => {
  let cloud: TestCloud;
  let id: string;
  let stopped: string;
  const remoteConsole = (server: string, body: unknown, version = '2.6') =>
    cloud.request('POST', `/v2.1/servers/${server}/remote-consoles`, { version, body });
  const action = (server: string, body: unknown, version = '2.1') =>
    cloud.request('POST', `/v2.1/servers/${server}/action`, { version, body });
  const fault = (r: { status: number; body: Record<string, Record<string, unknown>> }) => {
    const [name] = Object.keys(r.body ?? {});
    return { status: r.status, code: r.body?.[name]?.code, message: r.body?.[name]?.message };
  };
  const boot = async (name: string) => {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name, imageRef: cloud.image.id, flavorRef: '1' } },
    });
    await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
    return r.body.server.id as string;
  };

  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'] });
    id = await boot('on');
    stopped = await boot('off');
    await action(stopped, { 'os-stop': null });
    await cloud.waitForStatus(stopped, ['SHUTOFF']);
  });
  after(() => cloud.close());

  test('serial/serial answers the URL in Nova shape', async () => {
    const r = await remoteConsole(id, { remote_console: { protocol: 'serial', type: 'serial' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body.remote_console).sort(), ['protocol', 'type', 'url']);
    assert.match(r.body.remote_console.url, /^ws:\/\/127\.0\.0\.1:\d+\/serial\?token=/);
  });

  test('protocols and types Nova does not know are a 400', async () => {
    for (const c of [
      { protocol: 'telnet', type: 'serial' },
      { protocol: 'serial', type: 'tty' },
      { protocol: 'serial' },
      { type: 'serial' },
      // mks arrived in 2.8
      { protocol: 'mks', type: 'webmks' },
    ]) {
      const r = await remoteConsole(id, { remote_console: c });
      assert.equal(r.status, 400, JSON.stringify(c));
    }
    for (const body of [{}, { remote_console: 'serial' }, 'nonsense'])
      assert.equal((await remoteConsole(id, body)).status, 400, JSON.stringify(body));
  });

  test('the graphical consoles are "unavailable", as Nova answers when a type is disabled', async () => {
    for (const [protocol, type, version] of [
      ['vnc', 'novnc', '2.6'],
      ['spice', 'spice-html5', '2.6'],
      ['rdp', 'rdp-html5', '2.6'],
      ['mks', 'webmks', '2.8'],
    ]) {
      const r = await remoteConsole(id, { remote_console: { protocol, type } }, version);
      assert.deepEqual(fault(r), {
        status: 400,
        code: 400,
        message: `Unavailable console type ${type}.`,
      });
    }
    const r = await remoteConsole(id, { remote_console: { protocol: 'serial', type: 'novnc' } });
    assert.deepEqual(fault(r), { status: 400, code: 400, message: 'Invalid console type novnc' });
  });

  test('a server that is not ACTIVE is a 409; one that does not exist a 404', async () => {
    const serial = { remote_console: { protocol: 'serial', type: 'serial' } };
    const r = await remoteConsole(stopped, serial);
    assert.deepEqual(fault(r), {
      status: 409,
      code: 409,
      message: `Instance ${stopped} is not ready.`,
    });
    assert.equal((await remoteConsole('00000000-0000-0000-0000-000000000000', serial)).status, 404);
  });

  test('remote-consoles is 2.6 on; the os-get*Console actions end at 2.5', async () => {
    const serial = { remote_console: { protocol: 'serial', type: 'serial' } };
    assert.equal((await remoteConsole(id, serial, '2.5')).status, 404);
    const legacy = await action(id, { 'os-getSerialConsole': { type: 'serial' } });
    assert.equal(legacy.status, 200, JSON.stringify(legacy.body));
    assert.equal(legacy.body.console.type, 'serial');
    assert.match(legacy.body.console.url, /\/serial\?token=/);
    assert.equal(
      (await action(id, { 'os-getSerialConsole': { type: 'serial' } }, '2.6')).status,
      404,
    );
    assert.equal((await action(id, { 'os-getSerialConsole': { type: 'novnc' } })).status, 400);
    assert.equal((await action(id, { 'os-getSerialConsole': {} })).status, 400);
    assert.deepEqual(fault(await action(id, { 'os-getVNCConsole': { type: 'novnc' } })), {
      status: 400,
      code: 400,
      message: 'Unavailable console type novnc.',
    });
  });

  test('os-console-auth-tokens shows a serial token to an admin from 2.31', async () => {
    const r = await remoteConsole(id, { remote_console: { protocol: 'serial', type: 'serial' } });
    const token = new URL(r.body.remote_console.url).searchParams.get('token');
    const show = (version: string, as = ADMIN) =>
      cloud.request('GET', `/v2.1/os-console-auth-tokens/${token}`, { version, token: as });
    const shown = await show('2.31');
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    assert.equal(shown.body.console.instance_uuid, id);
    assert.equal(shown.body.console.host, '127.0.0.1');
    assert.ok(Number.isInteger(shown.body.console.port) && shown.body.console.port > 0);
    assert.equal((await show('2.30')).status, 400);
    assert.equal((await show('2.31', 'demo:demo')).status, 403);
    const unknown = await cloud.request('GET', '/v2.1/os-console-auth-tokens/nonsense', {
      version: '2.31',
      token: ADMIN,
    });
    assert.equal(unknown.status, 404);
  });
});

describe('a compute that cannot bind [console] proxyclient_address', () => {
  let cloud: TestCloud;
  before(async () => {
    // TEST-NET-1: no interface of this host has it, so the console's listen fails.
    cloud = await startTestCloud({
      hosts: ['node-1'],
      config: { console: { proxyclient_address: '192.0.2.1' } },
    });
  });
  after(() => cloud.close());

  test('runs its instances, and answers their console requests 400', async () => {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name: 'x', imageRef: cloud.image.id, flavorRef: '1' } },
    });
    await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
    const c = await cloud.request('POST', `/v2.1/servers/${r.body.server.id}/remote-consoles`, {
      version: '2.6',
      body: { remote_console: { protocol: 'serial', type: 'serial' } },
    });
    assert.equal(c.status, 400, JSON.stringify(c.body));
    assert.match(JSON.stringify(c.body), /Unavailable console type serial/);
  });
});
