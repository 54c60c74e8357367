/**
 * Every route of the embedded block-storage API (/volume), for the
 * property test (api/fuzz.test.ts): each route under /v3/{project_id} and
 * /v3, valid bodies, and the real rows path parameters can name. Kept
 * apart from endpoints.ts as the network API's list is.
 */
import type { Endpoint, Method } from './endpoints';
import type { TestCloud } from './test-cloud';

export interface VolumeFixtures {
  volumeId: string;
  snapshotId: string;
  typeId: string;
  /** an active image volumes are made from */
  imageId: string;
}

const OWNER = 'demo:demo';
const ADMIN = 'admin:admin';

type Bodies = (vf: VolumeFixtures, unique: string) => unknown[];
interface Route {
  method: Method;
  path: string;
  bodies?: Bodies;
}

const metadata = (collection: string): Route[] => [
  { method: 'GET', path: `/${collection}/:id/metadata` },
  { method: 'POST', path: `/${collection}/:id/metadata`, bodies: () => [{ metadata: { k: 'v' } }] },
  { method: 'PUT', path: `/${collection}/:id/metadata`, bodies: () => [{ metadata: { k: 'v' } }] },
  { method: 'GET', path: `/${collection}/:id/metadata/:key` },
  { method: 'PUT', path: `/${collection}/:id/metadata/:key`, bodies: () => [{ meta: { k: 'w' } }] },
  { method: 'DELETE', path: `/${collection}/:id/metadata/:key` },
];

const V3_ROUTES: Route[] = [
  { method: 'GET', path: '/volumes' },
  { method: 'GET', path: '/volumes/detail' },
  {
    method: 'POST',
    path: '/volumes',
    bodies: (vf, u) => [
      { volume: { size: 1, name: `v-${u}` } },
      { volume: { snapshot_id: vf.snapshotId, metadata: { a: 'b' } } },
      { volume: { size: 1, imageRef: vf.imageId } },
    ],
  },
  { method: 'GET', path: '/volumes/:id' },
  { method: 'PUT', path: '/volumes/:id', bodies: () => [{ volume: { name: 'renamed' } }] },
  { method: 'DELETE', path: '/volumes/:id' },
  {
    method: 'POST',
    path: '/volumes/:id/action',
    bodies: () => [
      { 'os-extend': { new_size: 2 } },
      { 'os-reset_status': { status: 'available' } },
      { 'os-set_bootable': { bootable: true } },
      { 'os-update_readonly_flag': { readonly: false } },
    ],
  },
  ...metadata('volumes'),
  { method: 'GET', path: '/snapshots' },
  { method: 'GET', path: '/snapshots/detail' },
  {
    method: 'POST',
    path: '/snapshots',
    bodies: (vf, u) => [{ snapshot: { volume_id: vf.volumeId, name: `s-${u}`, force: true } }],
  },
  { method: 'GET', path: '/snapshots/:id' },
  { method: 'PUT', path: '/snapshots/:id', bodies: () => [{ snapshot: { name: 'renamed' } }] },
  { method: 'DELETE', path: '/snapshots/:id' },
  ...metadata('snapshots'),
  { method: 'GET', path: '/extensions' },
  { method: 'GET', path: '/types' },
  { method: 'GET', path: '/types/default' },
  {
    method: 'POST',
    path: '/types',
    bodies: (_vf, u) => [{ volume_type: { name: `t-${u}`, extra_specs: { a: 'b' } } }],
  },
  { method: 'GET', path: '/types/:id' },
  {
    method: 'PUT',
    path: '/types/:id',
    bodies: (_vf, u) => [{ volume_type: { name: `r-${u}`, description: 'd' } }],
  },
  { method: 'DELETE', path: '/types/:id' },
  { method: 'GET', path: '/types/:id/extra_specs' },
  {
    method: 'POST',
    path: '/types/:id/extra_specs',
    bodies: () => [{ extra_specs: { multiattach: '<is> True' } }],
  },
  { method: 'GET', path: '/os-quota-sets/:project/defaults' },
  { method: 'GET', path: '/os-quota-sets/:project' },
  {
    method: 'PUT',
    path: '/os-quota-sets/:project',
    bodies: () => [{ quota_set: { volumes: 20 } }],
  },
  { method: 'DELETE', path: '/os-quota-sets/:project' },
  { method: 'GET', path: '/limits' },
  { method: 'GET', path: '/os-availability-zone' },
  ...['/os-volume-transfer', '/volume-transfers', '/groups'].flatMap((base) => [
    { method: 'GET' as const, path: base },
    { method: 'GET' as const, path: `${base}/detail` },
  ]),
];

