import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';
const ADMIN = 'admin:admin';

describeEachDatabase('os-security-groups and os-security-group-rules', (database) => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  const create = (name: string, description = 'd', token?: string) =>
    api.request('POST', '/v2.1/os-security-groups', {
      body: { security_group: { name, description } },
      token,
    });
  const addRule = (rule: Record<string, unknown>) =>
    api.request('POST', '/v2.1/os-security-group-rules', { body: { security_group_rule: rule } });

  it('creates, shows, lists, updates and deletes a group in Nova shape', async () => {
    const c = await create('web', 'web servers');
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const g = c.body.security_group;
    assert.deepEqual(Object.keys(g).sort(), ['description', 'id', 'name', 'rules', 'tenant_id']);
    assert.equal(g.name, 'web');
    assert.equal(g.tenant_id, 'demo');
    // Neutron's two egress rules are not Nova's: only ingress rules show.
    assert.deepEqual(g.rules, []);
    const shown = await api.request('GET', `/v2.1/os-security-groups/${g.id}`);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.security_group, g);
    const list = await api.request('GET', '/v2.1/os-security-groups');
    const names = list.body.security_groups.map((x: { name: string }) => x.name).sort();
    assert.deepEqual(names, ['default', 'web']);
    const def = list.body.security_groups.find((x: { name: string }) => x.name === 'default');
    // The default group's ingress rules are from its own members.
    assert.deepEqual(
      def.rules.map((r: { group: unknown; ip_range: unknown }) => [r.group, r.ip_range]),
      [
        [{ name: 'default', tenant_id: 'demo' }, {}],
        [{ name: 'default', tenant_id: 'demo' }, {}],
      ],
    );
    const u = await api.request('PUT', `/v2.1/os-security-groups/${g.id}`, {
      body: { security_group: { name: 'web2', description: 'new' } },
    });
    assert.equal(u.status, 200, JSON.stringify(u.body));
    assert.equal(u.body.security_group.name, 'web2');
    assert.equal(u.body.security_group.description, 'new');
    const d = await api.request('DELETE', `/v2.1/os-security-groups/${g.id}`);
    assert.equal(d.status, 202);
    const gone = await api.request('GET', `/v2.1/os-security-groups/${g.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Security group ${g.id} not found.`);
  });

  it('refuses bad bodies and ids with 400 as Nova does', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /can't be empty/],
      [{ foo: 1 }, /Missing parameter security_group/],
      [{ security_group: { description: 'd' } }, /name is not a string/],
      [{ security_group: { name: '  ', description: 'd' } }, /minimum character requirement/],
      [{ security_group: { name: 'x', description: '' } }, /minimum character requirement/],
      [{ security_group: { name: 'x'.repeat(256), description: 'd' } }, /more than 255/],
    ];
    for (const [body, message] of cases) {
      const r = await api.request('POST', '/v2.1/os-security-groups', { body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.badRequest.message, message);
    }
    const bad = await api.request('GET', '/v2.1/os-security-groups/not-a-uuid');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'Security group id should be uuid');
  });

  it("hides another project's groups; admins list them with all_tenants", async () => {
    const g = (await create('private')).body.security_group;
    assert.equal(
      (await api.request('GET', `/v2.1/os-security-groups/${g.id}`, { token: OTHER })).status,
      404,
    );
    const del = await api.request('DELETE', `/v2.1/os-security-groups/${g.id}`, { token: OTHER });
    assert.equal(del.status, 404);
    const theirs = await api.request('GET', '/v2.1/os-security-groups', { token: OTHER });
    assert.ok(!theirs.body.security_groups.some((x: { id: string }) => x.id === g.id));
    const ids = async (path: string) =>
      (await api.request('GET', path, { token: ADMIN })).body.security_groups.map(
        (x: { id: string }) => x.id,
      );
    assert.ok(!(await ids('/v2.1/os-security-groups')).includes(g.id));
    assert.ok((await ids('/v2.1/os-security-groups?all_tenants=1')).includes(g.id));
  });

  it('the default group cannot be deleted, nor one a port uses: 400', async () => {
    const list = await api.request('GET', '/v2.1/os-security-groups');
    const def = list.body.security_groups.find((x: { name: string }) => x.name === 'default');
    const r = await api.request('DELETE', `/v2.1/os-security-groups/${def.id}`);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    const g = (await create('used')).body.security_group;
    const net = await api.request('POST', '/network/v2.0/networks', {
      body: { network: { name: 'sg-net' } },
    });
    const port = await api.request('POST', '/network/v2.0/ports', {
      body: { port: { network_id: net.body.network.id, security_groups: [g.id] } },
    });
    assert.equal(port.status, 201, JSON.stringify(port.body));
    const inUse = await api.request('DELETE', `/v2.1/os-security-groups/${g.id}`);
    assert.equal(inUse.status, 400);
    assert.match(inUse.body.badRequest.message, /in use/);
    const name = await create('default');
    assert.equal(name.status, 403, JSON.stringify(name.body));
  });

  it('a name is checked stripped but kept as given, as Nova does', async () => {
    const padded = await create(' padded ', ' d ');
    assert.equal(padded.status, 200, JSON.stringify(padded.body));
    assert.equal(padded.body.security_group.name, ' padded ');
    assert.equal((await create('   ')).status, 400);
    await api.request('DELETE', `/v2.1/os-security-groups/${padded.body.security_group.id}`);
  });

  it('adds and deletes rules: CIDR and group rules, Nova port checks', async () => {
    const g = (await create('rules')).body.security_group;
    const src = (await create('src')).body.security_group;
    const ssh = await addRule({
      parent_group_id: g.id,
      ip_protocol: 'tcp',
      from_port: 22,
      to_port: 22,
      cidr: '10.0.0.0/8',
    });
    assert.equal(ssh.status, 200, JSON.stringify(ssh.body));
    assert.deepEqual(
      { ...ssh.body.security_group_rule, id: undefined },
      {
        id: undefined,
        parent_group_id: g.id,
        ip_protocol: 'tcp',
        from_port: 22,
        to_port: 22,
        group: {},
        ip_range: { cidr: '10.0.0.0/8' },
      },
    );
    const icmp = await addRule({
      parent_group_id: g.id,
      ip_protocol: 'icmp',
      from_port: -1,
      to_port: -1,
      group_id: src.id,
    });
    assert.equal(icmp.status, 200, JSON.stringify(icmp.body));
    assert.deepEqual(icmp.body.security_group_rule.group, { name: 'src', tenant_id: 'demo' });
    assert.equal(icmp.body.security_group_rule.from_port, -1);
    const shown = (await api.request('GET', `/v2.1/os-security-groups/${g.id}`)).body
      .security_group;
    assert.equal(shown.rules.length, 2);
    const again = await addRule({
      parent_group_id: g.id,
      ip_protocol: 'tcp',
      from_port: 22,
      to_port: 22,
      cidr: '10.0.0.0/8',
    });
    assert.equal(again.status, 400, JSON.stringify(again.body));
    assert.match(again.body.badRequest.message, /already exists in group/);
    const refusals: [Record<string, unknown>, number, RegExp][] = [
      [{ parent_group_id: 'x' }, 400, /should be uuid/],
      [{ parent_group_id: randomUUID() }, 404, /not found/],
      [{ parent_group_id: g.id, cidr: '10.0.0.0/8' }, 400, /Not enough parameters/],
      [
        { parent_group_id: g.id, ip_protocol: 'gre', from_port: 1, to_port: 2 },
        400,
        /Invalid IP protocol gre/,
      ],
      [
        { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 9, to_port: 1 },
        400,
        /Former value/,
      ],
      [{ parent_group_id: g.id, ip_protocol: 'udp', from_port: 0, to_port: 1 }, 400, /1-65535/],
      [
        { parent_group_id: g.id, ip_protocol: 'icmp', from_port: 256, to_port: 1 },
        400,
        /type:code/,
      ],
      [
        { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 'a', to_port: 1 },
        400,
        /must be integers/,
      ],
      [
        { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 1, to_port: 2, cidr: 'nope' },
        400,
        /nope/,
      ],
      [
        {
          parent_group_id: g.id,
          ip_protocol: 'tcp',
          from_port: 1,
          to_port: 2,
          group_id: randomUUID(),
        },
        404,
        /not found/,
      ],
    ];
    for (const [rule, status, message] of refusals) {
      const r = await addRule(rule);
      assert.equal(r.status, status, `${JSON.stringify(rule)}: ${JSON.stringify(r.body)}`);
      assert.match(JSON.stringify(r.body), message);
    }
    const id = ssh.body.security_group_rule.id;
    const other = await api.request('DELETE', `/v2.1/os-security-group-rules/${id}`, {
      token: OTHER,
    });
    assert.equal(other.status, 404);
    assert.equal((await api.request('DELETE', `/v2.1/os-security-group-rules/${id}`)).status, 202);
    assert.equal((await api.request('DELETE', `/v2.1/os-security-group-rules/${id}`)).status, 404);
  });

  it('is gone from microversion 2.36', async () => {
    for (const path of ['/v2.1/os-security-groups', '/v2.1/os-security-group-rules']) {
      const r = await api.request('POST', path, { version: '2.36', body: {} });
      assert.equal(r.status, 404, path);
    }
    const list = await api.request('GET', '/v2.1/os-security-groups', { version: '2.35' });
    assert.equal(list.status, 200);
  });
});
