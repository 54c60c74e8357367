import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InstanceSpec } from '../../nova/instance-object';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startVolumeCloud, type TestCloud } from '../../testing/api/test-cloud';
import { FakeVolumeHost } from '../../testing/volume/fake-volume-host';
import { waitFor } from '../../testing/wait-for';
import { ApiFault } from '../faults';
import { parseBlockDevices, type BlockDeviceRequest } from './block-devices';

describe('parseBlockDevices', () => {
  const refused = (list: BlockDeviceRequest[], why: RegExp) =>
    assert.throws(
      () => parseBlockDevices(list),
      (err: unknown) => err instanceof ApiFault && err.status === 400 && why.test(err.message),
      JSON.stringify(list),
    );

  test('takes the image root, existing volumes and blank ones', () => {
    assert.deepEqual(
      parseBlockDevices([
        { source_type: 'image', destination_type: 'local', boot_index: '0', uuid: 'img' },
        { source_type: 'volume', uuid: 'vol', device_name: 'vdc', boot_index: -1 },
        {
          source_type: 'blank',
          destination_type: 'volume',
          volume_size: 2,
          delete_on_termination: true,
          tag: 't',
        },
      ]),
      {
        imageId: 'img',
        volumes: [
          { volumeId: 'vol', device: '/dev/vdc', tag: undefined, deleteOnTermination: false },
          {
            size: 2,
            volumeType: undefined,
            device: undefined,
            tag: 't',
            deleteOnTermination: true,
          },
        ],
      },
    );
    assert.deepEqual(parseBlockDevices(undefined), { volumes: [] });
  });

  test('a root volume: an existing one, or one made from an image with a size', () => {
    assert.deepEqual(parseBlockDevices([{ source_type: 'volume', uuid: 'v', boot_index: 0 }]), {
      volumes: [
        {
          root: true,
          volumeId: 'v',
          device: '/dev/vda',
          tag: undefined,
          deleteOnTermination: false,
        },
      ],
    });
    const fromImage = parseBlockDevices([
      {
        source_type: 'image',
        destination_type: 'volume',
        uuid: 'i',
        boot_index: '0',
        volume_size: 2,
        delete_on_termination: true,
      },
    ]);
    assert.deepEqual(fromImage.volumes[0], {
      root: true,
      imageId: 'i',
      size: 2,
      volumeType: undefined,
      device: '/dev/vda',
      tag: undefined,
      deleteOnTermination: true,
    });
  });

  test('refuses what a container cannot have', () => {
    refused(
      [{ source_type: 'image', destination_type: 'volume', uuid: 'i', boot_index: 0 }],
      /non-zero size/,
    );
    refused(
      [{ source_type: 'blank', destination_type: 'volume', volume_size: 1, boot_index: 0 }],
      /not from nothing/,
    );
    refused(
      [
        { source_type: 'volume', uuid: 'a', boot_index: 0 },
        { source_type: 'image', destination_type: 'local', uuid: 'i', boot_index: 0 },
      ],
      /Boot sequence/,
    );
    refused(
      [{ source_type: 'image', destination_type: 'volume', uuid: 'i' }],
      /from an image at server create are not supported/,
    );
    refused([{ source_type: 'snapshot', destination_type: 'volume', uuid: 's' }], /snapshot/);
    refused([{ source_type: 'blank', destination_type: 'local', volume_size: 1 }], /ephemeral/);
    refused([{ source_type: 'blank', destination_type: 'volume' }], /volume_size/);
    refused([{ source_type: 'volume' }], /needs the volume uuid/);
    refused([{ source_type: 'volume', uuid: 'v', boot_index: 1 }], /Boot sequence/);
    refused(
      [
        { source_type: 'volume', uuid: 'a', device_name: '/dev/vdb' },
        { source_type: 'volume', uuid: 'b', device_name: 'vdb' },
      ],
      /same device_name/,
    );
  });
});

