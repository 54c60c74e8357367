import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  availableResource,
  hostTotals,
  kernelVersion,
  loggedInUsers,
  uptimeText,
} from './host-resources';

test('uptime text has the shape uptime(1) prints', () => {
  const at = new Date(2024, 0, 2, 6, 39, 15);
  const load = [0.05, 0.594, 1.2];
  assert.equal(
    uptimeText(at, 68 * 60 + 5, load, 0),
    ' 06:39:15 up  1:08,  0 users,  load average: 0.05, 0.59, 1.20',
  );
  assert.equal(
    uptimeText(at, 2 * 86400 + 7 * 60, load, 1),
    ' 06:39:15 up 2 days, 7 min,  1 user,  load average: 0.05, 0.59, 1.20',
  );
  assert.match(uptimeText(), /^ \d\d:\d\d:\d\d up .+ load average: [\d.]+, [\d.]+, [\d.]+$/);
});

test('kernel release to Nova version integer', () => {
  assert.equal(kernelVersion('6.1.0-18-amd64'), 6001000);
  assert.equal(kernelVersion('5.10.209'), 5010209);
  assert.equal(kernelVersion('6.18.44-fc-v657'), 6018044);
});

test('utmp user sessions are counted by record type', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-utmp-'));
  const file = path.join(dir, 'utmp');
  const records = Buffer.alloc(384 * 3);
  records.writeInt16LE(7, 0); // USER_PROCESS
  records.writeInt16LE(2, 384); // BOOT_TIME
  records.writeInt16LE(7, 768);
  fs.writeFileSync(file, records);
  assert.equal(loggedInUsers(file), 2);
  assert.equal(loggedInUsers(path.join(dir, 'missing')), 0);
  fs.rmSync(dir, { recursive: true });
});

test('host totals come from the machine; usage sums every instance', () => {
  const totals = hostTotals(os.tmpdir());
  assert.equal(totals.vcpus, os.cpus().length);
  assert.ok(totals.memoryMb > 0 && totals.localGb >= 0);
  const report = availableResource({
    hostname: 'node-1',
    hypervisorType: 'lxc',
    hypervisorVersion: 1,
    totals,
    instances: [
      { vcpus: 1, memoryMb: 64, rootGb: 1 },
      { vcpus: 2, memoryMb: 512, rootGb: 10 },
    ],
    runningVms: 1,
  });
  assert.deepEqual(
    [report.vcpus_used, report.memory_mb_used, report.local_gb_used, report.running_vms],
    [3, 576, 11, 1],
  );
});
