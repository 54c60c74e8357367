import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

const OTHER = 'alice:other';

describeEachDatabase('network API: security groups and rules', (database) => {
  let api: TestApi;
  const post = (path: string, body: unknown, token?: string) =>
    api.request('POST', `/network/v2.0/${path}`, { body, token });
  before(async () => {
    api = await startTestApi({ database });
  });
  after(() => api.close());

  it('gives a project its default group on its first request, with Neutron’s four rules', async () => {
    const r = await api.request(
      'GET',
      '/network/v2.0/security-groups?fields=id&fields=name&fields=description&fields=project_id&fields=tags',
      { token: OTHER },
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.security_groups.length, 1);
    const g = r.body.security_groups[0];
    assert.deepEqual(Object.keys(g).sort(), ['description', 'id', 'name', 'project_id', 'tags']);
    assert.equal(g.name, 'default');
    assert.equal(g.description, 'Default security group');
    const full = (
      await api.request('GET', `/network/v2.0/security-groups/${g.id}`, { token: OTHER })
    ).body.security_group;
    const rules = full.security_group_rules.map((x: Record<string, unknown>) => [
      x.direction,
      x.ethertype,
      x.remote_group_id,
      x.protocol,
      x.remote_ip_prefix,
    ]);
    assert.deepEqual(rules.sort(), [
      ['egress', 'IPv4', null, null, null],
      ['egress', 'IPv6', null, null, null],
      ['ingress', 'IPv4', g.id, null, null],
      ['ingress', 'IPv6', g.id, null, null],
    ]);
    assert.equal(full.stateful, true);
    assert.equal(full.revision_number, 1);
    // Again: still one default group.
    const again = await api.request('GET', '/network/v2.0/security-groups', { token: OTHER });
    assert.equal(again.body.security_groups.length, 1);
    const del = await api.request('DELETE', `/network/v2.0/security-groups/${g.id}`, {
      token: OTHER,
    });
    assert.equal(del.status, 409);
    assert.equal(del.body.NeutronError.type, 'SecurityGroupCannotRemoveDefault');
  });

  it('creates a group with the two egress rules and rules as OSC sends them; duplicates are 409', async () => {
    const g = (
      await post('security-groups', {
        security_group: { name: 'web', description: 'berth test group' },
      })
    ).body.security_group;
    assert.equal(g.security_group_rules.length, 2);
    const tcp = await post('security-group-rules', {
      security_group_rule: {
        direction: 'ingress',
        port_range_min: 22,
        ethertype: 'IPv4',
        port_range_max: 22,
        remote_ip_prefix: '0.0.0.0/0',
        protocol: 'tcp',
        security_group_id: g.id,
      },
    });
    assert.equal(tcp.status, 201, JSON.stringify(tcp.body));
    assert.equal(tcp.body.security_group_rule.normalized_cidr, '0.0.0.0/0');
    assert.equal(tcp.body.security_group_rule.description, '');
    assert.equal(tcp.body.security_group_rule.revision_number, 0);
    const dup = await post('security-group-rules', {
      security_group_rule: {
        direction: 'ingress',
        port_range_min: 22,
        port_range_max: 22,
        protocol: 'tcp',
        security_group_id: g.id,
      },
    });
    assert.equal(dup.status, 409);
    assert.deepEqual(dup.body.NeutronError, {
      type: 'SecurityGroupRuleExists',
      message: `Security group rule already exists. Rule id is ${tcp.body.security_group_rule.id}.`,
      detail: '',
    });
    const icmp = await post('security-group-rules', {
      security_group_rule: {
        ethertype: 'IPv4',
        security_group_id: g.id,
        remote_ip_prefix: '0.0.0.0/0',
        direction: 'ingress',
        protocol: 'icmp',
      },
    });
    assert.equal(icmp.status, 201);
    assert.equal(icmp.body.security_group_rule.port_range_min, null);
    const listed = await api.request(
      'GET',
      `/network/v2.0/security-group-rules?security_group_id=${g.id}`,
    );
    assert.equal(listed.body.security_group_rules.length, 4);
    const shown = await api.request('GET', `/network/v2.0/security-groups/${g.id}`);
    assert.equal(shown.body.security_group.revision_number, 3);
    assert.equal(
      (
        await api.request(
          'DELETE',
          `/network/v2.0/security-group-rules/${icmp.body.security_group_rule.id}`,
        )
      ).status,
      204,
    );
  });

  it('refuses malformed rules with Neutron’s 400s and another project’s group with 404', async () => {
    const g = (await post('security-groups', { security_group: { name: 'bad-rules' } })).body
      .security_group;
    const bad = [
      { direction: 'sideways' },
      { direction: 'ingress', protocol: 'tcp', port_range_min: 30, port_range_max: 20 },
      { direction: 'ingress', port_range_min: 22 },
      { direction: 'ingress', protocol: 'nonsense' },
      { direction: 'ingress', remote_ip_prefix: '10.0.0.0/8', remote_group_id: g.id },
      { direction: 'ingress', remote_ip_prefix: '::/0' },
      { direction: 'ingress', protocol: 'icmp', port_range_min: 300 },
      { direction: 'ingress', protocol: 'tcp', port_range_min: 'x' },
    ];
    for (const rule of bad) {
      const r = await post('security-group-rules', {
        security_group_rule: { ...rule, security_group_id: g.id },
      });
      assert.equal(r.status, 400, JSON.stringify(rule) + JSON.stringify(r.body));
    }
    const unknownRemote = await post('security-group-rules', {
      security_group_rule: {
        direction: 'ingress',
        remote_group_id: 'bad',
        security_group_id: g.id,
      },
    });
    assert.equal(unknownRemote.status, 404);
    assert.equal(unknownRemote.body.NeutronError.type, 'SecurityGroupNotFound');
    const renamed = await api.request('PUT', `/network/v2.0/security-groups/${g.id}`, {
      body: { security_group: { name: 'default' } },
    });
    assert.equal(renamed.status, 409);
    // Tempest's test_create_security_group_rule_with_invalid_ports reads these words.
    for (const [min, max, words] of [
      [-16, 80, 'Invalid value for port -16'],
      [80, 65536, 'Invalid value for port 65536'],
      [null, 6, 'port_range_min must be <= port_range_max'],
    ] as const) {
      const r = await post('security-group-rules', {
        security_group_rule: {
          direction: 'ingress',
          protocol: 'tcp',
          port_range_min: min,
          port_range_max: max,
          security_group_id: g.id,
        },
      });
      assert.equal(r.status, 400);
      assert.ok(r.body.NeutronError.message.includes(words), r.body.NeutronError.message);
    }
    const icmp = await post('security-group-rules', {
      security_group_rule: {
        direction: 'ingress',
        protocol: 'icmp',
        port_range_min: 1,
        port_range_max: 256,
        security_group_id: g.id,
      },
    });
    assert.match(icmp.body.NeutronError.message, /^Invalid value for ICMP code \(port_range_max\)/);
    const other = await post(
      'security-group-rules',
      { security_group_rule: { direction: 'ingress', security_group_id: g.id } },
      OTHER,
    );
    assert.equal(other.status, 404);
    assert.equal(other.body.NeutronError.type, 'SecurityGroupNotFound');
  });

  it('refuses to delete a group a port uses (409), deletes it once unused', async () => {
    const g = (await post('security-groups', { security_group: { name: 'used' } })).body
      .security_group;
    const net = (await post('networks', { network: { name: 'sgnet' } })).body.network.id;
    const port = (await post('ports', { port: { network_id: net, security_groups: [g.id] } })).body
      .port;
    assert.deepEqual(port.security_groups, [g.id]);
    const r = await api.request('DELETE', `/network/v2.0/security-groups/${g.id}`);
    assert.equal(r.status, 409);
    assert.equal(r.body.NeutronError.type, 'SecurityGroupInUse');
    const missing = await post('ports', {
      port: { network_id: net, security_groups: ['00000000-0000-4000-8000-000000000000'] },
    });
    assert.equal(missing.status, 404);
    assert.equal(
      (
        await api.request('PUT', `/network/v2.0/ports/${port.id}`, {
          body: { port: { security_groups: [] } },
        })
      ).status,
      200,
    );
    assert.equal(
      (await api.request('DELETE', `/network/v2.0/security-groups/${g.id}`)).status,
      204,
    );
  });
});
