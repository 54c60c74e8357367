/**
 * Random and malformed requests at every endpoint of a test cloud: path
 * parameters (real ids, unicode, `..`, bad percent-encodings, very long),
 * query strings (unknown, repeated, `a[]`, `a[b]`), headers (microversions,
 * content types, tokens) and bodies (valid ones mutated, arbitrary JSON,
 * prototype keys, deep nesting, bytes). Every answer must be below 500 and,
 * for a 4xx, the API's fault body; nothing may crash the process; oversize
 * bodies get 413. The network API's routes (testing/api/network-endpoints.ts)
 * are fuzzed alike, their 4xx answers being Neutron's error bodies.
 * FUZZ_SEED replays a failure, FUZZ_RUNS scales the runs.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import winston from 'winston';
import { FakeImageService } from '../testing/driver/fake-image-service';
import { describeEachDatabase, startTestApi } from '../testing/api/test-api';
import { startTestCloud, type TestCloud } from '../testing/api/test-cloud';
import {
  ADMIN,
  createFixtures,
  createImage,
  ENDPOINTS,
  ensureFixtures,
  fillPath,
  mountedRoutes,
  OTHER,
  OWNER,
  pathParams,
  type Endpoint,
  type Fixtures,
} from '../testing/api/endpoints';
import {
  ensureNetworkFixtures,
  networkEndpoints,
  networkPathParams,
  type NetworkFixtures,
} from '../testing/api/network-endpoints';
import {
  ensureVolumeFixtures,
  volumeEndpoints,
  volumePathParams,
  type VolumeFixtures,
} from '../testing/api/volume-endpoints';
import { FakeVolumeHost } from '../testing/volume/fake-volume-host';
import { createApiApp } from './app';
import { noauth2 } from '../testing/api/test-api';

/** The network fixtures, filled in by ensureNetworkFixtures; the endpoints' bodies read them. */
const nf = {} as NetworkFixtures;
const NETWORK_ENDPOINTS = networkEndpoints(nf);
/** The volume fixtures, filled in by ensureVolumeFixtures. */
const vf = {} as VolumeFixtures;
const VOLUME_ENDPOINTS = volumeEndpoints(vf);
const ALL_ENDPOINTS = [...ENDPOINTS, ...NETWORK_ENDPOINTS, ...VOLUME_ENDPOINTS];
const NETWORK_PATH = /^\/network(\/|\?|$)/i;
const VOLUME_PATH = /^\/volume(\/|\?|$)/i;

const paramsOf = (path: string, f: Fixtures) =>
  NETWORK_PATH.test(path)
    ? networkPathParams(path, nf)
    : VOLUME_PATH.test(path)
      ? volumePathParams(path, vf)
      : pathParams(path, f);

const SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : Math.floor(Math.random() * 0x7fffffff);
/** Runs per endpoint, and at least per group of them. */
const RUNS_PER_ENDPOINT = Number(process.env.FUZZ_RUNS ?? 60);
const MIN_RUNS_PER_GROUP = 5 * RUNS_PER_ENDPOINT;
/** [api] max_request_body_size's default */
const BODY_LIMIT = 114688;

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One request as written, byte for byte: fetch would normalise `..` and refuse some of these. */
function send(url: string, r: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const headers = { ...r.headers };
  // Node frames a GET or DELETE body only when told its length.
  if (r.body && !headers['transfer-encoding']) headers['content-length'] = String(r.body.length);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, method: r.method, path: r.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Percent-encodes everything but RFC 3986's unreserved characters, byte by byte. */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8'))
    out += /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

// ---- what a request is made of, as plain data so that fast-check can print and shrink it ----

/** A path parameter: the n-th real value of the fixtures, or a literal already fit for the path. */
type Segment = { real: number } | { literal: string };

type Mutation =
  | { op: 'set'; at: number[]; value: unknown }
  | { op: 'delete'; at: number[] }
  | { op: 'add'; at: number[]; key: string; value: unknown }
  | { op: 'deep'; at: number[]; depth: number; open: '[' | '{"a":' }
  | { op: 'wrap'; how: 'array' | 'object' | 'string' };

