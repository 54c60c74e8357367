import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildVif } from '../testing/network/vif-builder';
import { infoCachePrimitive, parseInfoCache, parseInstance } from './instance-object';

// The info_cache of the build_and_run_instance Nova Zed's own rpcapi sent
// (python3-nova 26.2.2, captured off the broker): network_info is a JSON string.
const GENUINE_INFO_CACHE = {
  'nova_object.name': 'InstanceInfoCache',
  'nova_object.namespace': 'nova',
  'nova_object.version': '1.5',
  'nova_object.data': {
    instance_uuid: '5f0c6d4e-8b1a-4c2d-9e3f-a1b2c3d4e5f6',
    network_info: '[]',
    created_at: '2026-11-22T05:04:44Z',
    updated_at: null,
    deleted_at: null,
    deleted: false,
  },
};

const instance = (data: Record<string, unknown>) => ({
  'nova_object.name': 'Instance',
  'nova_object.namespace': 'nova',
  'nova_object.version': '2.7',
  'nova_object.data': {
    uuid: '5f0c6d4e-8b1a-4c2d-9e3f-a1b2c3d4e5f6',
    vcpus: 1,
    memory_mb: 64,
    root_gb: 1,
    ...data,
  },
});

test("Nova's own info_cache parses, as no ports; an instance without one has none either", () => {
  assert.deepEqual(
    parseInstance(instance({ info_cache: GENUINE_INFO_CACHE })).spec.networkInfo,
    [],
  );
  assert.deepEqual(parseInstance(instance({})).spec.networkInfo, []);
});

test("berth's info_cache is Nova's object, and its VIFs come back as sent", () => {
  const vifs = [buildVif({ ip: '10.0.0.7' }), buildVif({ ip: '10.1.0.8', cidr: '10.1.0.0/24' })];
  const ours = infoCachePrimitive(GENUINE_INFO_CACHE['nova_object.data'].instance_uuid, vifs);
  for (const key of ['nova_object.name', 'nova_object.namespace', 'nova_object.version'] as const)
    assert.equal(ours[key], GENUINE_INFO_CACHE[key]);
  assert.equal(typeof ours['nova_object.data'].network_info, 'string');
  assert.equal(
    ours['nova_object.data'].instance_uuid,
    GENUINE_INFO_CACHE['nova_object.data'].instance_uuid,
  );
  assert.deepEqual(parseInfoCache(ours), vifs);
  assert.deepEqual(parseInstance(instance({ info_cache: ours })).spec.networkInfo, vifs);
});

test('an info_cache that is not one is refused with a reason', () => {
  const bad = (data: Record<string, unknown>, name = 'InstanceInfoCache') => ({
    ...GENUINE_INFO_CACHE,
    'nova_object.name': name,
    'nova_object.data': data,
  });
  assert.throws(() => parseInfoCache(bad({}, 'Flavor')), /expected an InstanceInfoCache/);
  assert.throws(() => parseInfoCache(bad({ network_info: [] })), /not a JSON string/);
  assert.throws(() => parseInfoCache(bad({ network_info: '[' })), /not JSON/);
  assert.throws(() => parseInfoCache(bad({ network_info: '[{"id": "p"}]' })), /network_info/);
});
