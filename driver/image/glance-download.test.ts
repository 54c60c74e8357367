/**
 * Failover, resume and verification of Glance downloads against a small
 * HTTP server that speaks the part of Glance v2 a download uses and
 * misbehaves on request: it cuts a response after N bytes, answers 503,
 * ignores Range, or serves other bytes than its record promises.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { NotFoundError } from '../../common/errors';
import { makeTarFixtures, type TarFixtures } from '../../testing/driver/image-service-conformance';
import { glanceDownload } from './glance-download';
import { GlanceImageService } from './glance-image-service';
import { GlanceServers } from './glance-servers';
import { ImageChecksumError, ImageSourceUnavailable } from './image-errors';
import { LocalImageStore } from './local-image-store';

interface Behaviour {
  /** the first N responses with data end after this many bytes */
  cutAfter?: number;
  cuts?: number;
  /** every request answers 503 */
  unavailable?: boolean;
  /** serves the whole image even when asked for a range */
  ignoreRange?: boolean;
  /** serves these bytes instead of the image's */
  tampered?: Buffer;
}

class FakeGlance {
  readonly requests: { method: string; url: string; range?: string }[] = [];
  behaviour: Behaviour = {};
  url = '';
  private readonly server = http.createServer((req, res) => this.answer(req, res));

  constructor(
    readonly id: string,
    readonly data: Buffer,
  ) {}

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get record() {
    return {
      id: this.id,
      name: 'fake',
      status: 'active',
      container_format: 'bare',
      disk_format: 'raw',
      visibility: 'public',
      size: this.data.length,
      checksum: createHash('md5').update(this.data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(this.data).digest('hex'),
      protected: false,
      tags: [],
    };
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse) {
    this.requests.push({ method: req.method!, url: req.url!, range: req.headers.range });
    const b = this.behaviour;
    if (b.unavailable) return res.writeHead(503).end('down for maintenance');
    if (req.url === `/v2/images/${this.id}`)
      return res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(this.record));
    if (req.url !== `/v2/images/${this.id}/file`) return res.writeHead(404).end('{}');
    const data = b.tampered ?? this.data;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m && !b.ignoreRange ? Number(m[1]) : 0;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/octet-stream',
      'content-length': data.length - start,
    };
    if (start) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    res.writeHead(start ? 206 : 200, headers);
    if (b.cutAfter !== undefined && (b.cuts ?? 0) > 0) {
      b.cuts!--;
      // Cut mid-body, as a dropped connection does: the client sees fewer bytes than announced.
      res.write(data.subarray(start, start + b.cutAfter), () => res.socket?.destroy());
      return;
    }
    res.end(data.subarray(start));
  }
}

/** A loopback port nothing listens on (the kernel's pick, closed again). */
async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

const headers = async () => ({});

describe('glanceDownload', () => {
  const data = Buffer.alloc(1 << 20, 0);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  let glance: FakeGlance;
  let other: FakeGlance;

  before(async () => {
    const id = randomUUID();
    glance = await new FakeGlance(id, data).start();
    other = await new FakeGlance(id, data).start();
  });
  after(async () => {
    await glance.close();
    await other.close();
  });

  const download = (servers: GlanceServers, o: { maxResumes?: number } = {}) =>
    buffer(glanceDownload({ servers, headers, image: glance.record as never, ...o }));

  test('a dropped connection resumes with Range where it stopped, and the whole verifies', async () => {
    glance.requests.length = 0;
    glance.behaviour = { cutAfter: 300_000, cuts: 2 };
    const got = await download(new GlanceServers([glance.url]));
    assert.ok(got.equals(data));
    assert.deepEqual(
      glance.requests.map((r) => r.range),
      [undefined, 'bytes=300000-', 'bytes=600000-'],
    );
  });

  test('a resume moves to the next server', async () => {
    glance.requests.length = 0;
    other.requests.length = 0;
    glance.behaviour = { cutAfter: 100_000, cuts: 1 };
    other.behaviour = {};
    const servers = new GlanceServers([glance.url, other.url]);
    const got = await download(servers);
    assert.ok(got.equals(data));
    assert.deepEqual(
      other.requests.map((r) => r.range),
      ['bytes=100000-'],
    );
    assert.equal(servers.preferred, other.url, 'the server that answered is remembered');
  });

  test('a server that ignores Range: the bytes already had are passed over', async () => {
    glance.behaviour = { cutAfter: 50_000, cuts: 1, ignoreRange: true };
    assert.ok((await download(new GlanceServers([glance.url]))).equals(data));
  });

  test('resumes are bounded', async () => {
    glance.behaviour = { cutAfter: 1000, cuts: 100 };
    await assert.rejects(
      download(new GlanceServers([glance.url]), { maxResumes: 3 }),
      (err: Error) => err instanceof ImageSourceUnavailable && /after 3 resumes/.test(err.message),
    );
  });

  test('unreachable and 5xx servers are skipped, in order', async () => {
    glance.behaviour = { unavailable: true };
    other.behaviour = {};
    const servers = new GlanceServers([await deadUrl(), glance.url, other.url]);
    assert.ok((await download(servers)).equals(data));
    assert.equal(servers.preferred, other.url);
  });

  test('no server answering is ImageSourceUnavailable naming each', async () => {
    glance.behaviour = { unavailable: true };
    const dead = await deadUrl();
    await assert.rejects(download(new GlanceServers([dead, glance.url])), (err: Error) => {
      assert.ok(err instanceof ImageSourceUnavailable);
      assert.match(err.message, /ECONNREFUSED/);
      assert.match(err.message, /503 down for maintenance/);
      return true;
    });
  });

  test('bytes that do not hash to the record fail the stream with a checksum error', async () => {
    const tampered = Buffer.from(data);
    tampered[12345] ^= 1;
    glance.behaviour = { tampered };
    await assert.rejects(
      download(new GlanceServers([glance.url])),
      (err: Error) => err instanceof ImageChecksumError && /checksum/.test(err.message),
    );
  });
});

describe('GlanceImageService downloads into the host store', () => {
  let tars: TarFixtures;
  let cacheRoot: string;
  let glance: FakeGlance;

  before(async () => {
    tars = makeTarFixtures();
    cacheRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-glance-dl-'));
    glance = await new FakeGlance(randomUUID(), fs.readFileSync(tars.one)).start();
  });
  after(async () => {
    await glance.close();
    fs.rmSync(cacheRoot, { recursive: true, force: true });
    fs.rmSync(tars.dir, { recursive: true, force: true });
  });

  test('tampered data: ImageChecksumError and nothing kept in the store', async () => {
    const cache = new LocalImageStore(cacheRoot);
    const service = new GlanceImageService({ endpoint: glance.url, cache });
    const tampered = Buffer.from(glance.data);
    tampered[600] ^= 1;
    glance.behaviour = { tampered };
    await assert.rejects(service.prepare(glance.id), ImageChecksumError);
    await assert.rejects(cache.show(glance.id), NotFoundError);
    assert.deepEqual(await cache.list(), []);
  });

  test('a download cut part-way, over two listed servers, boots from the store', async () => {
    const cache = new LocalImageStore(cacheRoot);
    const dead = await deadUrl();
    const service = new GlanceImageService({ endpoint: `${dead}/,${glance.url}`, cache });
    glance.behaviour = { cutAfter: 700, cuts: 1 };
    const {
      layers: [lower],
    } = await service.prepare(glance.id);
    assert.equal(fs.readFileSync(path.join(lower, 'etc', 'marker'), 'utf8'), 'one');
    assert.equal((await cache.show(glance.id)).status, 'active');
  });
});
