import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { describeEachDatabase, startTestApi, type TestApi } from '../../testing/api/test-api';

describeEachDatabase(
  'network API: filters, fields, sorting, pagination, tags and quotas',
  (database) => {
    let api: TestApi;
    const ids: Record<string, string> = {};
    const get = async (path: string, token?: string) => {
      const r = await api.request('GET', `/network/v2.0/${path}`, { token });
      assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    before(async () => {
      api = await startTestApi({ database, config: { network: { quota_network: 4 } } });
      for (const name of ['charlie', 'alpha', 'bravo']) {
        const r = await api.request('POST', '/network/v2.0/networks', {
          body: { network: { name } },
        });
        ids[name] = r.body.network.id;
      }
    });
    after(() => api.close());

    it('filters on attributes (repeated = any of), selects fields, refuses unknown filters', async () => {
      const one = await get('networks?name=alpha');
      assert.deepEqual(
        one.networks.map((n: { id: string }) => n.id),
        [ids.alpha],
      );
      const two = await get(`networks?id=${ids.alpha}&id=${ids.bravo}&fields=id&fields=name`);
      assert.deepEqual(two.networks.map((n: { name: string }) => n.name).sort(), [
        'alpha',
        'bravo',
      ]);
      assert.deepEqual(Object.keys(two.networks[0]).sort(), ['id', 'name']);
      assert.deepEqual((await get('networks?name=nothing')).networks, []);
      assert.equal((await get('networks?shared=false&router%3Aexternal=False')).networks.length, 3);
      const bad = await api.request('GET', '/network/v2.0/networks?no_such=1');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.NeutronError.message, "['no_such'] is invalid attribute for filtering");
      assert.equal((await api.request('GET', '/network/v2.0/networks?shared=perhaps')).status, 400);
      const shown = await get(`networks/${ids.alpha}?fields=revision_number`);
      assert.deepEqual(shown, { network: { revision_number: 1 } });
    });

    it('sorts and pages with next and previous links as Neutron', async () => {
      const first = await get('networks?limit=1&sort_key=name&sort_dir=asc');
      assert.deepEqual(
        first.networks.map((n: { name: string }) => n.name),
        ['alpha'],
      );
      const host = new URL(api.url).host;
      assert.deepEqual(first.networks_links, [
        {
          rel: 'next',
          href: `http://${host}/network/v2.0/networks?limit=1&sort_key=name&sort_dir=asc&marker=${ids.alpha}`,
        },
        {
          rel: 'previous',
          href: `http://${host}/network/v2.0/networks?limit=1&sort_key=name&sort_dir=asc&marker=${ids.alpha}&page_reverse=True`,
        },
      ]);
      const second = await get(`networks?limit=1&sort_key=name&sort_dir=asc&marker=${ids.alpha}`);
      assert.deepEqual(
        second.networks.map((n: { name: string }) => n.name),
        ['bravo'],
      );
      const back = await get(
        `networks?limit=1&sort_key=name&sort_dir=asc&marker=${ids.charlie}&page_reverse=True`,
      );
      assert.deepEqual(
        back.networks.map((n: { name: string }) => n.name),
        ['bravo'],
      );
      const desc = await get('networks?sort_key=name&sort_dir=desc&router%3Aexternal=false');
      assert.deepEqual(
        desc.networks.map((n: { name: string }) => n.name),
        ['charlie', 'bravo', 'alpha'],
      );
      const last = await get(
        `networks?limit=5&sort_key=name&marker=${ids.bravo}&router%3Aexternal=false`,
      );
      assert.deepEqual(
        last.networks.map((n: { name: string }) => n.name),
        ['charlie'],
      );
      assert.deepEqual(
        last.networks_links.map((l: { rel: string }) => l.rel),
        ['previous'],
      );
      assert.equal((await api.request('GET', '/network/v2.0/networks?limit=-1')).status, 400);
      assert.equal((await api.request('GET', '/network/v2.0/networks?sort_key=nope')).status, 400);
      const marker = await api.request(
        'GET',
        '/network/v2.0/networks?limit=1&marker=00000000-0000-4000-8000-000000000000',
      );
      assert.equal(marker.status, 404);
    });

    it('sets, lists, filters on and removes tags', async () => {
      const base = `/network/v2.0/networks/${ids.alpha}/tags`;
      assert.equal((await api.request('PUT', `${base}/berth`)).status, 201);
      const all = await api.request('PUT', base, { body: { tags: ['berth', 'blue'] } });
      assert.deepEqual(all.body, { tags: ['berth', 'blue'] });
      await api.request('PUT', `/network/v2.0/networks/${ids.bravo}/tags/blue`);
      assert.deepEqual((await get(`networks/${ids.alpha}/tags`)).tags, ['berth', 'blue']);
      const names = async (q: string) =>
        (await get(`networks?${q}&fields=name`)).networks
          .map((n: { name: string }) => n.name)
          .sort();
      assert.deepEqual(await names('tags=berth,blue'), ['alpha']);
      assert.deepEqual(await names('tags-any=berth,blue'), ['alpha', 'bravo']);
      assert.deepEqual(await names('not-tags=blue&router%3Aexternal=false'), ['charlie']);
      assert.deepEqual(await names('not-tags-any=berth&router%3Aexternal=false'), [
        'bravo',
        'charlie',
      ]);
      assert.equal((await api.request('DELETE', `${base}/blue`)).status, 204);
      const missing = await api.request('DELETE', `${base}/blue`);
      assert.equal(missing.status, 404);
      assert.equal(missing.body.NeutronError.type, 'TagNotFound');
      assert.equal((await api.request('PUT', base, { body: { tags: 'x' } })).status, 400);
      assert.equal((await api.request('PUT', `${base}/${'t'.repeat(61)}`)).status, 400);
      assert.ok((await get(`networks/${ids.alpha}`)).network.revision_number > 1);
    });

    it('shows quotas with defaults from [network], enforces them (409 OverQuota), lets admins change them', async () => {
      const q = await get('quotas/demo');
      assert.deepEqual(q.quota, {
        network: 4,
        subnet: 100,
        subnetpool: -1,
        port: 500,
        router: 10,
        floatingip: 50,
        rbac_policy: 10,
        security_group: 10,
        security_group_rule: 100,
      });
      const details = await get('quotas/demo/details.json');
      assert.deepEqual(details.quota.network, { limit: 4, used: 3, reserved: 0 });
      assert.deepEqual(details.quota.security_group, { limit: 10, used: 1, reserved: 0 });
      assert.equal(
        (await api.request('POST', '/network/v2.0/networks', { body: { network: { name: 'd' } } }))
          .status,
        201,
      );
      const over = await api.request('POST', '/network/v2.0/networks', {
        body: { network: { name: 'e' } },
      });
      assert.equal(over.status, 409);
      assert.deepEqual(over.body.NeutronError, {
        type: 'OverQuota',
        message: "Quota exceeded for resources: ['network'].",
        detail: '',
      });
      const member = await api.request('PUT', '/network/v2.0/quotas/demo', {
        body: { quota: { network: 20 } },
      });
      assert.equal(member.status, 403);
      assert.equal((await api.request('GET', '/network/v2.0/quotas/other')).status, 403);
      const set = await api.request('PUT', '/network/v2.0/quotas/demo', {
        token: 'admin:admin',
        body: { quota: { network: 20 } },
      });
      assert.equal(set.status, 200);
      assert.equal(set.body.quota.network, 20);
      assert.equal(
        (
          await api.request('PUT', '/network/v2.0/quotas/demo', {
            token: 'admin:admin',
            body: { quota: { nope: 1 } },
          })
        ).status,
        400,
      );
      assert.equal(
        (
          await api.request('PUT', '/network/v2.0/quotas/demo', {
            token: 'admin:admin',
            body: { quota: { network: 'x' } },
          })
        ).status,
        400,
      );
      assert.equal(
        (await api.request('POST', '/network/v2.0/networks', { body: { network: { name: 'e' } } }))
          .status,
        201,
      );
      const listed = await get('quotas', 'admin:admin');
      assert.deepEqual(
        listed.quotas.map((x: { project_id: string }) => x.project_id),
        ['demo'],
      );
      assert.equal(
        (await api.request('DELETE', '/network/v2.0/quotas/demo', { token: 'admin:admin' })).status,
        204,
      );
      assert.equal((await get('quotas/demo')).quota.network, 4);
    });

    it('lists the extensions it implements with Neutron’s names, and 404s an unknown alias', async () => {
      const all = (await get('extensions')).extensions as { alias: string; name: string }[];
      const byAlias = Object.fromEntries(all.map((e) => [e.alias, e.name]));
      assert.equal(byAlias.quotas, 'Quota management support');
      assert.equal(byAlias.binding, 'Port Binding');
      assert.equal(byAlias.router, 'Neutron L3 Router');
      assert.equal(byAlias.agent, undefined);
      assert.deepEqual((await get('extensions/port-security')).extension, {
        name: 'Port Security',
        alias: 'port-security',
        description: 'Provides port security',
        updated: '2012-07-23T10:00:00-00:00',
        links: [],
      });
      assert.equal(
        (await api.request('GET', '/network/v2.0/extensions/tag-ports-during-bulk-creation'))
          .status,
        404,
      );
      assert.deepEqual((await get('availability_zones')).availability_zones, []);
      assert.deepEqual((await get('agents')).agents, []);
    });
  },
);
