import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BERTH_SERVICES, registerCatalog } from './catalog';

/** Keystone's catalog calls over three arrays, as much of v3 as registration uses. */
function fakeKeystone() {
  const regions: string[] = [];
  const services: { id: string; type: string; name: string }[] = [];
  const endpoints: {
    id: string;
    service_id: string;
    interface: string;
    region_id: string;
    url: string;
  }[] = [];
  let ids = 0;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const call = async (method: string, path: string, body?: any) => {
    const [route, query] = path.split('?');
    const q = new URLSearchParams(query);
    if (method === 'GET' && route.startsWith('/regions/'))
      return regions.includes(decodeURIComponent(route.slice(9)))
        ? { region: {} }
        : { notFound: true };
    if (method === 'POST' && route === '/regions') return (regions.push(body.region.id), {});
    if (method === 'GET' && route === '/services')
      return { services: services.filter((s) => s.type === q.get('type')) };
    if (method === 'POST' && route === '/services') {
      const s = { id: `s${++ids}`, ...body.service };
      services.push(s);
      return { service: s };
    }
    if (method === 'GET' && route === '/endpoints')
      return { endpoints: endpoints.filter((e) => e.service_id === q.get('service_id')) };
    if (method === 'POST' && route === '/endpoints')
      return (endpoints.push({ id: `e${++ids}`, ...body.endpoint }), {});
    if (method === 'PATCH' && route.startsWith('/endpoints/')) {
      endpoints.find((e) => e.id === route.slice(11))!.url = body.endpoint.url;
      return {};
    }
    throw new Error(`unexpected ${method} ${path}`);
  };
  return { call, regions, services, endpoints };
}

const URLS = {
  public: 'http://ctl:8774/',
  internal: 'http://10.0.0.2:8774',
  admin: 'http://10.0.0.2:8774',
};

test("registers berth's four services on three interfaces, then changes nothing", async () => {
  const k = fakeKeystone();
  const services = BERTH_SERVICES({ externalGlance: false });
  const first = await registerCatalog(k.call, { urls: URLS, region: 'RegionOne', services });
  assert.deepEqual(k.regions, ['RegionOne']);
  assert.deepEqual(k.services.map((s) => s.type).sort(), [
    'compute',
    'image',
    'network',
    'volumev3',
  ]);
  assert.equal(k.endpoints.length, 12);
  const compute = k.services.find((s) => s.type === 'compute')!;
  const publicCompute = k.endpoints.find(
    (e) => e.service_id === compute.id && e.interface === 'public',
  );
  assert.equal(publicCompute?.url, 'http://ctl:8774/v2.1');
  assert.ok(first.some((c) => c.action === 'created'));
  const again = await registerCatalog(k.call, { urls: URLS, region: 'RegionOne', services });
  assert.ok(
    again.every((c) => c.action === 'kept'),
    JSON.stringify(again),
  );
  assert.equal(k.endpoints.length, 12);
});

test('a moved URL is corrected in place; an external Glance is not registered', async () => {
  const k = fakeKeystone();
  const services = BERTH_SERVICES({ externalGlance: true });
  assert.ok(!services.some((s) => s.type === 'image'));
  await registerCatalog(k.call, { urls: URLS, region: 'r', services });
  const moved = { ...URLS, public: 'https://cloud.example:443' };
  const changes = await registerCatalog(k.call, { urls: moved, region: 'r', services });
  assert.equal(changes.filter((c) => c.action === 'updated').length, 3);
  assert.equal(k.endpoints.length, 9);
  assert.ok(
    k.endpoints.some((e) => e.url === 'https://cloud.example:443/volume/v3/%(project_id)s'),
  );
});