type Body =
  | { none: true }
  | { sample: number; mutations: Mutation[] }
  | { json: unknown }
  | { text: string }
  | { bytes: number[] };

interface Plan {
  method: string;
  params: Segment[];
  query: string;
  headers: Record<string, string>;
  body: Body;
}

const RAW_SEGMENTS = [
  '',
  '..',
  '.',
  '%zz',
  '%',
  '%0',
  '%00',
  '%2e%2e',
  '%2F',
  'a%2Fb',
  '%C0%AE',
  '%ff',
  '%E2%82',
  '%u0041',
  ';',
  '@',
  ':',
  '*',
  '$',
  '+',
  "'",
];
const WEIRD_STRINGS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '0',
  '-1',
  '1e308',
  'NaN',
  'null',
  'true',
  ' ',
  'detail',
  'statistics',
  '\u0000',
  'a/b',
  '💥',
  'ünïcödé',
  "x' OR '1'='1",
  '%',
  '\t',
];

const segment = fc.oneof(
  { weight: 8, arbitrary: fc.nat({ max: 7 }).map((n): Segment => ({ real: n })) },
  { weight: 1, arbitrary: fc.constantFrom(...RAW_SEGMENTS).map((literal) => ({ literal })) },
  { weight: 2, arbitrary: fc.constantFrom(...WEIRD_STRINGS).map((s) => ({ literal: pct(s) })) },
  {
    weight: 2,
    arbitrary: fc.string({ minLength: 1, maxLength: 40 }).map((s) => ({ literal: pct(s) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 1, maxLength: 20 })
      .map((s) => ({ literal: pct(s) })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 256, max: 6000 }).map((n) => ({ literal: 'x'.repeat(n) })),
  },
  { weight: 1, arbitrary: fc.uuid().map((literal) => ({ literal })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.integer({ min: -2, max: 100 }), fc.maxSafeInteger())
      .map((n) => ({ literal: String(n) })),
  },
);

const QUERY_KEYS = [
  'limit',
  'marker',
  'all_tenants',
  'all_projects',
  'project_id',
  'tenant_id',
  'user_id',
  'sort_key',
  'sort_dir',
  'name',
  'status',
  'host',
  'changes-since',
  'image',
  'flavor',
  'with_servers',
  'hypervisor_hostname_pattern',
  'is_public',
  'minRam',
  'minDisk',
  'offset',
  'binary',
  'visibility',
  'os_hidden',
  'sort',
  'tag',
  'size_min',
  'size_max',
  'owner',
  'id',
  'type',
  'server',
  'fields',
  'tags',
  'tags-any',
  'not-tags',
  'router:external',
  'fixed_ips',
  'device_id',
  'device_owner',
  'network_id',
  'page_reverse',
  'shared',
  'security_group_id',
];
const QUERY_VALUES = [
  '',
  '0',
  '1',
  '-1',
  '2',
  '1000000',
  '1e308',
  '9007199254740993',
  'true',
  'false',
  'True',
  'None',
  'none',
  'yes',
  'asc',
  'desc',
  'created_at',
  'name',
  'ACTIVE',
  'active',
  'public',
  'all',
  'in:a,"b,c"',
  'name:asc,id:desc',
  'name:sideways',
  '2020-01-01T00:00:00Z',
  '+275760-09-13T00:00:01Z',
  '[',
  '*',
  '%',
  'node-1',
  'nova-compute',
  'demo',
  'other',
  'fixture',
  'ip_address=10.99.0.5',
  'subnet_id=x',
  'network:dhcp',
  'True',
];

