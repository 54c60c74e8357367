/**
 * What `npm start` shows once berth all-in-one is up: the busybox image
 * registered through the image API, one server booted through the
 * compute API, and that server printed as `openstack server show` prints
 * it. Everything goes through the public HTTP APIs, as a user's client
 * would; running it again reuses the image and the server.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const IMAGE_NAME = 'busybox';
const SERVER_NAME = 'demo';
const FLAVOR = '42';
const COMMAND = `/bin/sh -c 'echo "Hello from berth instance $(hostname)"; exec sleep 2147483647'`;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

class ApiClient {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  async call(method: string, path: string, body?: unknown, raw?: { data: Buffer }): Promise<Json> {
    const headers: Record<string, string> = {
      'x-auth-token': this.token,
      accept: 'application/json',
    };
    let payload: string | Buffer | undefined;
    if (raw) {
      headers['content-type'] = 'application/octet-stream';
      payload = raw.data;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(this.base + path, { method, headers, body: payload });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as Json) : {};
  }
}

async function ensureImage(api: ApiClient, tarPath: string): Promise<string> {
  const found = await api.call('GET', `/image/v2/images?name=${IMAGE_NAME}`);
  const active = (found.images as Json[]).find((i) => i.status === 'active');
  if (active) return active.id as string;
  const image = await api.call('POST', '/image/v2/images', {
    name: IMAGE_NAME,
    disk_format: 'raw',
    container_format: 'bare',
    visibility: 'public',
    os_command_line: COMMAND,
  });
  await api.call('PUT', `/image/v2/images/${image.id}/file`, undefined, {
    data: fs.readFileSync(tarPath),
  });
  return image.id as string;
}

async function ensureServer(api: ApiClient, imageId: string): Promise<string> {
  const found = await api.call('GET', `/v2.1/servers/detail?name=^${SERVER_NAME}$`);
  const live = (found.servers as Json[]).find((s) => s.status !== 'ERROR');
  if (live) return live.id as string;
  const created = await api.call('POST', '/v2.1/servers', {
    server: { name: SERVER_NAME, imageRef: imageId, flavorRef: FLAVOR },
  });
  return created.server.id as string;
}

/** A two-column Field/Value table, as the openstack CLI draws it. */
export function fieldTable(rows: [string, string][]): string {
  const w1 = Math.max(5, ...rows.map(([k]) => k.length));
  const w2 = Math.max(5, ...rows.map(([, v]) => v.length));
  const line = `+-${'-'.repeat(w1)}-+-${'-'.repeat(w2)}-+`;
  const row = (a: string, b: string) => `| ${a.padEnd(w1)} | ${b.padEnd(w2)} |`;
  return [line, row('Field', 'Value'), line, ...rows.map(([k, v]) => row(k, v)), line].join('\n');
}

const POWER_STATES: Record<number, string> = {
  0: 'NOSTATE',
  1: 'Running',
  3: 'Paused',
  4: 'Shutdown',
  6: 'Crashed',
  7: 'Suspended',
};

const show = (v: unknown) =>
  v === null || v === undefined ? 'None' : typeof v === 'object' ? JSON.stringify(v) : String(v);

/** The fields the openstack CLI rewrites for reading: names next to ids, power state words. */
async function readable(api: ApiClient, server: Json): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(server)) if (k !== 'links') out[k] = show(v);
  const flavor = (await api.call('GET', `/v2.1/flavors/${server.flavor.id}`)).flavor as Json;
  const image = (await api.call('GET', `/image/v2/images/${server.image.id}`)) as Json;
  out.flavor = `${flavor.name} (${flavor.id})`;
  out.image = `${image.name} (${image.id})`;
  out['OS-EXT-STS:power_state'] = POWER_STATES[server['OS-EXT-STS:power_state']] ?? 'NOSTATE';
  out.security_groups = (server.security_groups as Json[])
    .map((g) => `name='${g.name}'`)
    .join(', ');
  out.addresses = '';
  out.metadata = '';
  return out;
}

export async function bootDemoServer(base: string, tarPath: string): Promise<void> {
  const api = new ApiClient(base, 'admin:admin');
  const imageId = await ensureImage(api, tarPath);
  const id = await ensureServer(api, imageId);
  let server: Json = {};
  for (let i = 0; i < 600; i++) {
    server = (await api.call('GET', `/v2.1/servers/${id}`)).server as Json;
    if (server.status !== 'BUILD') break;
    await sleep(100);
  }
  const fields = await readable(api, server);
  const rows = Object.keys(fields)
    .sort()
    .map((k): [string, string] => [k, fields[k]]);
  process.stdout.write(`${fieldTable(rows)}\n`);
  if (server.status === 'ACTIVE') {
    const out = await api.call('POST', `/v2.1/servers/${id}/action`, {
      'os-getConsoleOutput': { length: 5 },
    });
    process.stdout.write(`console of ${SERVER_NAME}:\n${out.output as string}\n`);
  }
}
