/**
 * The embedded image API as the real Debian openstack client uses it:
 * `openstack image create --file`, list, show, set, save and delete
 * against `berth api`'s router on an ephemeral port, over a real
 * LocalImageStore. Skips when python3-openstackclient is not installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startTestApi, type TestApi } from '../testing/api/test-api';
import { makeTarFixtures, type TarFixtures } from '../testing/driver/image-service-conformance';
import { LocalImageStore } from '../driver/image/local-image-store';
import { tempStateDir } from './harness';

const OPENSTACK = '/usr/bin/openstack';
const run = promisify(execFile);

describe(
  'openstack image … against berth api',
  { skip: fs.existsSync(OPENSTACK) ? undefined : `${OPENSTACK} missing (python3-openstackclient)` },
  () => {
    let api: TestApi;
    let store: LocalImageStore;
    let dir: string;
    let tars: TarFixtures;

    before(async () => {
      dir = tempStateDir('image-api');
      tars = makeTarFixtures();
      store = new LocalImageStore(path.join(dir, 'images'));
      api = await startTestApi({ images: store });
      // admin_token sends a fixed X-Auth-Token: noauth2's "user:project".
      fs.writeFileSync(
        path.join(dir, 'clouds.yaml'),
        [
          'clouds:',
          '  berth:',
          '    auth_type: admin_token',
          '    auth:',
          `      endpoint: ${api.url}/v2.1`,
          '      token: demo:demo',
          `    compute_endpoint_override: ${api.url}/v2.1`,
          `    image_endpoint_override: ${api.url}/image`,
          '',
        ].join('\n'),
      );
    });

    after(async () => {
      await api?.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(tars.dir, { recursive: true, force: true });
    });

    /** The client must not block this process: the API it talks to runs here. */
    async function openstack(...args: string[]): Promise<string> {
      const { stdout } = await run(OPENSTACK, ['--os-cloud', 'berth', ...args], {
        env: { ...process.env, OS_CLIENT_CONFIG_FILE: path.join(dir, 'clouds.yaml') },
        timeout: 60000,
      });
      return stdout;
    }
    const json = async (...args: string[]) => JSON.parse(await openstack(...args, '-f', 'json'));

    test('create --file, list, show, set, save and delete', async () => {
      const created = await json(
        'image',
        'create',
        '--file',
        tars.one,
        '--disk-format',
        'raw',
        '--container-format',
        'bare',
        '--property',
        'os_command_line=sleep 5',
        'osc-image',
      );
      const id = created.id as string;
      const record = await store.show(id);
      assert.equal(record.status, 'active');
      assert.equal(record.owner, 'demo');
      assert.equal(
        record.os_hash_value,
        createHash('sha512').update(fs.readFileSync(tars.one)).digest('hex'),
      );
      assert.equal(record.properties.os_command_line, 'sleep 5');

      const listed = await json('image', 'list');
      assert.deepEqual(
        listed.map((i: { Name: string; Status: string }) => [i.Name, i.Status]),
        [['osc-image', 'active']],
      );

      const shown = await json('image', 'show', 'osc-image');
      assert.equal(shown.id, id);
      assert.equal(
        shown.checksum,
        createHash('md5').update(fs.readFileSync(tars.one)).digest('hex'),
      );
      assert.equal(shown.size, fs.statSync(tars.one).size);

      await openstack(
        'image',
        'set',
        '--name',
        'osc-renamed',
        '--min-ram',
        '32',
        '--property',
        'hw_architecture=x86_64',
        'osc-image',
      );
      const updated = await store.show(id);
      assert.equal(updated.name, 'osc-renamed');
      assert.equal(updated.min_ram, 32);
      assert.equal(updated.properties.hw_architecture, 'x86_64');

      const saved = path.join(dir, 'saved.tar');
      await openstack('image', 'save', '--file', saved, 'osc-renamed');
      assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(tars.one)));

      // Nova's client resolves the name through the image endpoint, then sends the id.
      const server = await json(
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        'osc-renamed',
        'osc-vm',
      );
      assert.match(String(server.image), new RegExp(id));

      await openstack('image', 'delete', 'osc-renamed');
      assert.deepEqual(await store.list(), []);
      await assert.rejects(
        openstack('image', 'show', id),
        /No Image found|Could not find|not found/i,
      );
    });
  },
);
