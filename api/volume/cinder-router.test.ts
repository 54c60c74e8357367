import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { FakeVolumeHost } from '../../testing/volume/fake-volume-host';

const V = '/volume/v3';
const ADMIN = 'admin:admin';
const OTHER = 'alice:other';

describeEachDatabase('the embedded Cinder API', (database) => {
  let cloud: TestCloud;
  let host: FakeVolumeHost;
  const drain = () => cloud.api.deps.volumes.drain();
  const create = async (body: Record<string, unknown>, token?: string) => {
    const r = await cloud.request('POST', `${V}/demo/volumes`, { body: { volume: body }, token });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await drain();
    return r.body.volume as Record<string, unknown> & { id: string };
  };
  const show = async (id: string, token?: string) =>
    (await cloud.request('GET', `${V}/volumes/${id}`, { token })).body.volume;

  before(async () => {
    cloud = await startTestCloud({ database });
    host = await new FakeVolumeHost('node-1').serve(cloud.transport);
  });
  after(async () => {
    await host?.stop();
    await cloud?.close();
  });

  test('version discovery answers without a token, in Cinder shape', async () => {
    const root = await cloud.request('GET', '/volume/', { token: null });
    assert.equal(root.status, 300);
    assert.equal(root.body.versions[0].id, 'v3.0');
    assert.equal(root.body.versions[0].version, '3.60');
    const v3 = await cloud.request('GET', '/volume/v3/', { token: null });
    assert.equal(v3.status, 200);
    assert.match(v3.body.versions[0].links[1].href, /\/volume\/v3\/$/);
    const noToken = await cloud.request('GET', `${V}/volumes`, { token: null });
    assert.equal(noToken.status, 401);
  });

  test('microversions are echoed and bounded', async () => {
    const r = await cloud.request('GET', `${V}/volumes`, {
      headers: { 'openstack-api-version': 'volume 3.50' },
    });
    assert.equal(r.headers.get('openstack-api-version'), 'volume 3.50');
    const over = await cloud.request('GET', `${V}/volumes`, {
      headers: { 'openstack-api-version': 'volume 3.99' },
    });
    assert.equal(over.status, 406);
    assert.equal(over.body.notAcceptable.code, 406);
  });

  test('create is 202 creating, then available on the host; show, list and detail agree', async () => {
    const r = await cloud.request('POST', `${V}/demo/volumes`, {
      body: { volume: { size: 2, name: 'data', metadata: { a: 'b' } } },
    });
    assert.equal(r.status, 202);
    assert.equal(r.body.volume.status, 'creating');
    assert.equal(r.body.volume.volume_type, 'default');
    await drain();
    const v = await show(r.body.volume.id);
    assert.equal(v.status, 'available');
    assert.equal(v.size, 2);
    assert.equal(v.bootable, 'false');
    assert.deepEqual(v.metadata, { a: 'b' });
    assert.equal(v['os-vol-tenant-attr:tenant_id'], 'demo');
    assert.equal(v['os-vol-host-attr:host'], undefined, 'host is for admins');
    assert.equal((await show(v.id, ADMIN))['os-vol-host-attr:host'], 'node-1@berth#berth');
    assert.equal(host.volumes.get(v.id)?.size, 2);
    const list = await cloud.request('GET', `${V}/demo/volumes`, {});
    assert.ok(list.body.volumes.some((x: { id: string; name: string }) => x.id === v.id));
    assert.deepEqual(Object.keys(list.body.volumes[0]).sort(), ['id', 'links', 'name']);
    const detail = await cloud.request('GET', `${V}/volumes/detail?name=data`, {});
    assert.equal(detail.body.volumes[0].id, v.id);
  });

  test('a host failure makes the volume error, with nothing left on the host', async () => {
    host.failNext.set('create_volume', {
      exceptionClass: 'VolumeBackendAPIException',
      message: 'disk full',
    });
    const v = await create({ size: 1 });
    assert.equal((await show(v.id)).status, 'error');
    assert.equal(host.volumes.has(v.id), false);
  });

  test('bad input gets Cinder faults', async () => {
    for (const size of [0, -1, 1.5, 'x', true]) {
      const r = await cloud.request('POST', `${V}/volumes`, { body: { volume: { size } } });
      assert.equal(r.status, 400, `size ${JSON.stringify(size)}`);
      assert.equal(typeof r.body.badRequest.message, 'string');
    }
    const noBody = await cloud.request('POST', `${V}/volumes`, { body: {} });
    assert.equal(noBody.status, 400);
    const missing = await cloud.request('GET', `${V}/volumes/00000000-0000-0000-0000-000000000000`);
    assert.equal(missing.status, 404);
    assert.match(missing.body.itemNotFound.message, /could not be found/);
    const badType = await cloud.request('POST', `${V}/volumes`, {
      body: { volume: { size: 1, volume_type: 'nope' } },
    });
    assert.equal(badType.status, 404);
  });

  test('volumes are per project; all_tenants is for admins', async () => {
    const v = await create({ size: 1, name: 'mine' });
    assert.equal(
      (await cloud.request('GET', `${V}/volumes/${v.id}`, { token: OTHER })).status,
      404,
    );
    const theirs = await cloud.request('GET', `${V}/volumes?all_tenants=1`, { token: OTHER });
    assert.ok(!theirs.body.volumes.some((x: { id: string }) => x.id === v.id));
    const all = await cloud.request('GET', `${V}/volumes?all_tenants=1`, { token: ADMIN });
    assert.ok(all.body.volumes.some((x: { id: string }) => x.id === v.id));
  });

  test('update, metadata, and delete', async () => {
    const v = await create({ size: 1, name: 'old' });
    const u = await cloud.request('PUT', `${V}/volumes/${v.id}`, {
      body: { volume: { name: 'new', description: 'd' } },
    });
    assert.equal(u.status, 200);
    assert.equal(u.body.volume.name, 'new');
    const m = await cloud.request('POST', `${V}/volumes/${v.id}/metadata`, {
      body: { metadata: { k: 'v' } },
    });
    assert.deepEqual(m.body.metadata, { k: 'v' });
    const one = await cloud.request('GET', `${V}/volumes/${v.id}/metadata/k`, {});
    assert.deepEqual(one.body.meta, { k: 'v' });
    const del = await cloud.request('DELETE', `${V}/volumes/${v.id}/metadata/k`, {});
    assert.equal(del.status, 200);
    assert.equal((await cloud.request('GET', `${V}/volumes/${v.id}/metadata/k`, {})).status, 404);
    assert.equal((await cloud.request('DELETE', `${V}/volumes/${v.id}`, {})).status, 202);
    await drain();
    assert.equal((await cloud.request('GET', `${V}/volumes/${v.id}`, {})).status, 404);
    assert.equal(host.volumes.has(v.id), false);
  });

  test('delete of an in-use or busy volume is refused', async () => {
    const v = await create({ size: 1 });
    await cloud.request('POST', `${V}/volumes/${v.id}/action`, {
      token: ADMIN,
      body: { 'os-reset_status': { status: 'in-use' } },
    });
    const r = await cloud.request('DELETE', `${V}/volumes/${v.id}`, {});
    assert.equal(r.status, 400);
    assert.match(r.body.badRequest.message, /Volume status must be available or error/);
    await cloud.request('POST', `${V}/volumes/${v.id}/action`, {
      token: ADMIN,
      body: { 'os-reset_status': { status: 'available' } },
    });
    host.mounted.add(v.id);
    await cloud.request('DELETE', `${V}/volumes/${v.id}`, {});
    await drain();
    assert.equal((await show(v.id)).status, 'error_deleting');
    host.mounted.delete(v.id);
  });

  test('actions: extend grows only, reset_status is admin-only, bootable and readonly', async () => {
    const v = await create({ size: 1 });
    const action = (body: unknown, token?: string) =>
      cloud.request('POST', `${V}/volumes/${v.id}/action`, { body, token });
    assert.equal((await action({ 'os-extend': { new_size: 1 } })).status, 400);
    assert.equal((await action({ 'os-extend': { new_size: 3 } })).status, 202);
    await drain();
    assert.equal((await show(v.id)).size, 3);
    assert.equal(host.volumes.get(v.id)?.size, 3);
    assert.equal((await action({ 'os-reset_status': { status: 'error' } })).status, 403);
    assert.equal((await action({ 'os-set_bootable': { bootable: true } })).status, 200);
    assert.equal((await show(v.id)).bootable, 'true');
    assert.equal((await action({ 'os-update_readonly_flag': { readonly: true } })).status, 202);
    assert.equal((await show(v.id)).metadata.readonly, 'True');
    assert.equal((await action({ 'os-nothing': {} })).status, 400);
    host.failNext.set('extend_volume', { exceptionClass: 'InvalidVolume', message: 'no' });
    await action({ 'os-extend': { new_size: 4 } });
    await drain();
    assert.equal((await show(v.id)).status, 'error_extending');
  });

  test('quota: over the volume count or gigabytes is 413 overLimit', async () => {
    await cloud.request('PUT', `${V}/os-quota-sets/quota`, {
      token: ADMIN,
      body: { quota_set: { volumes: 1, gigabytes: 5 } },
    });
    const big = await cloud.request('POST', `${V}/volumes`, {
      token: 'q:quota',
      body: { volume: { size: 6 } },
    });
    assert.equal(big.status, 413);
    assert.match(big.body.overLimit.message, /gigabytes quota/);
    await create({ size: 1 }, 'q:quota');
    const second = await cloud.request('POST', `${V}/volumes`, {
      token: 'q:quota',
      body: { volume: { size: 1 } },
    });
    assert.equal(second.status, 413);
    const usage = await cloud.request('GET', `${V}/os-quota-sets/quota?usage=True`, {
      token: 'q:quota',
    });
    assert.deepEqual(usage.body.quota_set.volumes, {
      limit: 1,
      in_use: 1,
      reserved: 0,
      allocated: 0,
    });
    const limits = await cloud.request('GET', `${V}/limits`, { token: 'q:quota' });
    assert.equal(limits.body.limits.absolute.totalVolumesUsed, 1);
    assert.equal(limits.body.limits.absolute.maxTotalVolumeGigabytes, 5);
    const defaults = await cloud.request('GET', `${V}/os-quota-sets/quota/defaults`, {});
    assert.equal(defaults.body.quota_set.volumes, 10);
    assert.equal(
      (
        await cloud.request('PUT', `${V}/os-quota-sets/quota`, {
          body: { quota_set: { volumes: 9 } },
        })
      ).status,
      403,
    );
  });

  test('snapshots: creating then available, metadata, a volume with snapshots stays', async () => {
    const v = await create({ size: 1 });
    const s = await cloud.request('POST', `${V}/snapshots`, {
      body: { snapshot: { volume_id: v.id, name: 'snap' } },
    });
    assert.equal(s.status, 202);
    assert.equal(s.body.snapshot.status, 'creating');
    assert.equal('os-extended-snapshot-attributes:progress' in s.body.snapshot, false);
    await drain();
    const shown = await cloud.request('GET', `${V}/snapshots/${s.body.snapshot.id}`, {});
    assert.equal(shown.body.snapshot.status, 'available');
    assert.equal(shown.body.snapshot['os-extended-snapshot-attributes:progress'], '100%');
    assert.ok(host.volumes.get(v.id)?.snapshots.has(s.body.snapshot.id));
    assert.equal((await cloud.request('DELETE', `${V}/volumes/${v.id}`, {})).status, 400);
    const fromSnap = await create({ snapshot_id: s.body.snapshot.id });
    assert.equal((await show(fromSnap.id)).size, 1);
    assert.equal(host.calls.at(-1)?.args.snapshot_id, s.body.snapshot.id);
    const md = await cloud.request('PUT', `${V}/snapshots/${s.body.snapshot.id}/metadata`, {
      body: { metadata: { x: 'y' } },
    });
    assert.deepEqual(md.body.metadata, { x: 'y' });
    const list = await cloud.request('GET', `${V}/snapshots/detail?volume_id=${v.id}`, {});
    assert.equal(list.body.snapshots.length, 1);
    assert.equal(
      (await cloud.request('DELETE', `${V}/snapshots/${s.body.snapshot.id}`, {})).status,
      202,
    );
    await drain();
    assert.equal(
      (await cloud.request('GET', `${V}/snapshots/${s.body.snapshot.id}`, {})).status,
      404,
    );
    const inUse = await cloud.request('POST', `${V}/snapshots`, {
      body: { snapshot: { volume_id: '00000000-0000-0000-0000-000000000000' } },
    });
    assert.equal(inUse.status, 404);
  });

  test('types: default exists, admins create and delete, multiattach spec makes multiattach volumes', async () => {
    const list = await cloud.request('GET', `${V}/types`, {});
    assert.ok(list.body.volume_types.some((t: { name: string }) => t.name === 'default'));
    const denied = await cloud.request('POST', `${V}/types`, {
      body: { volume_type: { name: 'x' } },
    });
    assert.equal(denied.status, 403);
    const t = await cloud.request('POST', `${V}/types`, {
      token: ADMIN,
      body: { volume_type: { name: 'multi', extra_specs: { multiattach: '<is> True' } } },
    });
    assert.equal(t.status, 200);
    const v = await create({ size: 1, volume_type: 'multi' });
    assert.equal((await show(v.id)).multiattach, true);
    // Zed's Cinder still takes the deprecated request flag.
    const flagged = await create({ size: 1, multiattach: true });
    assert.equal((await show(flagged.id)).multiattach, true);
    assert.equal((await show((await create({ size: 1 })).id)).multiattach, false);
    const inUse = await cloud.request('DELETE', `${V}/types/${t.body.volume_type.id}`, {
      token: ADMIN,
    });
    assert.equal(inUse.status, 400);
    assert.equal('qos_specs_id' in t.body.volume_type, false, 'not in a create');
    const t2 = await cloud.request('POST', `${V}/types`, {
      token: ADMIN,
      body: { volume_type: { name: 'gone' } },
    });
    const put = (id: string, volume_type: unknown, token: string | undefined = ADMIN) =>
      cloud.request('PUT', `${V}/types/${id}`, { token, body: { volume_type } });
    const renamed = await put(t2.body.volume_type.id, {
      description: 'soon gone',
      is_public: false,
    });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.deepEqual(
      [renamed.body.volume_type.description, renamed.body.volume_type.is_public],
      ['soon gone', false],
    );
    assert.equal('os-volume-type-access:is_public' in renamed.body.volume_type, false);
    assert.equal((await put(t2.body.volume_type.id, { name: 'multi' })).status, 409);
    assert.equal((await put(t2.body.volume_type.id, {})).status, 400);
    const member = await cloud.request('PUT', `${V}/types/${t2.body.volume_type.id}`, {
      body: { volume_type: { name: 'x' } },
    });
    assert.equal(member.status, 403);
    assert.equal((await put('default', { name: 'other' })).status, 400);
    const del = await cloud.request('DELETE', `${V}/types/${t2.body.volume_type.id}`, {
      token: ADMIN,
    });
    assert.equal(del.status, 202);
    assert.equal(
      (await cloud.request('GET', `${V}/types/${t2.body.volume_type.id}`, {})).status,
      404,
    );
  });

  test("lists: Cinder's sort, marker, offset and limit, a next link when a page is full", async () => {
    // A project of its own: the others' volumes fill demo's quota.
    const token = 'lin:lister';
    for (const n of ['list-b', 'list-a', 'list-c']) {
      const r = await cloud.request('POST', `${V}/lister/volumes`, {
        body: { volume: { size: 1, name: n } },
        token,
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    await drain();
    const names = async (query: string) => {
      const r = await cloud.request('GET', `${V}/lister/volumes/detail?${query}`, { token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body as {
        volumes: { id: string; name: string }[];
        volumes_links?: { href: string }[];
      };
    };
    const mine = (r: { volumes: { name: string }[] }) =>
      r.volumes.map((v) => v.name).filter((n) => n.startsWith('list-'));
    assert.deepEqual(mine(await names('')), ['list-c', 'list-a', 'list-b'], 'newest first');
    assert.deepEqual(mine(await names('sort=name:asc')), ['list-a', 'list-b', 'list-c']);
    assert.deepEqual(mine(await names('sort_key=name&sort_dir=desc')), [
      'list-c',
      'list-b',
      'list-a',
    ]);
    const page = await names('sort=name:asc&name=list-a&limit=1');
    assert.deepEqual(mine(page), ['list-a']);
    const next = new URL(page.volumes_links![0].href);
    assert.equal(next.searchParams.get('marker'), page.volumes[0].id);
    assert.equal(next.searchParams.get('limit'), '1');
    const all = (await names('sort=name:asc')).volumes.map((v) => v.id);
    assert.deepEqual(
      (await names('sort=name:asc&offset=1')).volumes.map((v) => v.id),
      all.slice(1),
    );
    assert.equal((await names('sort=name:asc&limit=100')).volumes_links, undefined);
    for (const bad of ['sort=nope:asc', 'sort=name:up', 'offset=-1', 'limit=x'])
      assert.equal((await cloud.request('GET', `${V}/demo/volumes?${bad}`, {})).status, 400, bad);
    const snap = await cloud.request('POST', `${V}/snapshots`, {
      body: { snapshot: { volume_id: null } },
    });
    assert.equal(snap.status, 404);
    for (const id of all) await cloud.request('DELETE', `${V}/lister/volumes/${id}`, { token });
    await drain();
  });

  test('extensions: the ones berth serves, under Cinder’s aliases', async () => {
    const r = await cloud.request('GET', `${V}/extensions`, {});
    const aliases = r.body.extensions.map((e: { alias: string }) => e.alias);
    assert.ok(aliases.includes('os-volume-type-access'), aliases.join());
    assert.ok(!aliases.includes('backups'));
  });

  test('availability zones', async () => {
    const r = await cloud.request('GET', `${V}/os-availability-zone`, {});
    assert.deepEqual(r.body.availabilityZoneInfo, [
      { zoneName: 'nova', zoneState: { available: true } },
    ]);
  });

  test('transfers and groups: berth has none to list', async () => {
    for (const [path, key] of [
      ['os-volume-transfer', 'transfers'],
      ['os-volume-transfer/detail', 'transfers'],
      ['volume-transfers/detail', 'transfers'],
      ['groups', 'groups'],
      ['groups/detail', 'groups'],
    ]) {
      const r = await cloud.request('GET', `${V}/demo/${path}`, {});
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.body, { [key]: [] }, path);
    }
  });
});
