/**
 * berth api with `[glance] api_servers` set: server create looks the image
 * up in that Glance with the caller's own token under Keystone (as Nova
 * does), and the embedded image API is not served.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { GlanceImageService } from '../../driver/image/glance-image-service';
import { startTestApi, type TestApi } from '../../testing/api/test-api';
import type { Authenticator } from '../auth/authenticator';

const IMAGE = randomUUID();

/** Answers GET /v2/images/IMAGE with an active public image and records each token it saw. */
function fakeGlance() {
  const tokens: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    tokens.push(req.headers['x-auth-token'] as string | undefined);
    if (req.url !== `/v2/images/${IMAGE}`) return res.writeHead(404).end('{"message":"no"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: IMAGE,
        name: 'from-glance',
        status: 'active',
        visibility: 'public',
        container_format: 'bare',
        disk_format: 'raw',
        size: 10,
        tags: [],
      }),
    );
  });
  return { server, tokens };
}

/** Keystone as the API sees it: any token is a member of project p1. */
const keystoneLike: Authenticator = {
  authenticate: async () => ({ userId: 'u1', projectId: 'p1', roles: ['member'], isAdmin: false }),
};

describe('berth api with an external Glance (keystone mode)', () => {
  const glance = fakeGlance();
  let api: TestApi;

  before(async () => {
    await new Promise<void>((resolve) => glance.server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(glance.server.address() as net.AddressInfo).port}`;
    api = await startTestApi({
      config: { api: { auth_strategy: 'keystone' } },
      glance: new GlanceImageService({ endpoint: url, token: 'service-token' }),
      auth: keystoneLike,
    });
  });
  after(async () => {
    await api.close();
    await new Promise((resolve) => glance.server.close(resolve));
  });

  test("server create asks Glance for the image with the caller's token", async () => {
    glance.tokens.length = 0;
    const r = await api.request('POST', '/v2.1/servers', {
      token: 'users-own-token',
      body: { server: { name: 'vm', imageRef: IMAGE, flavorRef: '1' } },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(glance.tokens[0], 'users-own-token');
  });

  test('an image Glance does not have is a 400 naming it', async () => {
    const missing = randomUUID();
    const r = await api.request('POST', '/v2.1/servers', {
      token: 'users-own-token',
      body: { server: { name: 'vm', imageRef: missing, flavorRef: '1' } },
    });
    assert.equal(r.status, 400);
    assert.match(JSON.stringify(r.body), new RegExp(`Image ${missing} could not be found`));
  });

  test('the embedded image API is not served', async () => {
    const r = await api.request('GET', '/image/v2/images', { token: 'users-own-token' });
    assert.equal(r.status, 404);
  });
});