export function volumeEndpoints(vf: VolumeFixtures): Endpoint[] {
  const out: Endpoint[] = [
    { method: 'GET', path: '/volume', public: true },
    { method: 'GET', path: '/volume/v3', public: true },
  ];
  for (const prefix of ['/volume/v3', '/volume/v3/:project_id'])
    for (const r of V3_ROUTES)
      out.push({
        method: r.method,
        path: prefix + r.path,
        ...(r.bodies ? { bodies: (_f, u) => r.bodies!(vf, u) } : {}),
      });
  return out;
}

export function volumePathParams(path: string, vf: VolumeFixtures) {
  return [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => {
    const upTo = path.slice(0, m.index + m[0].length);
    const name = m[1];
    if (name === 'project_id' || name === 'project') return { name, real: ['demo', 'other'] };
    if (name === 'key') return { name, real: ['k'] };
    if (upTo.endsWith('/volumes/:id')) return { name, real: [vf.volumeId] };
    if (upTo.endsWith('/snapshots/:id')) return { name, real: [vf.snapshotId] };
    if (upTo.endsWith('/types/:id')) return { name, real: [vf.typeId, 'default'] };
    throw new Error(`no real values for ${upTo}`);
  });
}

type Request = TestCloud['request'];

async function ok(r: ReturnType<Request>, what: string) {
  const res = await r;
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** demo's available volume with an available snapshot, and an admin-made type (made again when gone). */
export async function ensureVolumeFixtures(
  cloud: Pick<TestCloud, 'request' | 'api' | 'image'>,
  vf: VolumeFixtures,
): Promise<void> {
  const req = cloud.request;
  vf.imageId = cloud.image.id;
  await req('PUT', '/volume/v3/os-quota-sets/demo', {
    token: ADMIN,
    body: { quota_set: { volumes: -1, snapshots: -1, gigabytes: -1 } },
  });
  const shown =
    vf.volumeId && (await req('GET', `/volume/v3/volumes/${vf.volumeId}`, { token: OWNER }));
  if (!shown || shown.status !== 200) {
    vf.volumeId = (
      await ok(req('POST', '/volume/v3/volumes', { body: { volume: { size: 1 } } }), 'volume')
    ).volume.id;
    vf.snapshotId = '';
  }
  await req('POST', `/volume/v3/volumes/${vf.volumeId}/action`, {
    token: ADMIN,
    body: { 'os-reset_status': { status: 'available' } },
  });
  await cloud.api.deps.volumes.drain();
  const snap = vf.snapshotId && (await req('GET', `/volume/v3/snapshots/${vf.snapshotId}`, {}));
  if (!snap || snap.status !== 200)
    vf.snapshotId = (
      await ok(
        req('POST', '/volume/v3/snapshots', { body: { snapshot: { volume_id: vf.volumeId } } }),
        'snapshot',
      )
    ).snapshot.id;
  const type = vf.typeId && (await req('GET', `/volume/v3/types/${vf.typeId}`, {}));
  if (!type || type.status !== 200)
    vf.typeId = (
      await ok(
        req('POST', '/volume/v3/types', {
          token: ADMIN,
          body: { volume_type: { name: `fixture-${Date.now()}` } },
        }),
        'type',
      )
    ).volume_type.id;
  await cloud.api.deps.volumes.drain();
  await req('PUT', `/volume/v3/volumes/${vf.volumeId}/metadata`, {
    body: { metadata: { k: 'v' } },
  });
  await req('PUT', `/volume/v3/snapshots/${vf.snapshotId}/metadata`, {
    body: { metadata: { k: 'v' } },
  });
}
