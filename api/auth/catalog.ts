/**
 * berth's entries in the Keystone catalog: the services it serves (compute,
 * and the embedded image, network and block-storage APIs) with a public,
 * internal and admin endpoint each in one region. Registering is
 * idempotent: what is there with the right URL is kept, a wrong URL is
 * corrected, what is missing is made, so an operator can run it on every
 * deploy.
 */
import { UnavailableError } from '../../common/errors';

export interface CatalogService {
  name: string;
  type: string;
  /** path under berth's base URL, as Keystone stores it (`%(project_id)s` substituted by clients) */
  path: string;
}

export const BERTH_SERVICES = (o: { externalGlance: boolean }): CatalogService[] => [
  { name: 'nova', type: 'compute', path: '/v2.1' },
  ...(o.externalGlance ? [] : [{ name: 'glance', type: 'image', path: '/image' }]),
  { name: 'neutron', type: 'network', path: '/network' },
  { name: 'cinderv3', type: 'volumev3', path: '/volume/v3/%(project_id)s' },
];

export const INTERFACES = ['public', 'internal', 'admin'] as const;
export type Interface = (typeof INTERFACES)[number];

export interface CatalogChange {
  what: string;
  action: 'created' | 'updated' | 'kept';
}

type Call = (method: string, path: string, body?: unknown) => Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Keystone v3 calls with `token`; an answer other than 2xx (or a 404 where asked) is an error. */
export function keystoneCaller(v3: string, token: string): Call {
  return async (method, path, body) => {
    const r = await fetch(`${v3}${path}`, {
      method,
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((err: Error) => {
      throw new UnavailableError(`Keystone at ${v3}: ${err.message}`);
    });
    const text = await r.text();
    if (r.status === 404 && method === 'GET') return { notFound: true };
    if (r.status >= 300)
      throw new UnavailableError(`Keystone ${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : {};
  };
}

export async function registerCatalog(
  call: Call,
  o: { urls: Record<Interface, string>; region: string; services: CatalogService[] },
): Promise<CatalogChange[]> {
  const changes: CatalogChange[] = [];
  const region = await call('GET', `/regions/${encodeURIComponent(o.region)}`);
  if (region.notFound) await call('POST', '/regions', { region: { id: o.region } });
  changes.push({ what: `region ${o.region}`, action: region.notFound ? 'created' : 'kept' });

  for (const s of o.services) {
    const found = (await call('GET', `/services?type=${encodeURIComponent(s.type)}`)).services as {
      id: string;
    }[];
    const id =
      found[0]?.id ??
      (await call('POST', '/services', { service: { name: s.name, type: s.type, enabled: true } }))
        .service.id;
    changes.push({ what: `service ${s.type}`, action: found.length ? 'kept' : 'created' });
    const endpoints = (await call('GET', `/endpoints?service_id=${id}`)).endpoints as {
      id: string;
      interface: string;
      region_id: string;
      url: string;
    }[];
    for (const iface of INTERFACES) {
      const url = o.urls[iface].replace(/\/+$/, '') + s.path;
      const have = endpoints.find((e) => e.interface === iface && e.region_id === o.region);
      const what = `${iface} ${s.type} endpoint ${url}`;
      if (!have) {
        await call('POST', '/endpoints', {
          endpoint: { service_id: id, interface: iface, url, region_id: o.region },
        });
        changes.push({ what, action: 'created' });
      } else if (have.url !== url) {
        await call('PATCH', `/endpoints/${have.id}`, { endpoint: { url } });
        changes.push({ what, action: 'updated' });
      } else changes.push({ what, action: 'kept' });
    }
  }
  return changes;
}