describeEachDatabase('block_device_mapping_v2 at server create', (database) => {
  let cloud: TestCloud;
  let volumeHost: FakeVolumeHost;

  const volume = async (name: string) => {
    const r = await cloud.request('POST', '/volume/v3/demo/volumes', {
      body: { volume: { size: 1, name } },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await cloud.api.deps.volumes.drain();
    return r.body.volume.id as string;
  };
  const cinder = async (id: string) =>
    (await cloud.request('GET', `/volume/v3/demo/volumes/${id}`)).body.volume;
  const create = (server: Record<string, unknown>) =>
    cloud.request('POST', '/v2.1/servers', {
      version: '2.67',
      body: { server: { name: 'vm', flavorRef: '1', networks: 'none', ...server } },
    });

  before(async () => {
    ({ cloud, volumeHost } = await startVolumeCloud({ database }));
  });
  after(async () => {
    await volumeHost?.stop();
    await cloud?.close();
  });

  test('an existing and a blank volume are mounted at spawn, and end as asked with the server', async () => {
    const data = await volume('data');
    const r = await create({
      imageRef: '',
      block_device_mapping_v2: [
        { source_type: 'image', destination_type: 'local', boot_index: 0, uuid: cloud.image.id },
        { source_type: 'volume', destination_type: 'volume', uuid: data, device_name: 'vdb' },
        {
          source_type: 'blank',
          destination_type: 'volume',
          volume_size: 1,
          delete_on_termination: true,
          tag: 'scratch',
        },
      ],
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    const server = await cloud.waitForStatus(id, ['ACTIVE', 'ERROR']);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault));

    const attachments = await cloud.request('GET', `/v2.1/servers/${id}/os-volume_attachments`, {
      version: '2.79',
    });
    const [first, second] = attachments.body.volumeAttachments;
    assert.deepEqual(
      { ...first, id: undefined },
      {
        id: undefined,
        volumeId: data,
        serverId: id,
        device: '/dev/vdb',
        tag: null,
        delete_on_termination: false,
      },
    );
    assert.equal(second.device, '/dev/vdc');
    assert.equal(second.tag, 'scratch');
    assert.equal(second.delete_on_termination, true);
    const blank = second.volumeId as string;
    assert.equal((await cinder(data)).status, 'in-use');
    assert.equal((await cinder(blank)).status, 'in-use');
    assert.equal((await cinder(blank)).name, `${id}-blank-vol`);
    assert.ok(volumeHost.volumes.has(blank), 'the blank volume was made on the host');

    const driver = cloud.computes.get('node-1')!.driver;
    const mounted = await driver.volumeAttachments({ uuid: id } as InstanceSpec);
    assert.deepEqual(
      mounted.map((m) => m.mountPoint),
      ['/mnt/data', `/mnt/${id}-blank-vol`],
    );

    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await waitFor('data released', async () => (await cinder(data)).status === 'available');
    await waitFor(
      'the delete_on_termination volume deleted',
      async () => (await cloud.request('GET', `/volume/v3/demo/volumes/${blank}`)).status === 404,
    );
  });

  test('a blank volume the host cannot make fails the build and is deleted again', async () => {
    volumeHost.failNext.set('create_volume', {
      exceptionClass: 'VolumeBackendAPIException',
      message: 'no space on the volume host',
    });
    const r = await create({
      imageRef: cloud.image.id,
      block_device_mapping_v2: [
        { source_type: 'blank', destination_type: 'volume', volume_size: 1 },
      ],
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    const server = await cloud.waitForStatus(id, ['ACTIVE', 'ERROR']);
    assert.equal(server.status, 'ERROR');
    assert.match((server.fault as { message: string }).message, /no space on the volume host/);
    const left = (await cloud.request('GET', '/volume/v3/demo/volumes/detail')).body.volumes;
    assert.deepEqual(
      left.filter((v: { name: string }) => v.name === `${id}-blank-vol`),
      [],
      'no errored volume left behind',
    );
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
  });

  test('bad mappings are refused with nothing made or reserved', async () => {
    const data = await volume('held');
    const before = (await cloud.request('GET', '/v2.1/servers')).body.servers.length;
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { block_device_mapping_v2: [{ source_type: 'volume', uuid: 'f00d' }] },
        /failed to get volume f00d/,
      ],
      [
        { min_count: 2, block_device_mapping_v2: [{ source_type: 'volume', uuid: data }] },
        /multiple instances/,
      ],
      [
        { block_device_mapping_v2: [{ source_type: 'volume', uuid: data, boot_index: 0 }] },
        /is not bootable/,
      ],
      [{ imageRef: '' }, /Missing imageRef/],
      [{ block_device_mapping_v2: [{ source_type: 'volume', what: 1 }] }, /what/],
    ];
    for (const [server, message] of cases) {
      const r = await create({ imageRef: cloud.image.id, ...server });
      assert.equal(r.status, 400, JSON.stringify(server));
      assert.match(r.body.badRequest.message, message);
    }
    assert.equal((await cinder(data)).status, 'available');
    assert.equal((await cloud.request('GET', '/v2.1/servers')).body.servers.length, before);

    // A volume already reserved for another server is not available.
    const first = await create({
      imageRef: cloud.image.id,
      block_device_mapping_v2: [{ source_type: 'volume', uuid: data }],
    });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const again = await create({
      imageRef: cloud.image.id,
      block_device_mapping_v2: [{ source_type: 'volume', uuid: data }],
    });
    assert.equal(again.status, 400);
    assert.match(again.body.badRequest.message, /status must be 'available'/);
    await cloud.waitForStatus(first.body.server.id, ['ACTIVE']);
    await cloud.request('DELETE', `/v2.1/servers/${first.body.server.id}`);
    await waitFor('released', async () => (await cinder(data)).status === 'available');
  });

  test('boot from volume: a new root volume from the image, or an existing bootable one', async () => {
    const r = await create({
      imageRef: '',
      block_device_mapping_v2: [
        {
          source_type: 'image',
          destination_type: 'volume',
          uuid: cloud.image.id,
          boot_index: 0,
          volume_size: 1,
          delete_on_termination: true,
        },
      ],
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    const server = await cloud.waitForStatus(id, ['ACTIVE', 'ERROR']);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault));
    assert.equal(server.image, '', 'a volume-backed server shows no image, as Nova');
    const [root] = (
      await cloud.request('GET', `/v2.1/servers/${id}/os-volume_attachments`, { version: '2.79' })
    ).body.volumeAttachments;
    assert.equal(root.device, '/dev/vda');
    const made = await cinder(root.volumeId);
    assert.deepEqual(
      [made.status, made.bootable, made.name, made.volume_image_metadata.image_id],
      ['in-use', 'true', `${id}-root-vol`, cloud.image.id],
    );
    // Rebuilt in place on its own image; another image is refused, as Nova before 2.93.
    const rebuild = (imageRef: string) =>
      cloud.request('POST', `/v2.1/servers/${id}/action`, { body: { rebuild: { imageRef } } });
    assert.equal((await rebuild(cloud.image.id)).status, 202);
    const rebuilt = await cloud.waitForStatus(id, ['ACTIVE', 'ERROR']);
    assert.deepEqual([rebuilt.status, rebuilt.image], ['ACTIVE', '']);
    const detach = await cloud.request(
      'DELETE',
      `/v2.1/servers/${id}/os-volume_attachments/${root.volumeId}`,
    );
    assert.equal(detach.status, 400);
    assert.match(detach.body.badRequest.message, /root device volume/);
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await waitFor(
      'the root volume deleted with the server',
      async () =>
        (await cloud.request('GET', `/volume/v3/demo/volumes/${root.volumeId}`)).status === 404,
    );

    // Cinder's create from imageRef makes a bootable volume; a server boots from it and leaves it.
    const bad = await cloud.request('POST', '/volume/v3/demo/volumes', {
      body: { volume: { size: 1, imageRef: 'f00d' } },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /Invalid image identifier/);
    const v = await cloud.request('POST', '/volume/v3/demo/volumes', {
      body: { volume: { size: 1, name: 'bootable', imageRef: cloud.image.id } },
    });
    assert.equal(v.status, 202, JSON.stringify(v.body));
    await cloud.api.deps.volumes.drain();
    const bootable = v.body.volume.id as string;
    assert.equal(v.body.volume.volume_image_metadata, undefined, 'shown, not in the create answer');
    assert.equal((await cinder(bootable)).bootable, 'true');
    assert.equal((await cinder(bootable)).volume_image_metadata.image_id, cloud.image.id);
    const again = await create({
      block_device_mapping_v2: [{ source_type: 'volume', uuid: bootable, boot_index: 0 }],
    });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    const second = again.body.server.id as string;
    assert.equal((await cloud.waitForStatus(second, ['ACTIVE', 'ERROR'])).status, 'ACTIVE');
    assert.equal((await cinder(bootable)).status, 'in-use');
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${second}`)).status, 204);
    await waitFor('kept and released', async () => (await cinder(bootable)).status === 'available');
  });

  test('shelve keeps a volume-backed server on its volumes: offloaded with no snapshot, back on their host', async () => {
    const data = await volume('kept');
    const r = await create({
      imageRef: '',
      block_device_mapping_v2: [
        {
          source_type: 'image',
          destination_type: 'volume',
          uuid: cloud.image.id,
          boot_index: 0,
          volume_size: 1,
          delete_on_termination: true,
        },
        { source_type: 'volume', destination_type: 'volume', uuid: data },
      ],
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    assert.equal((await cloud.waitForStatus(id, ['ACTIVE', 'ERROR'])).status, 'ACTIVE');
    const images = (await cloud.api.deps.images.list()).length;
    const action = (body: unknown) => cloud.request('POST', `/v2.1/servers/${id}/action`, { body });
    assert.equal((await action({ shelve: null })).status, 202);
    await cloud.waitForStatus(id, ['SHELVED_OFFLOADED']);
    assert.equal((await cloud.api.deps.images.list()).length, images, 'no snapshot is taken');
    const driver = cloud.computes.get('node-1')!.driver;
    assert.deepEqual(await driver.listInstanceUuids(), []);
    // The volumes stay attached to the shelved server, as in Nova.
    assert.equal((await cinder(data)).status, 'in-use');
    // Volumes attached and detached while it is offloaded change only the records.
    const attachments = `/v2.1/servers/${id}/os-volume_attachments`;
    const late = await volume('late');
    const brief = await volume('brief');
    for (const v of [late, brief]) {
      const a = await cloud.request('POST', attachments, {
        body: { volumeAttachment: { volumeId: v } },
      });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.match(a.body.volumeAttachment.device, /^\/dev\/vd[a-z]$/);
      assert.equal((await cinder(v)).status, 'in-use');
    }
    assert.equal((await cloud.request('DELETE', `${attachments}/${brief}`)).status, 202);
    assert.equal((await cinder(brief)).status, 'available');
    assert.equal((await action({ unshelve: null })).status, 202);
    assert.equal((await cloud.waitForStatus(id, ['ACTIVE', 'ERROR'])).status, 'ACTIVE');
    const mounted = await driver.volumeAttachments({ uuid: id } as InstanceSpec);
    assert.deepEqual(mounted.map((m) => m.mountPoint).sort(), ['/mnt/kept', '/mnt/late']);
    assert.equal(driver.writableLayerOf(id), undefined, 'its root layer is its volume');
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await waitFor('data released', async () => (await cinder(data)).status === 'available');
    await waitFor('late released', async () => (await cinder(late)).status === 'available');
  });
});
