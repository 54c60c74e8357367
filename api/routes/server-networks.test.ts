/**
 * Servers and their ports, on a cloud of FakeDriver computes with the
 * in-memory network service: server create's `networks`, Nova's errors
 * for them, the ports' life (allocated, bound, sent as info_cache,
 * released), addresses, and os-interface.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { Vif } from '../../nova/network-model';
import { Readable } from 'node:stream';
import { TAR_HEADER } from '../../testing/api/endpoints';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import type { FakeNetwork } from '../../testing/api/fake-instance-network';
import { NeutronError } from '../network/errors';
import { FakeInstanceNetwork } from '../../testing/api/fake-instance-network';
import { waitFor } from '../../testing/wait-for';

const V237 = '2.37';

describeEachDatabase('servers and their networks', (database) => {
  let cloud: TestCloud;
  let casts: { method: string; args: Record<string, unknown> }[];
  let net: FakeNetwork;

  before(async () => {
    cloud = await startTestCloud({
      hosts: ['node-1', 'node-2'],
      database,
      config: { scheduler: { max_attempts: 2 } },
    });
    const cast = cloud.transport.cast.bind(cloud.transport);
    cloud.transport.cast = async (target, method, args, opts) => {
      casts.push({ method, args: structuredClone(args) });
      return cast(target, method, args, opts);
    };
  });
  after(() => cloud.close());
  beforeEach(() => {
    casts = [];
    cloud.instanceNetwork.networks.clear();
    cloud.instanceNetwork.ports.clear();
    net = cloud.instanceNetwork.addNetwork({
      name: 'private',
      projectId: 'demo',
      cidr: '10.9.0.0/24',
    });
  });

  const create = (server: Record<string, unknown>, version = V237, token?: string) =>
    cloud.request('POST', '/v2.1/servers', {
      token,
      version,
      body: { server: { name: 'vm', imageRef: cloud.image.id, flavorRef: '1', ...server } },
    });
  const active = async (server: Record<string, unknown>, version = V237) => {
    const r = await create(server, version);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const s = await cloud.waitForStatus(r.body.server.id, ['ACTIVE', 'ERROR']);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    return s as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const ports = (uuid: string) => cloud.instanceNetwork.portsOf(uuid);
  const instanceRows = async () =>
    Number((await cloud.api.deps.db('instances').count({ n: '*' }))[0].n);
  const buildOf = (uuid: string) =>
    casts.find(
      (c) =>
        c.method === 'build_and_run_instance' &&
        (c.args.instance as { 'nova_object.data': { uuid: string } })['nova_object.data'].uuid ===
          uuid,
    )!.args;
  const drive = (host: string) => cloud.computes.get(host)!.driver;
  const instanceData = (args: Record<string, unknown>) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the wire's JSON, read freely
    (args.instance as any)['nova_object.data'];
  const remove = async (id: string) => {
    assert.equal((await cloud.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    await cloud.waitForStatus(id, ['DELETED']);
    // The conductor releases the ports once the compute has said the instance is gone.
    await waitFor(`the ports of ${id} released`, async () => ports(id).length === 0);
  };

  test('networks [{uuid}]: a port made at create, bound to the host, sent as info_cache', async () => {
    const s = await active({ networks: [{ uuid: net.id }] });
    const [port] = ports(s.id);
    assert.ok(port, 'no port was made');
    const row = await cloud.api.deps.db('instances').where({ uuid: s.id }).first('host');
    assert.equal(port.host, row.host);
    const lifecycle = cloud.instanceNetwork.calls.filter(
      (c) => c.uuid === s.id && ['allocateForInstance', 'bindForHost'].includes(c.method),
    );
    assert.deepEqual(
      lifecycle.map((c) => c.method),
      ['allocateForInstance', 'bindForHost'],
    );
    const build = buildOf(s.id);
    const data = instanceData(build);
    // As Nova sends it: an InstanceInfoCache whose network_info is the VIF list as JSON text.
    assert.equal(data.info_cache['nova_object.name'], 'InstanceInfoCache');
    assert.equal(data.info_cache['nova_object.version'], '1.5');
    assert.equal(data.info_cache['nova_object.data'].instance_uuid, s.id);
    const vifs = JSON.parse(data.info_cache['nova_object.data'].network_info) as Vif[];
    assert.deepEqual(
      [vifs.length, vifs[0].id, vifs[0].address, vifs[0].network.meta.mtu],
      [1, port.id, port.mac, 1450],
    );
    const subnet = vifs[0].network.subnets[0];
    assert.deepEqual(
      [subnet.cidr, subnet.gateway.address, subnet.ips[0].address, subnet.dns.length],
      ['10.9.0.0/24', '10.9.0.1', port.ip, 1],
    );
    assert.deepEqual(build.security_groups, ['default']);
    const requested = build.requested_networks as { 'nova_object.data': { objects: any[] } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(requested['nova_object.data'].objects[0]['nova_object.data'].network_id, net.id);
    // The compute handed the VIF to its driver.
    assert.deepEqual(
      drive(port.host!)
        .pluggedVifs(s.id)
        .map((v) => [v.id, v.address]),
      [[port.id, port.mac]],
    );
    await remove(s.id);
    assert.deepEqual(ports(s.id), [], 'a deleted server keeps no port');
  });

  test('the addresses of server show and detail, with a floating IP at once, and /ips', async () => {
    const s = await active({ networks: [{ uuid: net.id, fixed_ip: '10.9.0.77' }] });
    const [port] = ports(s.id);
    cloud.instanceNetwork.associateFloatingIp(port.id, '203.0.113.9');
    const shown = await cloud.request('GET', `/v2.1/servers/${s.id}`);
    const expected = {
      private: [
        {
          version: 4,
          addr: '10.9.0.77',
          'OS-EXT-IPS:type': 'fixed',
          'OS-EXT-IPS-MAC:mac_addr': port.mac,
        },
        {
          version: 4,
          addr: '203.0.113.9',
          'OS-EXT-IPS:type': 'floating',
          'OS-EXT-IPS-MAC:mac_addr': port.mac,
        },
      ],
    };
    assert.deepEqual(shown.body.server.addresses, expected);
    const detail = await cloud.request('GET', '/v2.1/servers/detail');
    const listed = detail.body.servers.find((x: { id: string }) => x.id === s.id);
    assert.deepEqual(listed.addresses, expected);
    const ips = await cloud.request('GET', `/v2.1/servers/${s.id}/ips`);
    assert.deepEqual(ips.body, {
      addresses: {
        private: [
          { version: 4, addr: '10.9.0.77' },
          { version: 4, addr: '203.0.113.9' },
        ],
      },
    });
    const one = await cloud.request('GET', `/v2.1/servers/${s.id}/ips/private`);
    assert.deepEqual(one.body, { private: ips.body.addresses.private });
    const none = await cloud.request('GET', `/v2.1/servers/${s.id}/ips/public`);
    assert.equal(none.status, 404);
    assert.equal(none.body.itemNotFound.message, 'Instance is not a member of specified network');
    await remove(s.id);
  });

  test('?ip= lists the servers with a fixed address matching from its start, as Nova', async () => {
    const a = await active({ networks: [{ uuid: net.id, fixed_ip: '10.9.0.13' }] });
    const b = await active({ networks: [{ uuid: net.id, fixed_ip: '10.9.0.131' }] });
    const c = await active({ networks: [{ uuid: net.id, fixed_ip: '10.9.0.31' }] });
    const ids = async (query: string) =>
      (await cloud.request('GET', `/v2.1/servers?${query}`)).body.servers
        .map((x: { id: string }) => x.id)
        .sort();
    assert.deepEqual(await ids('ip=10.9.0.13'), [a.id, b.id].sort());
    assert.deepEqual(await ids('ip=10.9.0.131'), [b.id]);
    assert.deepEqual(await ids('ip=10%5C.9%5C.0%5C.31'), [c.id]);
    assert.deepEqual(await ids('ip6=10.9'), []);
    const bad = await cloud.request('GET', '/v2.1/servers?ip=(');
    assert.equal(bad.status, 400);
    for (const s of [a, b, c]) await remove(s.id);
  });

  test("networks 'none' makes no port; 'auto' gives a project without networks one", async () => {
    const bare = await active({ networks: 'none' });
    assert.deepEqual(ports(bare.id), []);
    assert.deepEqual(bare.addresses, {});
    const data = instanceData(buildOf(bare.id));
    assert.equal(data.info_cache['nova_object.data'].network_info, '[]');
    const auto = await active({ networks: 'auto' }, '2.37');
    assert.equal(ports(auto.id).length, 1);
    assert.deepEqual(Object.keys(auto.addresses), ['private']);
    cloud.instanceNetwork.networks.delete(net.id);
    const made = await active({ networks: 'auto' }, '2.37');
    assert.deepEqual(Object.keys(made.addresses), ['auto_allocated_network']);
    for (const s of [bare, auto, made]) await remove(s.id);
  });

  test('before 2.37 no networks means the one available network; several are ambiguous', async () => {
    const s = await active({}, '2.1');
    assert.equal(ports(s.id)[0].networkId, net.id);
    const strings = await create({ networks: 'auto' }, '2.36');
    assert.equal(strings.status, 400);
    cloud.instanceNetwork.addNetwork({ name: 'shared', projectId: 'admin', shared: true });
    const before = await instanceRows();
    const ambiguous = await create({}, '2.1');
    assert.equal(ambiguous.status, 409);
    assert.match(ambiguous.body.conflictingRequest.message, /Multiple possible networks found/);
    assert.equal(await instanceRows(), before);
    const required = await create({}, '2.37');
    assert.equal(required.status, 400);
    assert.match(required.body.badRequest.message, /'networks' is a required property/);
    await remove(s.id);
  });

  test("a user's port is claimed, and given back (not deleted) with the server", async () => {
    const mine = cloud.instanceNetwork.addPort(net);
    const s = await active({ networks: [{ port: mine.id }] });
    assert.deepEqual(
      ports(s.id).map((p) => p.id),
      [mine.id],
    );
    const taken = await create({ networks: [{ port: mine.id }] });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.conflictingRequest.message, `Port ${mine.id} is still in use.`);
    await remove(s.id);
    const kept = cloud.instanceNetwork.ports.get(mine.id);
    assert.deepEqual([kept?.deviceId, kept?.host], ['', null]);
  });

  test("Nova's errors for networks, and nothing left behind by a refused request", async () => {
    const before = await instanceRows();
    const other = cloud.instanceNetwork.addNetwork({ name: 'theirs', projectId: 'other' });
    const missing = '3f1c6a2e-0000-4000-8000-000000000001';
    const cases: [Record<string, unknown>, string, number, string | RegExp][] = [
      [
        { networks: [{ uuid: 'nope' }] },
        '2.1',
        400,
        'Bad networks format: network uuid is not in proper format (nope)',
      ],
      [{ networks: [{ uuid: 'nope' }] }, V237, 400, /Invalid input for field\/attribute uuid/],
      [{ networks: [{ uuid: missing }] }, V237, 400, `Network ${missing} could not be found.`],
      [{ networks: [{ uuid: other.id }] }, V237, 400, `Network ${other.id} could not be found.`],
      [{ networks: [{ port: missing }] }, V237, 400, `Port id ${missing} could not be found.`],
      [
        { networks: [{ port: 'x' }] },
        V237,
        400,
        /Invalid input for field\/attribute networks\.0\.port/,
      ],
      [{ networks: [{ port: missing }, { port: missing }] }, V237, 400, /was specified twice/],
      [
        { networks: [{ port: missing, fixed_ip: '10.9.0.5' }] },
        '2.1',
        400,
        /cannot be used with port/,
      ],
      [
        { networks: [{ uuid: net.id, fixed_ip: '10.9.0.5' }], max_count: 2 },
        V237,
        400,
        /max_count cannot be greater than 1/,
      ],
      [{ networks: [{ uuid: net.id, fixed_ip: 'ten' }] }, V237, 400, /fixed_ip/],
      [{ networks: [{ uuid: net.id, fixed_ip: '10.8.0.5' }] }, V237, 400, /not a valid IP/],
      [{ networks: [{ uuid: net.id, tag: 'db' }] }, V237, 400, /tag/],
      [
        { networks: [{ uuid: net.id }], security_groups: [{ name: 'web' }] },
        V237,
        400,
        'Security group web not found for project demo.',
      ],
      [{ networks: [{}] }, '2.1', 400, "Bad network format: missing 'uuid'"],
    ];
    for (const [server, version, status, message] of cases) {
      const r = await create(server, version);
      assert.equal(r.status, status, `${JSON.stringify(server)}: ${JSON.stringify(r.body)}`);
      const text = (r.body.badRequest ?? r.body.conflictingRequest).message;
      if (typeof message === 'string') assert.equal(text, message);
      else assert.match(text, message);
    }
    const s = await active({ networks: [{ uuid: net.id, fixed_ip: '10.9.0.5' }] });
    const inUse = await create({ networks: [{ uuid: net.id, fixed_ip: '10.9.0.5' }] });
    assert.equal(inUse.status, 400);
    assert.match(inUse.body.badRequest.message, /10\.9\.0\.5 already allocated/);
    await remove(s.id);
    assert.equal(await instanceRows(), before + 1, 'only the server that was made has a row');
    assert.deepEqual([...cloud.instanceNetwork.ports.values()], []);
  });

  test('ports that cannot be made after the server was accepted undo the whole request', async () => {
    const before = await instanceRows();
    cloud.instanceNetwork.failNext(
      'allocateForInstance',
      new NeutronError(409, 'IpAddressGenerationFailure', 'No more IP addresses available.'),
    );
    const r = await create({ networks: [{ uuid: net.id }], min_count: 3 });
    assert.equal(r.status, 400);
    assert.equal(
      r.body.badRequest.message,
      `No fixed IP addresses available for network: ${net.id}`,
    );
    assert.equal(await instanceRows(), before);
    // The third of three fails: the first two's ports go too.
    const tiny = cloud.instanceNetwork.addNetwork({ name: 'tiny', projectId: 'demo', poolSize: 2 });
    cloud.instanceNetwork.networks.delete(net.id);
    const three = await create({ networks: [{ uuid: tiny.id }], min_count: 3 });
    assert.equal(three.status, 400);
    assert.deepEqual([...cloud.instanceNetwork.ports.values()], []);
    assert.equal(await instanceRows(), before);
  });

  test('a build that fails everywhere leaves no port; one rescheduled is rebound', async () => {
    for (const host of cloud.computes.keys()) drive(host).failNext('spawn', new Error('no veth'));
    const r = await create({ networks: [{ uuid: net.id }] });
    const failed = await cloud.waitForStatus(r.body.server.id, ['ACTIVE', 'ERROR']);
    assert.equal(failed.status, 'ERROR');
    await waitFor(
      'the failed build to release its port',
      async () => ports(r.body.server.id).length === 0,
    );
    await remove(r.body.server.id);

    const [first] = cloud.computes.keys();
    const second = [...cloud.computes.keys()].find((h) => h !== first)!;
    const attempts: string[] = [];
    for (const host of cloud.computes.keys()) {
      const d = drive(host);
      const spawn = d.spawn.bind(d);
      d.spawn = async (spec, image) => {
        attempts.push(host);
        if (attempts.length === 1) throw new Error('no veth');
        return spawn(spec, image);
      };
    }
    const again = await active({ networks: [{ uuid: net.id }] });
    const binds = cloud.instanceNetwork.calls.filter(
      (c) => c.uuid === again.id && c.method === 'bindForHost',
    );
    assert.deepEqual(
      binds.map((b) => b.host),
      attempts,
    );
    assert.equal(attempts.length, 2);
    assert.equal(ports(again.id)[0].host, attempts[1]);
    assert.ok([first, second].includes(attempts[1]));
    for (const host of cloud.computes.keys()) delete (drive(host) as { spawn?: unknown }).spawn;
    await remove(again.id);
  });

  test('os-interface: list, show, attach a network and a port, detach', async () => {
    const s = await active({ networks: [{ uuid: net.id, tag: 'boot' }] }, '2.42');
    const host = (await cloud.api.deps.db('instances').where({ uuid: s.id }).first('host')).host;
    const path = `/v2.1/servers/${s.id}/os-interface`;
    const [boot] = ports(s.id);
    const listed = await cloud.request('GET', path);
    assert.deepEqual(listed.body, {
      interfaceAttachments: [
        {
          net_id: net.id,
          port_id: boot.id,
          mac_addr: boot.mac,
          port_state: 'DOWN',
          fixed_ips: [{ subnet_id: net.subnetId, ip_address: boot.ip }],
        },
      ],
    });
    cloud.instanceNetwork.setActive(boot.id);
    const tagged = await cloud.request('GET', `${path}/${boot.id}`, { version: '2.70' });
    assert.deepEqual(
      [tagged.body.interfaceAttachment.tag, tagged.body.interfaceAttachment.port_state],
      ['boot', 'ACTIVE'],
    );

    const second = cloud.instanceNetwork.addNetwork({
      name: 'backend',
      projectId: 'demo',
      cidr: '10.10.0.0/24',
    });
    const attached = await cloud.request('POST', path, {
      version: '2.70',
      body: {
        interfaceAttachment: {
          net_id: second.id,
          fixed_ips: [{ ip_address: '10.10.0.9' }],
          tag: 'db',
        },
      },
    });
    assert.equal(attached.status, 200, JSON.stringify(attached.body));
    const a = attached.body.interfaceAttachment;
    assert.deepEqual([a.net_id, a.fixed_ips[0].ip_address, a.tag], [second.id, '10.10.0.9', 'db']);
    assert.equal(cloud.instanceNetwork.ports.get(a.port_id)!.host, host);
    assert.deepEqual(
      drive(host)
        .pluggedVifs(s.id)
        .map((v) => v.id),
      [boot.id, a.port_id],
    );
    const mine = cloud.instanceNetwork.addPort(second);
    const byPort = await cloud.request('POST', path, {
      body: { interfaceAttachment: { port_id: mine.id } },
    });
    assert.equal(byPort.status, 200);
    const shown = await cloud.request('GET', `/v2.1/servers/${s.id}`);
    assert.deepEqual(Object.keys(shown.body.server.addresses), ['private', 'backend']);
    assert.equal(shown.body.server.addresses.backend.length, 2);

    const detach = await cloud.request('DELETE', `${path}/${a.port_id}`);
    assert.equal(detach.status, 202);
    assert.equal(
      cloud.instanceNetwork.ports.has(a.port_id),
      false,
      'the port made for the attach is deleted',
    );
    assert.deepEqual(
      drive(host)
        .pluggedVifs(s.id)
        .map((v) => v.id),
      [boot.id, mine.id],
    );
    assert.equal((await cloud.request('DELETE', `${path}/${mine.id}`)).status, 202);
    assert.equal(
      cloud.instanceNetwork.ports.get(mine.id)!.deviceId,
      '',
      "the user's port is only freed",
    );
    const gone = await cloud.request('DELETE', `${path}/${mine.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Port id ${mine.id} could not be found.`);
    const unknown = await cloud.request('GET', `${path}/${mine.id}`);
    assert.equal(unknown.status, 404);
    const actions = await cloud.request('GET', `/v2.1/servers/${s.id}/os-instance-actions`);
    assert.deepEqual(
      actions.body.instanceActions.map((x: { action: string }) => x.action).reverse(),
      ['create', 'attach_interface', 'attach_interface', 'detach_interface', 'detach_interface'],
    );
    await remove(s.id);
  });

  test("os-interface: Nova's refusals, and a compute that fails releases the port again", async () => {
    const s = await active({ networks: 'none' });
    const host = (await cloud.api.deps.db('instances').where({ uuid: s.id }).first('host')).host;
    const path = `/v2.1/servers/${s.id}/os-interface`;
    const attach = (body: unknown, version?: string) =>
      cloud.request('POST', path, { body, version });
    const missing = '3f1c6a2e-0000-4000-8000-000000000002';
    const mine = cloud.instanceNetwork.addPort(net);
    const cases: [unknown, number, string | RegExp][] = [
      [
        { interfaceAttachment: { net_id: net.id, port_id: mine.id } },
        400,
        'Must not input both network_id and port_id',
      ],
      [
        { interfaceAttachment: { port_id: mine.id, fixed_ips: [{ ip_address: '10.9.0.3' }] } },
        400,
        'Must input network_id when request IP address',
      ],
      [{ interfaceAttachment: { net_id: 'nope' } }, 400, /net_id/],
      [{ interfaceAttachment: { net_id: net.id, tag: 'x' } }, 400, /tag/],
      [{ interfaceAttachment: { net_id: missing } }, 404, `Network ${missing} could not be found.`],
      [
        { interfaceAttachment: { port_id: missing } },
        404,
        `Port id ${missing} could not be found.`,
      ],
    ];
    for (const [body, status, message] of cases) {
      const r = await attach(body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      const text = (r.body.badRequest ?? r.body.itemNotFound).message;
      if (typeof message === 'string') assert.equal(text, message);
      else assert.match(text, message);
    }
    drive(host).failNext('attachInterface', new Error('veth refused'));
    const broken = await attach({ interfaceAttachment: { net_id: net.id } });
    assert.equal(broken.status, 500);
    assert.equal(
      broken.body.computeFault.message,
      `Failed to attach network adapter device to ${s.id}`,
    );
    assert.deepEqual(ports(s.id), [], 'the port of a failed attach is released');
    const claimed = await attach({ interfaceAttachment: { port_id: mine.id } });
    assert.equal(claimed.status, 200);
    const other = await active({ networks: 'none' });
    const inUse = await cloud.request('POST', `/v2.1/servers/${other.id}/os-interface`, {
      body: { interfaceAttachment: { port_id: mine.id } },
    });
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.conflictingRequest.message, `Port ${mine.id} is still in use.`);

    const suspend = await cloud.request('POST', `/v2.1/servers/${s.id}/action`, {
      body: { suspend: null },
    });
    assert.equal(suspend.status, 202);
    await cloud.waitForStatus(s.id, ['SUSPENDED']);
    const refused = await attach({ interfaceAttachment: { net_id: net.id } });
    assert.equal(refused.status, 409);
    assert.equal(
      refused.body.conflictingRequest.message,
      `Cannot 'attach_interface' instance ${s.id} while it is in vm_state suspended`,
    );
    const noDetach = await cloud.request('DELETE', `${path}/${mine.id}`);
    assert.equal(noDetach.status, 409);
    await cloud.api.deps.db('instances').where({ uuid: other.id }).update({ locked: true });
    const locked = await cloud.request('POST', `/v2.1/servers/${other.id}/os-interface`, {
      body: { interfaceAttachment: { net_id: net.id } },
    });
    assert.equal(locked.status, 409);
    assert.equal(locked.body.conflictingRequest.message, `Instance ${other.id} is locked`);
    await cloud.api.deps.db('instances').where({ uuid: other.id }).update({ locked: false });
    cloud.instanceNetwork.addNetwork({ name: 'second', projectId: 'demo' });
    const ambiguous = await cloud.request('POST', `/v2.1/servers/${other.id}/os-interface`, {
      body: {},
    });
    assert.equal(ambiguous.status, 400);
    assert.match(ambiguous.body.badRequest.message, /Multiple possible networks found/);
    assert.deepEqual(ports(other.id), []);
    for (const x of [s, other]) await remove(x.id);
    assert.equal(cloud.instanceNetwork.ports.get(mine.id)!.deviceId, '');
  });
});

describeEachDatabase('ports of servers deleted without their compute', (database) => {
  let api: TestApi;
  const instanceNetwork = new FakeInstanceNetwork();
  before(async () => {
    api = await startTestApi({ database, instanceNetwork });
  });
  after(() => api.close());

  test('a server whose host never answered is deleted here, and its ports with it', async () => {
    const net = instanceNetwork.addNetwork({ name: 'private', projectId: 'demo' });
    const image = await api.deps.images.create({
      name: 'img',
      container_format: 'bare',
      disk_format: 'raw',
    } as never);
    await api.deps.images.upload(image.id, Readable.from([TAR_HEADER]));
    const r = await api.request('POST', '/v2.1/servers', {
      version: V237,
      body: {
        server: { name: 'vm', imageRef: image.id, flavorRef: '1', networks: [{ uuid: net.id }] },
      },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitFor('the build cast to a host nobody serves', async () =>
      instanceNetwork.portsOf(id).some((p) => p.host === 'node-1'),
    );
    assert.equal((await api.request('DELETE', `/v2.1/servers/${id}`)).status, 204);
    assert.equal((await api.request('GET', `/v2.1/servers/${id}`)).status, 404);
    assert.deepEqual(instanceNetwork.portsOf(id), []);
  });
});
