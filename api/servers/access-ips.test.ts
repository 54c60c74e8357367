import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIPv6 } from './access-ips';

test('IPv6 access addresses read back in netaddr form', () => {
  // Each pair checked against python3-netaddr's str(IPAddress(a)).
  for (const [given, canonical] of [
    ['0000:0000:0000:0000:0000:babe:220.12.22.2', '::babe:dc0c:1602'],
    ['::babe:202:202', '::babe:202:202'],
    ['::FFFF:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:0:1', '::ffff:0.0.0.1'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['2001:DB8:0::1', '2001:db8::1'],
    ['::1', '::1'],
    ['2001:2001::3', '2001:2001::3'],
  ])
    assert.equal(canonicalIPv6(given), canonical, given);
});
