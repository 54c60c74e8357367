import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diagnosticsObject, diagnosticsView } from './diagnostics-object';

const sample = diagnosticsObject({
  state: 'running',
  driver: 'berth',
  hypervisor: 'lxc',
  hypervisor_os: 'linux',
  uptime: 12,
  config_drive: false,
  num_cpus: 1,
  memory: { maximum: 64 << 20, used: 1 << 20 },
  cpus: [{ id: 0, time: 5, utilisation: null }],
  nics: [{ rx_octets: 10, tx_octets: 20 }],
  disks: [{ read_bytes: 1 }],
});

test("the RPC reply is Nova's Diagnostics 1.0 with its nested objects, and only their fields", () => {
  assert.equal(sample['nova_object.name'], 'Diagnostics');
  assert.equal(sample['nova_object.version'], '1.0');
  const d = sample['nova_object.data'] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(Object.keys(d).sort(), [
    'config_drive', 'cpu_details', 'disk_details', 'driver', 'hypervisor', 'hypervisor_os',
    'memory_details', 'nic_details', 'num_cpus', 'num_disks', 'num_nics', 'state', 'uptime',
  ]); // prettier-ignore
  assert.equal(d.memory_details['nova_object.name'], 'MemoryDiagnostics');
  assert.equal(d.cpu_details[0]['nova_object.name'], 'CpuDiagnostics');
  assert.equal(d.nic_details[0]['nova_object.name'], 'NicDiagnostics');
  assert.deepEqual(Object.keys(d.nic_details[0]['nova_object.data']).sort(), [
    'mac_address', 'rx_drop', 'rx_errors', 'rx_octets', 'rx_packets', 'rx_rate',
    'tx_drop', 'tx_errors', 'tx_octets', 'tx_packets', 'tx_rate',
  ]); // prettier-ignore
  assert.equal(d.nic_details[0]['nova_object.data'].rx_drop, null);
  assert.equal(d.disk_details[0]['nova_object.name'], 'DiskDiagnostics');
  assert.deepEqual(d.disk_details[0]['nova_object.data'], {
    read_bytes: 1,
    read_requests: null,
    write_bytes: null,
    write_requests: null,
    errors_count: null,
  });
});

test('the 2.48 view is the object with plain nested dicts', () => {
  const v = diagnosticsView(sample);
  assert.deepEqual(v.memory_details, { maximum: 64 << 20, used: 1 << 20 });
  assert.deepEqual(v.cpu_details, [{ id: 0, time: 5, utilisation: null }]);
  assert.equal((v.nic_details as { tx_octets: number }[])[0].tx_octets, 20);
  assert.equal(v.num_nics, 1);
  assert.deepEqual(diagnosticsView(undefined).cpu_details, []);
});