const queryKey = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...QUERY_KEYS) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...QUERY_KEYS),
        fc.constantFrom(
          '[]',
          '[0]',
          '[a]',
          '[a][b]',
          '[__proto__]',
          '[constructor][prototype]',
          '[999]',
        ),
      )
      .map(([k, s]) => k + s),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'a[b][c][d][e][f][g]', 'toString', ''),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const queryValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...QUERY_VALUES) },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
  { weight: 1, arbitrary: fc.integer({ min: 256, max: 4000 }).map((n) => 'q'.repeat(n)) },
);
/** A query string: pairs percent-encoded, or as typed when that is still a valid request line. */
const query = fc
  .array(fc.tuple(queryKey, queryValue, fc.boolean()), { maxLength: 6 })
  .map((pairs) => {
    const raw = (s: string) => (/^[\x21-\x7e]*$/.test(s) && !/[&#]/.test(s) ? s : pct(s));
    const parts = pairs.map(([k, v, asTyped]) =>
      asTyped ? `${raw(k)}=${raw(v)}` : `${pct(k)}=${pct(v)}`,
    );
    return parts.length ? `?${parts.join('&')}` : '';
  });

const VERSIONS = ['2.1', '2.2', '2.10', '2.11', '2.15', '2.19', '2.33', '2.35', '2.36', '2.37'];
VERSIONS.push('2.47', '2.48', '2.53', '2.55', '2.64', '2.71', '2.75', '2.88', '2.90', '2.92');
VERSIONS.push('latest', 'LATEST', ' latest ');
const BAD_VERSIONS = ['2.999', '3.0', '1.0', '2', '', '2.1.1', 'abc', '-2.5', '2.-1', '0x2.1'];
BAD_VERSIONS.push('99999999999999999999.1', '2.99999999999999999999', '2,5', 'compute', '2.1 ');
const version = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...VERSIONS) },
  { weight: 2, arbitrary: fc.constantFrom(...BAD_VERSIONS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const versionHeaders = fc.oneof(
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: version.map((v) => ({ 'openstack-api-version': `compute ${v}` })) },
  { weight: 2, arbitrary: version.map((v) => ({ 'x-openstack-nova-api-version': v })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(version, version)
      .map(([a, b]) => ({ 'openstack-api-version': `compute ${a}, compute ${b}` })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        'compute 2.1, compute 2.5',
        'volume 3.0',
        'compute',
        'compute  ',
        ',',
        'image 2.5, compute latest',
        'COMPUTE 2.60',
      )
      .map((v) => ({ 'openstack-api-version': v })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(version, version).map(([a, b]) => ({
      'openstack-api-version': `compute ${a}`,
      'x-openstack-nova-api-version': b,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.string({ maxLength: 40 }).map((v) => ({ 'openstack-api-version': v })),
  },
);

const token = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(OWNER, ADMIN) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      OTHER,
      'demo',
      'admin',
      'admin:',
      ':admin',
      ':',
      '::',
      ' ',
      '',
      ' : ',
      'a:b:c',
      'ADMIN:admin',
      `${'u'.repeat(256)}:demo`,
      `demo:${'p'.repeat(256)}`,
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.integer({ min: 500, max: 4000 }).map((n) => 'a:'.repeat(n)) },
);
const tokenHeaders = fc.option(
  token.map((t) => ({ 'x-auth-token': t })),
  { nil: {}, freq: 12 },
);

const contentType = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/octet-stream',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/openstack-images-v2.1-json-patch',
      'application/openstack-images-v2.0-json-patch',
      '*/*',
      ';',
      'application/',
      '',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

const extraHeaders = fc.option(
  fc.constantFrom<Record<string, string>>(
    { 'content-encoding': 'gzip' },
    { 'content-encoding': 'deflate' },
    { 'content-encoding': 'br' },
    { 'content-encoding': 'x-garbage' },
    { 'content-encoding': 'identity' },
    { range: 'bytes=0-10' },
    { range: 'bytes=-5' },
    { range: 'bytes=100-' },
    { range: 'bytes=5-1' },
    { range: 'bytes=0-99999999999999999999' },
    { range: 'garbage' },
    { accept: 'application/xml' },
    { 'accept-encoding': 'gzip' },
  ),
  { nil: {}, freq: 4 },
);

const DEEP = '"\u0000deep\u0000"';
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom<unknown>(
      null,
      -1,
      0,
      1,
      1e308,
      -1e308,
      1.5,
      2 ** 31,
      2 ** 53 + 2,
      '',
      ' ',
      'x'.repeat(300),
      true,
      false,
      [],
      {},
      [null],
      { '': '' },
      '\u0000',
      '💥',
      'None',
      'true',
      '1',
      '-1',
      '2.5',
      '1e308',
      '00000000000000000001',
    ),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', ''];
const at = fc.array(fc.nat(), { maxLength: 4 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at, value: weirdValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      at,
      key: fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 10 })),
      value: weirdValue,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('deep' as const),
      at,
      depth: fc.integer({ min: 100, max: 20000 }),
      open: fc.constantFrom('[' as const, '{"a":' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('wrap' as const),
      how: fc.constantFrom('array' as const, 'object' as const, 'string' as const),
    }),
  },
);

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ none: true as const }) },
  {
    weight: 8,
    arbitrary: fc.record({
      sample: fc.nat({ max: 15 }),
      mutations: fc.array(mutation, { maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ json: fc.jsonValue({ maxDepth: 4 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      text: fc.oneof(
        fc.string({ maxLength: 50 }),
        fc.constantFrom(
          '{',
          '[',
          '{"a":}',
          'null',
          '""',
          'NaN',
          '\ufeff{}',
          '{"__proto__":{"x":1}}',
          '{"__proto__":null}',
          '{"constructor":null}',
          '{"toString":{}}',
          '{"hasOwnProperty":null}',
        ),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ bytes: fc.array(fc.nat({ max: 255 }), { maxLength: 64 }) }) },
);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

function planFor(ep: Endpoint): fc.Arbitrary<Plan> {
  const nParams = (ep.path.match(/:[A-Za-z_]+/g) ?? []).length;
  return fc.record({
    method: fc.oneof(
      { weight: 9, arbitrary: fc.constant(ep.method as string) },
      { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
    ),
    params: fc.array(segment, { minLength: nParams, maxLength: nParams }),
    query,
    headers: fc
      .tuple(versionHeaders, tokenHeaders, fc.option(contentType, { freq: 6 }), extraHeaders)
      .map(([v, t, ct, extra]) => ({
        ...v,
        ...t,
        ...(ct === null ? {} : { 'content-type': ct }),
        ...extra,
      })),
    body,
  });
}

// ---- from a plan to the bytes of a request ----

/** The node of `value` that `at` leads to, taking indexes modulo each node's size. */
function nodeAt(value: unknown, path: number[]): { parent?: object; key?: string } {
  let parent: object | undefined;
  let key: string | undefined;
  let node = value;
  for (const n of path) {
    if (!node || typeof node !== 'object') break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    parent = node;
    key = keys[n % keys.length];
    node = (node as Record<string, unknown>)[key];
  }
  return { parent, key };
}

const define = (o: object, key: string, value: unknown) =>
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });

function mutate(sample: unknown, mutations: Mutation[]): string {
  let value: unknown = structuredClone(sample);
  const deep: string[] = [];
  for (const m of mutations) {
    if (m.op === 'wrap') {
      value =
        m.how === 'array' ? [value] : m.how === 'object' ? { x: value } : JSON.stringify(value);
      continue;
    }
    const { parent, key } = nodeAt(value, m.at);
    if (m.op === 'add') {
      const target = parent && key !== undefined ? (parent as Record<string, unknown>)[key] : value;
      if (target && typeof target === 'object') define(target, m.key, structuredClone(m.value));
      continue;
    }
    if (!parent || key === undefined) continue;
    if (m.op === 'delete') delete (parent as Record<string, unknown>)[key];
    else if (m.op === 'set') define(parent, key, structuredClone(m.value));
    else {
      define(parent, key, DEEP);
      const close = m.open === '[' ? ']' : '}';
      deep.push(m.open.repeat(m.depth) + '1' + close.repeat(m.depth));
    }
  }
  let text = JSON.stringify(value) ?? '';
  for (const d of deep) text = text.replace(JSON.stringify(DEEP), d);
  return text;
}

function bodyBytes(b: Body, ep: Endpoint, f: Fixtures, unique: string): Buffer | undefined {
  if ('none' in b) return undefined;
  if ('json' in b) return Buffer.from(JSON.stringify(b.json) ?? '');
  if ('text' in b) return Buffer.from(b.text);
  if ('bytes' in b) return Buffer.from(b.bytes);
  const samples = ep.bodies?.(f, unique) ?? [{}];
  const sample = samples[b.sample % samples.length];
  if (Buffer.isBuffer(sample))
    return b.mutations.length ? Buffer.from(mutate({}, b.mutations)) : sample;
  return Buffer.from(mutate(sample, b.mutations));
}

let uniques = 0;

function materialize(plan: Plan, ep: Endpoint, f: Fixtures): RawRequest {
  const real = paramsOf(ep.path, f);
  const values = plan.params.map((s, n) =>
    'real' in s ? pct(real[n].real[s.real % real[n].real.length]) : s.literal,
  );
  const headers = { ...plan.headers };
  const data = bodyBytes(plan.body, ep, f, `${SEED}-${++uniques}`);
  if (data && !('content-type' in headers) && ep.contentType)
    headers['content-type'] = ep.contentType;
  return { method: plan.method, path: fillPath(ep.path, values) + plan.query, headers, body: data };
}

// ---- what every answer must be ----

const IMAGE_PATH = /^\/image(\/|\?|$)/i;

/** The API's error log lines (a 500 logs its stack), to say why an answer was a 500. */
const serverErrors: { error?: string }[] = [];

function captureErrors(log: winston.Logger): void {
  log.silent = false;
  log.clear();
  const sink = new Writable({
    objectMode: true,
    write(info: { level: string; error?: string }, _encoding, done) {
      if (info.level === 'error') serverErrors.push(info);
      done();
    },
  });
  log.add(new winston.transports.Stream({ stream: sink, level: 'error' }));
}

/** Node's HTTP parser refuses a request head over 16 KiB itself, before the app sees it. */
const MAX_HEAD = 16 * 1024;
const headSize = (req: RawRequest) =>
  req.path.length +
  Object.entries(req.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);

function checkAnswer(req: RawRequest, res: RawResponse): void {
  const what = `${req.method} ${req.path.slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`;
  if (res.status === 431 && headSize(req) > MAX_HEAD - 512) return;
  if (res.status >= 500 && res.status !== 501)
    assert.fail(`${what}\nserver log: ${serverErrors.at(-1)?.error ?? '(nothing logged)'}`);
  if (res.status < 400 || req.method === 'HEAD') return;
  let body: unknown;
  assert.doesNotThrow(() => (body = JSON.parse(res.text)), `not JSON: ${what}`);
  const fault = body as Record<string, { code?: unknown; message?: unknown }>;
  if (NETWORK_PATH.test(req.path)) {
    // A Neutron behind keystonemiddleware answers 401 with its body; everything else is a NeutronError.
    if (res.status === 401)
      return assert.equal((body as { error?: { code?: number } }).error?.code, 401, what);
    const neutron = (
      body as { NeutronError?: { type?: unknown; message?: unknown; detail?: unknown } }
    ).NeutronError;
    assert.equal(typeof neutron?.type, 'string', `not a NeutronError: ${what}`);
    assert.equal(typeof neutron?.message, 'string', what);
    assert.equal(neutron?.detail, '', what);
    return;
  }
  if (IMAGE_PATH.test(req.path)) {
    const glance = body as { message?: unknown; code?: unknown; title?: unknown };
    assert.equal(typeof glance.message, 'string', what);
    assert.match(String(glance.code), new RegExp(`^${res.status} `), what);
    return;
  }
  const names = Object.keys(fault);
  assert.equal(names.length, 1, `not one fault: ${what}`);
  assert.equal(fault[names[0]].code, res.status, `fault code: ${what}`);
  assert.equal(typeof fault[names[0]].message, 'string', what);
}

/** Answers that may have removed or disabled a fixture. */
function mayHaveChangedFixtures(req: RawRequest, res: RawResponse): boolean {
  if (res.status >= 300) return false;
  if (NETWORK_PATH.test(req.path)) return req.method === 'DELETE' || req.method === 'PUT';
  if (VOLUME_PATH.test(req.path)) return req.method !== 'GET';
  return (
    req.method === 'DELETE' ||
    (req.method === 'PUT' && /^\/v2\.1\/os-(services|quota-sets)\//i.test(req.path)) ||
    (req.method === 'PATCH' && IMAGE_PATH.test(req.path))
  );
}

/** The groups runs are counted in: by the collection after the version prefix. */
function groupOf(ep: Endpoint): string {
  if (ep.public) return 'version discovery';
  const m = /^\/(v2\.1|image\/v2|network\/v2\.0|volume\/v3(?:\/:project_id)?)\/([^/]+)/.exec(
    ep.path,
  );
  return m ? `${m[1]}/${m[2]}` : ep.path;
}

describeEachDatabase('fuzzing every endpoint', (database) => {
  let cloud: TestCloud;
  let f: Fixtures;
  const crashes: unknown[] = [];
  const volumeHosts: FakeVolumeHost[] = [];
  const onCrash = (err: unknown) => crashes.push(err);

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    cloud = await startTestCloud({ hosts: ['node-1', 'node-2'], database });
    for (const host of ['node-1', 'node-2'])
      volumeHosts.push(await new FakeVolumeHost(host).serve(cloud.transport));
    captureErrors(cloud.api.deps.log);
    f = await createFixtures(cloud);
    // The fixtures of the other database's run name rows this cloud does not have.
    for (const key of Object.keys(nf)) delete nf[key as keyof NetworkFixtures];
    await ensureNetworkFixtures(cloud.request, nf);
    for (const key of Object.keys(vf)) delete vf[key as keyof VolumeFixtures];
    await ensureVolumeFixtures(cloud, vf);
  });
  after(async () => {
    agent.destroy();
    for (const h of volumeHosts.splice(0)) await h.stop();
    await cloud?.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });

  const groups = new Map<string, Endpoint[]>();
  for (const ep of ALL_ENDPOINTS) groups.set(groupOf(ep), [...(groups.get(groupOf(ep)) ?? []), ep]);

  test('the network endpoint list is every /network route the app mounts', () => {
    const mounted = mountedRoutes(createApiApp(cloud.api.deps, noauth2)).filter((r) =>
      / \/network/.test(r),
    );
    assert.deepEqual(mounted, NETWORK_ENDPOINTS.map((ep) => `${ep.method} ${ep.path}`).sort());
  });

  test('the volume endpoint list is every /volume route the app mounts', () => {
    const mounted = mountedRoutes(createApiApp(cloud.api.deps, noauth2)).filter((r) =>
      / \/volume/.test(r),
    );
    assert.deepEqual(mounted, VOLUME_ENDPOINTS.map((ep) => `${ep.method} ${ep.path}`).sort());
  });

  for (const [group, endpoints] of groups) {
    test(`${group}: no 5xx, faults for every 4xx (seed ${SEED})`, async (t) => {
      const statuses = new Map<number, number>();
      const numRuns = Math.max(MIN_RUNS_PER_GROUP, RUNS_PER_ENDPOINT * endpoints.length);
      // Endpoints by name, so that a counterexample prints as data.
      const arbitrary = fc.oneof(
        ...endpoints.map((ep) =>
          planFor(ep).map((plan) => ({ endpoint: `${ep.method} ${ep.path}`, plan })),
        ),
      );
      const property = fc.asyncProperty(arbitrary, async ({ endpoint, plan }) => {
        const ep = endpoints.find((e) => `${e.method} ${e.path}` === endpoint)!;
        const req = materialize(plan, ep, f);
        const res = await send(cloud.url, req);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        checkAnswer(req, res);
        assert.deepEqual(crashes, [], `crashed after ${req.method} ${req.path}`);
        if (mayHaveChangedFixtures(req, res))
          await (NETWORK_PATH.test(req.path)
            ? ensureNetworkFixtures(cloud.request, nf)
            : VOLUME_PATH.test(req.path)
              ? ensureVolumeFixtures(cloud, vf)
              : ensureFixtures(cloud, f));
      });
      try {
        await fc.assert(property, { numRuns, seed: SEED });
      } catch (err) {
        // fast-check's message holds the whole counterexample, long strings and all.
        const message = (err as Error).message;
        throw new Error(
          `replay with FUZZ_SEED=${SEED}\n${message.length > 4000 ? `${message.slice(0, 4000)}…` : message}\ncaused by: ${String((err as Error).cause).slice(0, 2000)}`,
          { cause: (err as Error).cause },
        );
      }
      const alive = await send(cloud.url, { method: 'GET', path: '/v2.1', headers: {} });
      assert.equal(alive.status, 200, 'the API still answers');
      t.diagnostic(
        `${numRuns} runs over ${endpoints.length} endpoints; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
      );
    });
  }

  test('a body over max_request_body_size is 413 overLimit on every route that takes one', async () => {
    const pad = (n: number) => Buffer.from(JSON.stringify({ server: { name: 'x'.repeat(n) } }));
    const over = pad(BODY_LIMIT);
    const targets = ALL_ENDPOINTS.filter(
      (ep) => ep.bodies && ep.contentType !== 'application/octet-stream',
    );
    for (const ep of targets) {
      for (const chunked of [false, true]) {
        const path = fillPath(
          ep.path,
          paramsOf(ep.path, f).map((p) => pct(p.real[0])),
        );
        const headers: Record<string, string> = {
          'x-auth-token': ADMIN,
          'content-type': ep.contentType ?? 'application/json',
        };
        if (chunked) headers['transfer-encoding'] = 'chunked';
        const res = await send(cloud.url, { method: ep.method, path, headers, body: over });
        const what = `${ep.method} ${ep.path}${chunked ? ' (chunked)' : ''}: ${res.text.slice(0, 200)}`;
        assert.equal(res.status, 413, what);
        const fault = JSON.parse(res.text);
        if (IMAGE_PATH.test(path)) assert.equal(fault.code, '413 Payload Too Large', what);
        else if (NETWORK_PATH.test(path))
          assert.equal(fault.NeutronError?.type, 'HTTPRequestEntityTooLarge', what);
        else assert.deepEqual(Object.keys(fault), ['overLimit'], what);
      }
    }
    // At the limit exactly, the body is read and judged on what it says.
    const exact = pad(BODY_LIMIT - pad(0).length);
    assert.equal(exact.length, BODY_LIMIT);
    const res = await send(cloud.url, {
      method: 'POST',
      path: '/v2.1/servers',
      headers: { 'x-auth-token': OWNER, 'content-type': 'application/json' },
      body: exact,
    });
    assert.equal(res.status, 400, res.text.slice(0, 200));
  });

  test('the API still answers and nothing crashed', async () => {
    const r = await send(cloud.url, { method: 'GET', path: '/v2.1', headers: {} });
    assert.equal(r.status, 200);
    assert.deepEqual(crashes, []);
  });
});

describe('image upload size cap', () => {
  test('data over the store size cap is 413, and the image is queued again', async () => {
    const cap = 4096;
    const api = await startTestApi({ images: new FakeImageService(undefined, cap) });
    try {
      const id = await createImage(api, OWNER, 'capped', { queued: true });
      for (const chunked of [false, true]) {
        const headers: Record<string, string> = {
          'x-auth-token': OWNER,
          'content-type': 'application/octet-stream',
        };
        if (chunked) headers['transfer-encoding'] = 'chunked';
        const res = await send(api.url, {
          method: 'PUT',
          path: `/image/v2/images/${id}/file`,
          headers,
          body: Buffer.alloc(cap * 4),
        });
        assert.equal(res.status, 413, res.text);
        assert.match(JSON.parse(res.text).message, /size cap of 4096 bytes/);
        const shown = await api.request('GET', `/image/v2/images/${id}`);
        assert.equal(shown.body.status, 'queued');
      }
      const fits = await send(api.url, {
        method: 'PUT',
        path: `/image/v2/images/${id}/file`,
        headers: { 'x-auth-token': OWNER, 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(cap),
      });
      assert.equal(fits.status, 204, fits.text);
    } finally {
      agent.destroy();
      await api.close();
    }
  });
});
