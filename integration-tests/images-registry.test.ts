/**
 * The image bar for registries, through Debian's unmodified `openstack`
 * CLI against `berth all-in-one` and Debian's docker-registry with basic
 * auth (a private registry; credentials in `[registry] auth_file`): an
 * image pulled with `berth image pull` and one created as a
 * `docker_image_ref` record both boot their entrypoint with env and
 * working directory; wrong credentials give a clear error; a tampered blob
 * puts the instance in ERROR with a checksum fault and nothing cached; 20
 * concurrent builds of one uncached image fetch each blob once; images
 * that share base layers store and unpack them once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { fileOnlyEnv } from './fixtures/berth-processes';
import { berthCli, needsRoot, tempStateDir, waitFor } from './harness';
import { OPENSTACK } from './fixtures/osc';
import { ADMIN, type ImageCloud, startImageCloud } from './fixtures/image-cloud';
import { registryMissing, startRegistry, type TestRegistry } from './fixtures/registry';
import {
  buildOciImage,
  DEFAULT_RUNTIME_CONFIG,
  type OciImage,
  pushOciImage,
} from './fixtures/oci-image';

const run = promisify(execFile);
const skip =
  needsRoot() ??
  registryMissing() ??
  (fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing`);
const GREETING = 'hello from registry in /srv';

// One test at a time: `berth image pull` is a process of its own, and its fetches are not
// single-flight with the compute's; the fetch counts below would then depend on timing.
describe('booting registry images through the openstack CLI', { skip }, () => {
  let registry: TestRegistry;
  let cloud: ImageCloud;
  const dir = tempStateDir('imgreg');
  const built: OciImage[] = [];
  const push = async (repo: string) => {
    // The fixture's workload says hello and exits; an instance that stays up is ACTIVE.
    const image = buildOciImage({
      config: {
        ...DEFAULT_RUNTIME_CONFIG,
        Cmd: ['echo hello from $GREETING in $(pwd); exec sleep 100000'],
      },
    });
    built.push(image);
    const ref = await pushOciImage(image, registry.host, repo, registry);
    return { image, ref };
  };

  before(
    async () => {
      registry = await startRegistry({ auth: 'basic' });
      const authFile = path.join(dir, 'auth.json');
      const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
      fs.writeFileSync(authFile, JSON.stringify({ auths: { [registry.host]: { auth } } }), {
        mode: 0o600,
      });
      cloud = await startImageCloud({
        registry: { insecure_registries: registry.host, auth_file: authFile },
      });
    },
    { timeout: 120_000 },
  );
  after(
    async () => {
      await cloud?.close();
      await registry?.stop();
      for (const image of built) image.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 90_000 },
  );

  const pull = (...args: string[]) =>
    run(process.execPath, [berthCli, 'image', 'pull', '--config', cloud.configFile, ...args], {
      env: fileOnlyEnv(),
    });

  const refRecord = async (t: import('node:test').TestContext, name: string, ref: string) => {
    const image = await cloud.oscJson(t, [
      'image',
      'create',
      name,
      '--container-format',
      'docker',
      '--disk-format',
      'raw',
      '--property',
      `docker_image_ref=${ref}`,
    ]);
    await waitFor(
      `image ${name} active`,
      async () => {
        const r = await cloud.api('GET', `/image/v2/images/${image.id}`, { token: ADMIN });
        assert.notEqual(r.body.status, 'killed', `image ${name} killed`);
        return r.body.status === 'active';
      },
      60_000,
      100,
    );
    return image.id as string;
  };

  test('`berth image pull` imports an image that the CLI lists and boots', async (t) => {
    const { ref } = await push('app/pulled');
    const { stdout } = await pull(ref);
    const id = stdout.trim().split('\n').at(-1)!;
    const list = await cloud.oscJson(t, ['image', 'list']);
    assert.ok(
      list.some((i: { ID: string }) => i.ID === id),
      `image ${id} not listed`,
    );
    const server = await cloud.createServer(t, 'reg-pulled', id);
    await cloud.settled(server);
    await cloud.consoleShows(server, GREETING);
  });

  test('a docker_image_ref record becomes active and boots', async (t) => {
    const { ref } = await push('app/byref');
    const image = await refRecord(t, 'reg-byref', ref);
    const server = await cloud.createServer(t, 'reg-byref', image);
    await cloud.settled(server);
    await cloud.consoleShows(server, GREETING);
  });

  test('wrong credentials are refused with a clear error', async () => {
    const { ref } = await push('app/creds');
    await assert.rejects(
      pull('--username', registry.username, '--password', 'wrong', ref),
      (err: { stderr: string }) => {
        assert.match(err.stderr, /credentials|unauthori[sz]ed|denied/i);
        assert.ok(!err.stderr.includes('wrong'), 'the password is printed');
        return true;
      },
    );
  });

  test('a tampered blob puts the instance in ERROR with a checksum fault and caches nothing', async (t) => {
    const { image, ref } = await push('app/tampered');
    const top = image.layers.at(-1)!;
    registry.tamperBlob(top.digest);
    const id = await refRecord(t, 'reg-tampered', ref);
    const server = await cloud.createServer(t, 'reg-tampered', id);
    const s = await cloud.settled(server, 'ERROR');
    assert.match(s.fault?.message ?? '', /checksum/i);
    const blobs = path.join(cloud.stateDir, 'images', 'blobs', 'sha256');
    assert.ok(!fs.existsSync(path.join(blobs, top.digest.slice(7))), 'the tampered blob is cached');
    assert.deepEqual(
      fs.readdirSync(blobs).filter((n) => n.startsWith('.')),
      [],
      'temporary files left',
    );
  });

  test('20 concurrent builds of one uncached image fetch each blob once', async (t) => {
    const { image, ref } = await push('app/many');
    const id = await refRecord(t, 'reg-many', ref);
    const before = registry.blobGets();
    const created = await cloud.oscJson(t, [
      'server',
      'create',
      'reg-many',
      '--image',
      id,
      '--flavor',
      cloud.flavorId,
      '--min',
      '20',
      '--max',
      '20',
    ]);
    void created;
    const servers = await waitFor(
      '20 servers',
      async () => {
        const r = await cloud.api('GET', '/v2.1/servers/detail?name=reg-many', { token: ADMIN });
        const list = r.body.servers as {
          id: string;
          status: string;
          fault?: { message: string };
        }[];
        const failed = list.find((s) => s.status === 'ERROR');
        if (failed) throw new Error(`server ${failed.id} ERROR: ${failed.fault?.message}`);
        return list.length === 20 && list.every((s) => s.status === 'ACTIVE') ? list : undefined;
      },
      240_000,
      200,
    );
    assert.equal(servers.length, 20);
    const after = registry.blobGets();
    for (const layer of image.layers) {
      const fetched = (after.get(layer.digest) ?? 0) - (before.get(layer.digest) ?? 0);
      assert.ok(fetched <= 1, `blob ${layer.digest} fetched ${fetched} times`);
    }
    const own = image.layers.at(-1)!;
    assert.equal((after.get(own.digest) ?? 0) - (before.get(own.digest) ?? 0), 1);
  });

  test('two images sharing base layers store and unpack them once on the host', async (t) => {
    const a = await push('app/share-a');
    const b = await push('app/share-b');
    const shared = a.image.layers.filter((l) => b.image.layers.some((m) => m.digest === l.digest));
    assert.ok(shared.length >= 1, 'the test images share no layer');
    const lowers: string[][] = [];
    for (const [name, img] of [
      ['reg-share-a', a],
      ['reg-share-b', b],
    ] as const) {
      const id = await refRecord(t, name, img.ref);
      const server = await cloud.createServer(t, name, id);
      await cloud.settled(server);
      const config = JSON.parse(
        fs.readFileSync(path.join(cloud.stateDir, 'containers', server, 'config.json'), 'utf8'),
      ) as { config: { layers: string[] } };
      lowers.push(config.config.layers);
    }
    const gets = registry.blobGets();
    for (const l of shared) {
      // Every test of this file boots these base layers: one fetch in all.
      assert.equal(
        gets.get(l.digest),
        1,
        `shared blob ${l.digest} fetched ${gets.get(l.digest)} times`,
      );
      const dir = path.join(cloud.stateDir, 'images', 'layers', l.diffId.slice(7));
      assert.ok(
        lowers.every((layers) => layers.includes(dir)),
        `both instances stack ${dir}`,
      );
    }
  });
});
