import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import winston from 'winston';
import { LocalImageStore } from '../../driver/image/local-image-store';
import { RegistryImageResolver } from './registry-images';

let dir: string;
let server: http.Server;
let host: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-registry-images-'));
  // A registry that wants credentials nobody has.
  server = http.createServer((_req, res) =>
    res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end(),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('unresolvable records are killed with a log line saying why; others are left alone', async () => {
  const store = new LocalImageStore(dir);
  const lines: string[] = [];
  const log = winston.createLogger({
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _e, done) {
            lines.push(chunk.toString());
            done();
          },
        }),
      }),
    ],
  });
  const resolver = new RegistryImageResolver(
    { insecure_registries: [host], auth_file: '', ca_file: '', max_concurrent_downloads: 1 },
    store,
    log,
  );
  const docker = (ref: string) =>
    store.create({ container_format: 'docker', properties: { docker_image_ref: ref } });
  const badRef = await docker('NOT A REF');
  const refused = await docker(`${host}/private/app:v1`);
  const bare = await store.create({
    container_format: 'bare',
    properties: { docker_image_ref: 'x' },
  });
  for (const r of [badRef, refused, bare]) resolver.maybeStart(r);
  await resolver.idle();
  resolver.close();

  assert.equal((await store.show(badRef.id)).status, 'killed');
  assert.equal((await store.show(refused.id)).status, 'killed');
  assert.equal((await store.show(bare.id)).status, 'queued', 'not a registry record');
  const killed = lines.map((l) => JSON.parse(l)).filter((l) => /killed/.test(l.message));
  assert.equal(killed.length, 2);
  assert.match(killed.find((l) => l.image === badRef.id).error, /invalid image reference/);
  assert.match(
    killed.find((l) => l.image === refused.id).error,
    new RegExp(`registry ${host} refused the credentials for repo private/app`),
  );
});
