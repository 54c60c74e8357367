import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NotFoundError } from '../../common/errors';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { waitFor } from '../../testing/wait-for';
import { getInstance } from '../db/instances';

const ADMIN = 'admin:admin';

describeEachDatabase('shelve, shelveOffload and unshelve on FakeDriver computes', (database) => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ database });
    // The project's one network: each server gets a port on it.
    cloud.instanceNetwork.addNetwork({
      name: 'shelf-net',
      projectId: 'demo',
      cidr: '10.20.0.0/24',
    });
  });
  after(() => cloud?.close());

  const boot = async (name: string) => {
    const r = await cloud.request('POST', '/v2.1/servers', {
      body: { server: { name, imageRef: cloud.image.id, flavorRef: '1' } },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await cloud.waitForStatus(r.body.server.id, ['ACTIVE']);
    return r.body.server.id as string;
  };
  const action = (id: string, body: unknown, o: { version?: string; token?: string } = {}) =>
    cloud.request('POST', `/v2.1/servers/${id}/action`, { body, ...o });
  const admin = async (id: string) =>
    (await cloud.request('GET', `/v2.1/servers/${id}`, { token: ADMIN })).body.server;
  const shelvedImages = async (name: string) =>
    (await cloud.api.deps.images.list()).filter((i) => i.name === `${name}-shelved`);
  const onHosts = async (id: string) => {
    const found: string[] = [];
    for (const [host, { driver }] of cloud.computes)
      if ((await driver.listInstanceUuids()).includes(id)) found.push(host);
    return found;
  };
  const allocations = async (id: string) =>
    (await cloud.api.deps.db('allocations').where({ instance_uuid: id })).length;

  test('shelve snapshots and offloads; unshelve spawns on the snapshot and deletes it', async () => {
    const id = await boot('sv');
    const host = (await admin(id))['OS-EXT-SRV-ATTR:host'];
    assert.equal((await action(id, { shelve: null })).status, 202);
    await cloud.waitForStatus(id, ['SHELVED_OFFLOADED']);
    const shelved = await admin(id);
    assert.equal(shelved['OS-EXT-SRV-ATTR:host'], null);
    assert.equal(shelved['OS-EXT-STS:task_state'], null);
    assert.equal(shelved['OS-EXT-STS:vm_state'], 'shelved_offloaded');
    assert.deepEqual(await onHosts(id), [], 'the container is gone from its host');
    assert.equal(await allocations(id), 0, "the host's resources are released");
    const ports = () => cloud.instanceNetwork.portsOf(id).map((p) => p.host);
    assert.ok(ports().length, 'the server keeps its ports');
    assert.deepEqual(new Set(ports()), new Set(['']), 'bound to no host');
    const [image] = await shelvedImages('sv');
    assert.ok(image, 'the sv-shelved image exists');
    assert.equal(image.status, 'active');
    assert.equal(image.properties.instance_uuid, id);

    // Nova's conflicts: shelving again, an admin's offload of one offloaded already.
    assert.equal((await action(id, { shelve: null })).status, 409);
    assert.equal((await action(id, { shelveOffload: null }, { token: ADMIN })).status, 409);

    assert.equal((await action(id, { unshelve: null })).status, 202);
    await cloud.waitForStatus(id, ['ACTIVE']);
    const back = await admin(id);
    assert.ok(back['OS-EXT-SRV-ATTR:host']);
    assert.deepEqual(new Set(ports()), new Set([back['OS-EXT-SRV-ATTR:host']]));
    assert.equal(back.image.id, cloud.image.id, 'the server still names the image it booted');
    const [now] = await onHosts(id);
    assert.equal(now, back['OS-EXT-SRV-ATTR:host']);
    const driver = cloud.computes.get(now)!.driver;
    assert.equal(driver.imageOf(id), cloud.image.id, 'spawned on its own image');
    assert.equal(driver.writableLayerOf(id), image.id, 'with the snapshot as its writable layer');
    assert.equal(await allocations(id), 1);
    await waitFor('the shelved image to be deleted', async () =>
      cloud.api.deps.images.show(image.id).then(
        () => undefined,
        (err: unknown) => err instanceof NotFoundError || undefined,
      ),
    );
    const actions = await cloud.request('GET', `/v2.1/servers/${id}/os-instance-actions`);
    assert.deepEqual(
      actions.body.instanceActions.map((a: { action: string }) => a.action).slice(0, 2),
      ['unshelve', 'shelve'],
    );
    assert.ok(host);
  });

  test('a paused server shelves; deleting a shelved server deletes its snapshot', async () => {
    const id = await boot('sp');
    assert.equal((await action(id, { pause: null })).status, 202);
    await cloud.waitForStatus(id, ['PAUSED']);
    assert.equal((await action(id, { shelve: null })).status, 202);
    await cloud.waitForStatus(id, ['SHELVED_OFFLOADED']);
    const [image] = await shelvedImages('sp');
    assert.ok(image);
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await waitFor('the server to be gone', async () =>
      (await cloud.request('GET', `/v2.1/servers/${id}`)).status === 404 ? true : undefined,
    );
    await assert.rejects(cloud.api.deps.images.show(image.id), NotFoundError);
  });

  test('bad requests: unknown server, wrong states, bodies, policy', async () => {
    const unknown = '7b4f5e2a-0000-4000-8000-000000000000';
    // Nova reads no shelve body (Tempest sends `{}`), nor an unshelve one before 2.77.
    for (const body of [{ shelve: null }, { shelve: {} }, { unshelve: null }])
      assert.equal((await action(unknown, body)).status, 404);
    const id = await boot('sb');
    assert.equal((await action(id, { unshelve: null })).status, 409, 'an active server');
    assert.equal((await action(id, { unshelve: { availability_zone: 'nova' } })).status, 409);
    assert.equal(
      (await action(id, { unshelve: { availability_zone: 1 } }, { version: '2.77' })).status,
      400,
    );
    assert.equal((await action(id, { shelveOffload: null })).status, 403);
    assert.equal(
      (await action(id, { shelveOffload: null }, { token: ADMIN })).status,
      409,
      'only a shelved server is offloaded',
    );
    // Locked: only an admin shelves it.
    assert.equal((await action(id, { lock: null })).status, 202);
    assert.equal((await action(id, { shelve: null }, { token: 'alice:demo' })).status, 409);
    assert.equal((await action(id, { unlock: null })).status, 202);
    // A failed snapshot leaves the server as it was, with no image behind.
    const host = (await admin(id))['OS-EXT-SRV-ATTR:host'];
    cloud.computes.get(host)!.driver.failNext('snapshot', new Error('disk full'));
    assert.equal((await action(id, { shelve: null })).status, 202);
    const failed = await waitFor('the shelve to fail', async () => {
      const i = await getInstance(cloud.api.deps.db, id);
      return i?.task_state === null && i.fault ? i : undefined;
    });
    assert.equal(failed.vm_state, 'active');
    assert.match(failed.fault!.message, /disk full/);
    await waitFor('the failed snapshot to be deleted', async () =>
      (await shelvedImages('sb')).length === 0 ? true : undefined,
    );
    // Unshelve at 2.77 into a zone.
    assert.equal((await action(id, { shelve: null })).status, 202);
    await cloud.waitForStatus(id, ['SHELVED_OFFLOADED']);
    const into = await action(id, { unshelve: { availability_zone: 'nova' } }, { version: '2.77' });
    assert.equal(into.status, 202, JSON.stringify(into.body));
    await cloud.waitForStatus(id, ['ACTIVE']);
  });
});
