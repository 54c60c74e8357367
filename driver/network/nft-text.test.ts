import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nftCheckSkip, nftComplaint } from '../../testing/driver/nft-check';
import { defaultGroup, rule } from '../../testing/driver/network-fixtures';
import { hostFilterScript, networkFilterScript, portFilterScript } from './nft-host';
import { routerNatScript } from './nft-router';
import { instanceFilterScript, ruleMatch } from './nft-security-groups';

const port = {
  portId: 'p1',
  tap: 'btp1',
  mac: 'FA:16:3E:00:00:01',
  ips: ['10.0.0.5'],
  pairs: [{ ipAddress: '10.0.9.0/24', macAddress: 'fa:16:3e:00:00:99' }],
  portSecurity: true,
};

const router = {
  id: 'r1',
  externalGateway: { networkId: 'public', ip: '172.24.4.10', enableSnat: true },
  interfaces: [],
  routes: [],
};
const fip = { id: 'f1', ip: '172.24.4.20', portId: 'p1', fixedIp: '10.0.0.5', routerId: 'r1' };
const pf = {
  id: 'pf1',
  floatingIpId: 'f2',
  externalIp: '172.24.4.21',
  externalPort: 2222,
  internalIp: '10.0.0.6',
  internalPort: 22,
  internalPortId: 'p2',
  protocol: 'tcp' as const,
  routerId: 'r1',
};

test('a rule becomes one match: protocol, port range, ICMP type and code, remote prefix or group', () => {
  assert.equal(
    ruleMatch(
      rule('a', 'ingress', {
        protocol: 'tcp',
        portRangeMin: 22,
        portRangeMax: 25,
        remoteIpPrefix: '192.0.2.0/24',
      }),
    ),
    'meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto tcp tcp dport 22-25',
  );
  assert.equal(
    ruleMatch(rule('b', 'egress', { protocol: 'udp', portRangeMin: 53, portRangeMax: 53 })),
    'meta nfproto ipv4 meta l4proto udp udp dport 53',
  );
  assert.equal(
    ruleMatch(rule('c', 'ingress', { protocol: 'icmp', portRangeMin: 8, portRangeMax: 0 })),
    'meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0',
  );
  assert.equal(
    ruleMatch(rule('d', 'ingress', { protocol: '47', remoteGroupId: 'g-1' })),
    'meta nfproto ipv4 ip saddr @sg_g_1 meta l4proto 47',
  );
  assert.equal(ruleMatch({ ...rule('e', 'ingress', {}), ethertype: 'IPv6' }), null);
});

test("an instance's table: stateful, per-interface chains, remote groups as sets, closed by default", () => {
  const script = instanceFilterScript(
    [
      { ifname: 'eth0', portSecurity: true, groupIds: ['sg'] },
      { ifname: 'eth1', portSecurity: false, groupIds: [] },
    ],
    [defaultGroup('sg', ['10.0.0.5', '10.0.0.6'])],
  );
  assert.match(script, /set sg_sg \{[^}]*elements = \{ 10\.0\.0\.5, 10\.0\.0\.6 \}/);
  assert.match(script, /ct state established,related accept/);
  assert.match(script, /chain in_eth0 \{\n\s+meta nfproto ipv4 ip saddr @sg_sg accept\n\s+drop\n/);
  assert.match(
    script,
    /chain out_eth0 \{\n\s+udp sport 68 udp dport 67 accept\n\s+meta nfproto ipv4 accept\n\s+drop/,
  );
  assert.match(script, /chain in_eth1 \{\n\s+accept\n/);
  assert.match(script, /^table inet berth \{\}\ndelete table inet berth\n/);
});

test('a port with no group lets nothing new in or out but its DHCP request', () => {
  const script = instanceFilterScript([{ ifname: 'eth0', portSecurity: true, groupIds: [] }], []);
  assert.match(script, /chain in_eth0 \{\n\s+drop\n/);
  assert.match(script, /chain out_eth0 \{\n\s+udp sport 68 udp dport 67 accept\n\s+drop\n/);
});

test('anti-spoofing names the MACs and addresses a port may use, pairs included', () => {
  const script = portFilterScript('b', port);
  assert.match(script, /^add element bridge b_ports taps \{ "btp1" : jump port_p1 \}$/m);
  assert.match(script, /^flush chain bridge b_ports port_p1$/m);
  assert.match(script, /port_p1 ether saddr != \{ fa:16:3e:00:00:01, fa:16:3e:00:00:99 \} drop/);
  assert.match(script, /port_p1 ether type ip ip saddr != \{ 10\.0\.0\.5, 10\.0\.9\.0\/24 \} drop/);
  assert.match(script, /arp saddr ip != \{ 10\.0\.0\.5, 10\.0\.9\.0\/24 \} drop/);
  const open = portFilterScript('b', { ...port, portSecurity: false });
  assert.match(open, /^delete chain bridge b_ports port_p1$/m);
  assert.doesNotMatch(open, /add rule bridge b_ports port_p1/);
});

test('router NAT: port forwarding before 1:1 floating IPs, SNAT to the gateway for the rest', () => {
  const script = routerNatScript(router, ['10.0.0.0/24'], [fip], [pf]);
  const dnat = script.indexOf('ip daddr 172.24.4.21 tcp dport 2222 dnat to 10.0.0.6:22');
  assert.ok(dnat > 0 && dnat < script.indexOf('ip daddr 172.24.4.20 dnat to 10.0.0.5'));
  assert.match(script, /oifname "up0" ip saddr 10\.0\.0\.5 snat to 172\.24\.4\.20/);
  assert.match(script, /oifname "up0" ip saddr \{ 10\.0\.0\.0\/24 \} snat to 172\.24\.4\.10/);
  const noSnat = routerNatScript(
    { ...router, externalGateway: { ...router.externalGateway, enableSnat: false } },
    ['10.0.0.0/24'],
    [],
    [],
  );
  assert.doesNotMatch(noSnat, /snat to/);
});

test('every script is valid nft', { skip: nftCheckSkip }, () => {
  const scripts = [
    instanceFilterScript(
      [{ ifname: 'eth0', portSecurity: true, groupIds: ['sg', 'web'] }],
      [
        defaultGroup('sg', ['10.0.0.5']),
        {
          id: 'web',
          memberIps: [],
          rules: [
            rule('w', 'ingress', {
              protocol: 'tcp',
              portRangeMin: 80,
              portRangeMax: 80,
              remoteGroupId: 'other',
            }),
            rule('i', 'ingress', { protocol: 'icmp', portRangeMin: 8 }),
          ],
        },
      ],
    ),
    portFilterScript('b', port),
    portFilterScript('b', { ...port, ips: [], pairs: [] }),
    networkFilterScript('b', 'n1', 'bxn1', {
      macs: ['fa:16:3e:00:00:01'],
      ips: ['10.0.0.1', '10.0.0.2'],
    }),
    hostFilterScript('b', ['169.254.64.1']),
    hostFilterScript('b', []),
    routerNatScript(router, ['10.0.0.0/24', '10.0.1.0/24'], [fip], [pf]),
  ];
  for (const s of scripts) assert.equal(nftComplaint(s), '');
  // Applying one twice replaces it: the script starts by removing its own table.
  assert.equal(nftComplaint(scripts[1] + scripts[1]), '');
});
