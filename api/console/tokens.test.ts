import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { describeEachDatabase } from '../../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../../testing/api/test-cloud';
import { ConsoleTokens, type ConsoleToken, TokenRefused } from './tokens';

describeEachDatabase('console auth tokens', (database) => {
  let cloud: TestCloud;
  const servers: string[] = [];
  let now = 1_000_000;
  const tokens = () => new ConsoleTokens(cloud.api.deps.db, 600, () => now);
  const consoleOf = (uuid: string, projectId = 'demo'): ConsoleToken => ({
    instance_uuid: uuid,
    project_id: projectId,
    console_type: 'serial',
    host: '127.0.0.1',
    port: 4242,
    internal_access_path: null,
  });
  const refused = async (p: Promise<unknown>, status: number, reason: string) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof TokenRefused, `refused, not ${String(err)}`);
    assert.deepEqual({ status: err.status, reason: err.reason }, { status, reason });
  };

  before(async () => {
    cloud = await startTestCloud({ hosts: ['node-1'], database });
    for (const name of ['a', 'b']) {
      const r = await cloud.request('POST', '/v2.1/servers', {
        body: { server: { name, imageRef: cloud.image.id, flavorRef: '1' } },
      });
      servers.push(r.body.server.id);
    }
  });
  after(() => cloud.close());

  test('a token opens its console once; show does not use it up', async () => {
    const t = await tokens().issue(consoleOf(servers[0]));
    assert.equal((await tokens().show(t)).port, 4242);
    const c = await tokens().consume(t, servers[0]);
    assert.deepEqual(c, consoleOf(servers[0]));
    await refused(tokens().consume(t), 403, 'used');
    await refused(tokens().show(t), 403, 'used');
  });

  test('only the hash is stored', async () => {
    const t = await tokens().issue(consoleOf(servers[0]));
    const rows = await cloud.api.deps.db('console_auth_tokens').select();
    assert.ok(rows.length > 0);
    for (const row of rows) assert.ok(!JSON.stringify(row).includes(t));
  });

  test('a token expires after the TTL', async () => {
    const t = await tokens().issue(consoleOf(servers[0]));
    now += 600_000;
    await refused(tokens().consume(t), 401, 'expired');
    await refused(tokens().show(t), 401, 'expired');
  });

  test("another instance's token is refused and stays usable for its own", async () => {
    const t = await tokens().issue(consoleOf(servers[0]));
    await refused(tokens().consume(t, servers[1]), 403, 'other-instance');
    assert.equal((await tokens().consume(t, servers[0])).instance_uuid, servers[0]);
  });

  test('an unknown token is a 404', async () => {
    await refused(tokens().consume('nonsense'), 404, 'unknown');
  });

  test("a token of an instance that is gone (or not in the token's project) opens nothing", async () => {
    const wrongProject = await tokens().issue(consoleOf(servers[0], 'other'));
    await refused(tokens().consume(wrongProject), 404, 'instance-gone');
    const t = await tokens().issue(consoleOf(servers[1]));
    const r = await cloud.request('DELETE', `/v2.1/servers/${servers[1]}`);
    assert.equal(r.status, 204);
    await cloud.waitForStatus(servers[1], ['DELETED']);
    await refused(tokens().consume(t), 404, 'instance-gone');
  });
});
