import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import winston from 'winston';
import { pullProgress } from './pull-progress';

const D = (c: string) => `sha256:${c.repeat(64)}`;

function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _e, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  (stream as { isTTY?: boolean }).isTTY = isTTY;
  return { stream, text: () => text };
}

test('on a terminal: one line per blob, redrawn in place with bytes and rate', () => {
  const out = sink(true);
  const p = pullProgress(out.stream, winston.createLogger({ silent: true }));
  p.onProgress({
    blob: 0,
    digest: D('a'),
    done: 1 << 20,
    total: 2 << 20,
    rate: 1 << 20,
    state: 'fetching',
  });
  p.onProgress({ blob: 'config', digest: D('b'), done: 10, total: 10, rate: 10, state: 'cached' });
  p.onProgress({
    blob: 0,
    digest: D('a'),
    done: 2 << 20,
    total: 2 << 20,
    rate: 1 << 20,
    state: 'done',
  });
  p.finish();
  const text = out.text();
  assert.match(text, /layer 0 {2}aaaaaaaaaaaa {2}1\.0 MiB \/ 2\.0 MiB {2}1\.0 MiB\/s/);
  assert.match(text, /config {3}bbbbbbbbbbbb {2}already here/);
  assert.ok(text.includes('\x1b[2A'), 'moves the cursor up over the two lines it drew');
  assert.match(text, /2\.0 MiB \/ 2\.0 MiB {2}1\.0 MiB\/s {2}done/);
});

test('elsewhere: log lines when a blob starts and ends, nothing on the stream', () => {
  const out = sink(false);
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
  const p = pullProgress(out.stream, log);
  for (const done of [1, 2, 3])
    p.onProgress({
      blob: 1,
      digest: D('c'),
      done,
      total: 3,
      rate: 3,
      state: done < 3 ? 'fetching' : 'done',
    });
  p.finish();
  assert.equal(out.text(), '');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /pulling blob/);
  const end = JSON.parse(lines[1]);
  assert.equal(end.message, 'blob pulled');
  assert.equal(end.bytes_per_second, 3);
  assert.equal(end.bytes, 3);
});
