/**
 * Registry images as records, against Debian's real docker-registry:
 * `berth image pull` stores the blobs and an active docker image the
 * image API then lists; a record created through the image API with
 * docker_image_ref becomes active once resolved, or killed when it
 * cannot be.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalImageStore } from '../driver/image/local-image-store';
import { startTestApi, type TestApi } from '../testing/api/test-api';
import {
  buildOciImage,
  DEFAULT_RUNTIME_CONFIG,
  pushOciImage,
  type OciImage,
} from './fixtures/oci-image';
import { registryMissing, startRegistry, type TestRegistry } from './fixtures/registry';
import { berthCli, imageDir, tempStateDir, waitFor } from './harness';

const skip =
  registryMissing() ??
  (fs.existsSync(imageDir) ? undefined : `test image missing (${imageDir}); run scripts/build.sh`);

/** `berth image ARGS` as a child that does not block this process (the registry's tests run here). */
function berth(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [berthCli, 'image', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('registry images as image records', { skip }, () => {
  let reg: TestRegistry;
  let image: OciImage;
  let ref: string;
  let stateDir: string;

  before(async () => {
    stateDir = tempStateDir('registry-image');
    reg = await startRegistry({ auth: 'basic' });
    image = buildOciImage({ platforms: ['linux/amd64', 'linux/arm64'] });
    ref = await pushOciImage(image, reg.host, 'apps/busybox', reg);
  });
  after(async () => {
    await reg?.stop();
    image?.remove();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  test('berth image pull: blobs in the store, an active docker record, listed by the image API', async () => {
    const env = {
      BERTH_DEFAULT_STATE_PATH: stateDir,
      BERTH_REGISTRY_INSECURE_REGISTRIES: reg.host,
    };
    const pulled = await berth(
      ['pull', '--username', reg.username, '--password', reg.password, ref],
      env,
    );
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /^[0-9a-f-]{36}\n$/);
    assert.match(
      pulled.stderr,
      /blob pulled/,
      'progress lines go to the log when not on a terminal',
    );
    assert.ok(!pulled.stderr.includes(reg.password), 'the password is not logged');
    const id = pulled.stdout.trim();
    const root = path.join(stateDir, 'images');
    for (const d of [image.configDigest, ...image.layers.map((l) => l.digest)])
      assert.ok(fs.existsSync(path.join(root, 'blobs', 'sha256', d.slice(7))), `${d} stored`);

    const record = await new LocalImageStore(root).show(id);
    assert.equal(record.status, 'active');
    assert.equal(record.name, ref);
    assert.equal(record.container_format, 'docker');
    assert.equal(record.disk_format, 'raw');
    assert.equal(record.size, null);
    assert.equal(record.properties.docker_image_ref, ref);
    assert.equal(record.properties.docker_image_digest, image.manifestDigest);
    assert.deepEqual(
      JSON.parse(record.properties.berth_layers),
      image.layers.map((l) => ({
        digest: l.digest,
        size: l.size,
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        diffId: l.diffId,
      })),
    );
    assert.deepEqual(record.config, {
      entrypoint: DEFAULT_RUNTIME_CONFIG.Entrypoint,
      cmd: DEFAULT_RUNTIME_CONFIG.Cmd,
      env: DEFAULT_RUNTIME_CONFIG.Env,
      workingDir: DEFAULT_RUNTIME_CONFIG.WorkingDir,
      user: DEFAULT_RUNTIME_CONFIG.User,
    });

    const shown = await berth(['show', id], env);
    assert.match(shown.stdout, /^container_format\s+docker$/m);
    assert.match(shown.stdout, /^working_dir\s+\/srv$/m);

    const api = await startTestApi({ images: new LocalImageStore(root) });
    try {
      const list = await api.request('GET', '/image/v2/images');
      const listed = list.body.images.find((i: { id: string }) => i.id === id);
      assert.ok(listed, 'the image API lists the pulled image');
      assert.equal(listed.status, 'active');
      assert.equal(listed.docker_image_digest, image.manifestDigest);
      assert.equal(JSON.parse(listed.berth_config).workingDir, '/srv');
    } finally {
      await api.close();
    }
  });

  test('berth image pull refusals: wrong credentials, no such tag, a malformed reference; nothing recorded', async () => {
    const otherState = tempStateDir('registry-image-refused');
    const env = {
      BERTH_DEFAULT_STATE_PATH: otherState,
      BERTH_REGISTRY_INSECURE_REGISTRIES: reg.host,
    };
    try {
      const cases: [string[], RegExp][] = [
        [
          ['pull', '--username', reg.username, '--password', 'wrong', ref],
          new RegExp(`registry ${reg.host} refused the credentials for repo apps/busybox`),
        ],
        [
          [
            'pull',
            '--username',
            reg.username,
            '--password',
            reg.password,
            `${reg.host}/apps/busybox:nope`,
          ],
          /nope: not found in registry/,
        ],
        [['pull', 'Not/A/Valid:Ref!'], /invalid image reference/],
        [['pull', '--username', 'u', ref], /--username and --password go together/],
        [['pull'], /missing REF/],
      ];
      for (const [args, message] of cases) {
        const r = await berth(args, env);
        assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      }
      assert.deepEqual(await new LocalImageStore(path.join(otherState, 'images')).list(), []);
    } finally {
      fs.rmSync(otherState, { recursive: true, force: true });
    }
  });

  describe('through the image API', () => {
    let api: TestApi;
    let apiState: string;
    before(async () => {
      apiState = tempStateDir('registry-image-api');
      const authFile = path.join(apiState, 'auth.json');
      const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
      fs.writeFileSync(authFile, JSON.stringify({ auths: { [reg.host]: { auth } } }));
      api = await startTestApi({
        images: new LocalImageStore(path.join(apiState, 'images')),
        config: { registry: { insecure_registries: reg.host, auth_file: authFile } },
      });
    });
    after(async () => {
      await api?.close();
      fs.rmSync(apiState, { recursive: true, force: true });
    });

    const create = async (dockerRef: string) => {
      const res = await api.request('POST', '/image/v2/images', {
        token: 'admin:admin',
        body: {
          name: 'from-registry',
          container_format: 'docker',
          disk_format: 'raw',
          docker_image_ref: dockerRef,
        },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string; status: string };
    };
    const settled = (id: string) =>
      waitFor(`image ${id} settled`, async () => {
        const { body } = await api.request('GET', `/image/v2/images/${id}`, {
          token: 'admin:admin',
        });
        return body.status === 'queued' ? undefined : body;
      });

    test('a docker_image_ref record becomes active with its digest, layers and config', async () => {
      const created = await create(ref);
      assert.equal(created.status, 'queued', 'create answers before the registry is asked');
      const image_ = await settled(created.id);
      assert.equal(image_.status, 'active');
      assert.equal(image_.docker_image_ref, ref);
      assert.equal(image_.docker_image_digest, image.manifestDigest);
      assert.equal(JSON.parse(image_.berth_layers).length, image.layers.length);
      assert.deepEqual(JSON.parse(image_.berth_config).env, DEFAULT_RUNTIME_CONFIG.Env);
      assert.equal(image_.size, null);
    });

    test('a record whose reference cannot be resolved is killed', async () => {
      for (const bad of [
        `${reg.host}/apps/busybox:missing`,
        'NOT A REF',
        `${reg.host}/secret/none:v1`,
      ]) {
        const created = await create(bad);
        const image_ = await settled(created.id);
        assert.equal(image_.status, 'killed', bad);
      }
    });
  });
});
