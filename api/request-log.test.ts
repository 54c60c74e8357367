import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import express from 'express';
import winston from 'winston';
import { logRequests } from './request-log';

test('every answered request is logged with its method, URL, status and request id', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = winston.createLogger({
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk, _encoding, done) {
            lines.push(JSON.parse(chunk.toString()));
            done();
          },
        }),
      }),
    ],
  });
  const app = express();
  app.use((_req, res, next) => {
    res.locals.requestId = 'req-1';
    next();
  });
  app.use(logRequests(log));
  app.get('/v2.1/limits', (_req, res) => res.json({}));
  app.use((_req, res) => res.status(404).json({ itemNotFound: {} }));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal((await fetch(`${base}/v2.1/limits?reserved=1`)).status, 200);
    assert.equal((await fetch(`${base}/v2.1/nothing`, { method: 'DELETE' })).status, 404);
  } finally {
    server.close();
  }
  const seen = lines.map(({ message, request_id, method, url, status }) => ({
    message,
    request_id,
    method,
    url,
    status,
  }));
  assert.deepEqual(seen, [
    {
      message: 'request',
      request_id: 'req-1',
      method: 'GET',
      url: '/v2.1/limits?reserved=1',
      status: 200,
    },
    {
      message: 'request',
      request_id: 'req-1',
      method: 'DELETE',
      url: '/v2.1/nothing',
      status: 404,
    },
  ]);
  assert.ok(lines.every((l) => typeof l.duration_ms === 'number'));
});
