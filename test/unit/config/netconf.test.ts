import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatCidr, formatIpv4 } from '../../../src/ip/ipv4.ts';
import { formatCidr6, formatIpv6 } from '../../../src/ip/ipv6.ts';
import { ConfigError } from '../../../src/config/config-error.ts';
import { parseNetConf, readNetConf } from '../../../src/config/netconf.ts';

const SRC = 'net-conf.json';
const NET = '"Network": "10.244.0.0/16"';

function parse(text: string) {
  return parseNetConf(text, SRC);
}

function errorOf(text: string): ConfigError {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`parsed without error: ${text}`);
}

describe('parseNetConf defaults and overrides (upstream config_test)', () => {
  it('10.3.0.0/16 defaults to len 24, min 10.3.1.0, max 10.3.255.0', () => {
    const c = parse('{ "network": "10.3.0.0/16" }');
    expect(formatCidr(c.network!)).toBe('10.3.0.0/16');
    expect(c.subnetLen).toBe(24);
    expect(formatIpv4(c.subnetMin!)).toBe('10.3.1.0');
    expect(formatIpv4(c.subnetMax!)).toBe('10.3.255.0');
  });

  it('explicit SubnetLen, SubnetMin, SubnetMax are kept', () => {
    const c = parse('{ "Network": "10.3.0.0/16", "SubnetMin": "10.3.5.0", "SubnetMax": "10.3.8.0", "SubnetLen": 28 }');
    expect(c.subnetLen).toBe(28);
    expect(formatIpv4(c.subnetMin!)).toBe('10.3.5.0');
    expect(formatIpv4(c.subnetMax!)).toBe('10.3.8.0');
  });

  it.each([
    ['10.0.0.0/8', 24, '10.0.1.0', '10.255.255.0'],
    ['10.244.0.0/22', 24, '10.244.1.0', '10.244.3.0'],
    ['10.244.0.0/23', 25, '10.244.0.128', '10.244.1.128'],
    ['10.244.0.0/28', 30, '10.244.0.4', '10.244.0.12'],
  ])('Network %s → SubnetLen %i, min %s, max %s', (net, len, min, max) => {
    const c = parse(`{"Network": "${net}"}`);
    expect(c.subnetLen).toBe(len);
    expect(formatIpv4(c.subnetMin!)).toBe(min);
    expect(formatIpv4(c.subnetMax!)).toBe(max);
  });

  it('defaults: IPv4 on, IPv6 and nftables off, udp on port 8285 when Backend is absent', () => {
    expect(parse(`{${NET}}`)).toEqual({
      enableIPv4: true,
      enableIPv6: false,
      enableNFTables: false,
      network: { ip: 0x0af40000, prefixLen: 16 },
      subnetLen: 24,
      subnetMin: 0x0af40100,
      subnetMax: 0x0af4ff00,
      ipv6SubnetLen: 0,
      backend: { type: 'udp', port: 8285 },
      backendDefaulted: true,
      warnings: [],
    });
  });

  it('masks Network to its network address', () => {
    expect(formatCidr(parse('{"Network": "10.244.1.5/16"}').network!)).toBe('10.244.0.0/16');
  });

  it('vxlan defaults: VNI 1, Port 0, MTU 0, flags false', () => {
    expect(parse(`{${NET}, "Backend": {"Type": "vxlan"}}`).backend).toEqual({
      type: 'vxlan',
      vni: 1,
      port: 0,
      mtu: 0,
      gbp: false,
      learning: false,
      directRouting: false,
    });
  });

  it('vxlan overrides', () => {
    const c = parse(`{${NET}, "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789, "MTU": 9000, "GBP": true, "Learning": true, "DirectRouting": true}}`);
    expect(c.backend).toEqual({ type: 'vxlan', vni: 4096, port: 4789, mtu: 9000, gbp: true, learning: true, directRouting: true });
    expect(c.backendDefaulted).toBe(false);
  });

  it('udp port override, host-gw', () => {
    expect(parse(`{${NET}, "Backend": {"Type": "udp", "Port": 9000}}`).backend).toEqual({ type: 'udp', port: 9000 });
    expect(parse(`{${NET}, "Backend": {"Type": "host-gw"}}`).backend).toEqual({ type: 'host-gw' });
  });

  it('matches keys case-insensitively at every level and lower-cases the type', () => {
    const c = parse('{"NETWORK": "10.5.0.0/16", "enablenftables": true, "subnetlen": 26, "backend": {"TYPE": "VxLaN", "vni": 7, "directrouting": true, "Gbp": true}}');
    expect(formatCidr(c.network!)).toBe('10.5.0.0/16');
    expect(c.enableNFTables).toBe(true);
    expect(c.subnetLen).toBe(26);
    expect(c.backend).toEqual({ type: 'vxlan', vni: 7, port: 0, mtu: 0, gbp: true, learning: false, directRouting: true });
  });

  it('ignores unknown keys, also inside Backend', () => {
    const c = parse(`{${NET}, "Comment": [1, {"x": null}], "Backend": {"Type": "vxlan", "MacPrefix": "0E-2A", "Name": "x"}}`);
    expect(c.backend.type).toBe('vxlan');
  });

  it('checks IPv6 fields for form while EnableIPv6 is false, and keeps none of them', () => {
    const c = parse(`{${NET}, "IPv6Network": "FC00:0:0:0::5/48", "IPv6SubnetLen": 64, "IPv6SubnetMin": "fc00:0:0:1::", "IPv6SubnetMax": "fc00:0:0:ffff::"}`);
    expect(c.enableIPv6).toBe(false);
    expect(c.ipv6Network).toBeUndefined();
    expect(c.ipv6SubnetLen).toBe(0);
  });

  it('a duplicate unknown key differing in case is not our business', () => {
    expect(() => parse(`{${NET}, "foo": 1, "FOO": 2}`)).not.toThrow();
  });
});

describe('parseNetConf IPv6 defaults and overrides (upstream config_test)', () => {
  const v6 = (extra: string) => parse(`{${NET}, "EnableIPv6": true, "Backend": {"Type": "vxlan"}, ${extra}}`);

  it('fc00::/48 defaults to len 64, min fc00:0:0:1::, max fc00:0:0:ffff::', () => {
    const c = v6('"IPv6Network": "fc00::/48"');
    expect(formatCidr6(c.ipv6Network!)).toBe('fc00::/48');
    expect(c.ipv6SubnetLen).toBe(64);
    expect(formatIpv6(c.ipv6SubnetMin!)).toBe('fc00:0:0:1::');
    expect(formatIpv6(c.ipv6SubnetMax!)).toBe('fc00:0:0:ffff::');
  });

  it.each([
    ['fd00:10:244::/56', 64, 'fd00:10:244:1::', 'fd00:10:244:ff::'],
    ['fd00::/62', 64, 'fd00:0:0:1::', 'fd00:0:0:3::'],
    ['fd00::/63', 65, 'fd00::8000:0:0:0', 'fd00:0:0:1:8000::'],
    ['fd00::/124', 126, 'fd00::4', 'fd00::c'],
  ])('IPv6Network %s → IPv6SubnetLen %i, min %s, max %s', (net, len, min, max) => {
    const c = v6(`"IPv6Network": "${net}"`);
    expect(c.ipv6SubnetLen).toBe(len);
    expect(formatIpv6(c.ipv6SubnetMin!)).toBe(min);
    expect(formatIpv6(c.ipv6SubnetMax!)).toBe(max);
  });

  it('masks IPv6Network and keeps explicit IPv6SubnetLen, IPv6SubnetMin, IPv6SubnetMax', () => {
    const c = v6('"ipv6network": "FD00:10:244::5/56", "IPv6SubnetLen": 72, "IPv6SubnetMin": "fd00:10:244:5::", "IPv6SubnetMax": "fd00:10:244:8::"');
    expect(formatCidr6(c.ipv6Network!)).toBe('fd00:10:244::/56');
    expect(c.ipv6SubnetLen).toBe(72);
    expect(formatIpv6(c.ipv6SubnetMin!)).toBe('fd00:10:244:5::');
    expect(formatIpv6(c.ipv6SubnetMax!)).toBe('fd00:10:244:8::');
  });

  it('dual-stack keeps both families', () => {
    const c = v6('"IPv6Network": "fd00:10:244::/56"');
    expect([c.enableIPv4, c.enableIPv6, formatCidr(c.network!), formatCidr6(c.ipv6Network!)]).toEqual([true, true, '10.244.0.0/16', 'fd00:10:244::/56']);
  });

  it('IPv6-only needs no Network and keeps none; host-gw works too', () => {
    const c = parse('{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "host-gw"}}');
    expect(c).toEqual({
      enableIPv4: false,
      enableIPv6: true,
      enableNFTables: false,
      subnetLen: 0,
      ipv6Network: { ip: 0xfd000010024400000000000000000000n, prefixLen: 56 },
      ipv6SubnetLen: 64,
      ipv6SubnetMin: 0xfd000010024400010000000000000000n,
      ipv6SubnetMax: 0xfd000010024400ff0000000000000000n,
      backend: { type: 'host-gw' },
      backendDefaulted: false,
      warnings: [],
    });
  });

  it('IPv6-only checks a Network it ignores for form', () => {
    expect(() => parse('{"EnableIPv4": false, "EnableIPv6": true, "Network": "10.244.0.0", "IPv6Network": "fd00::/56", "Backend": {"Type": "vxlan"}}')).toThrow(
      'Network: "10.244.0.0" has no prefix length',
    );
  });
});

const VNI_EXPECTED = '(expected an integer 0..16777215)';
const TYPE_EXPECTED = '(expected one of vxlan, host-gw, udp; ipip, wireguard, ipsec, alloc, extension, tencent-vpc are upstream flannel backends not supported by flannel-ts yet)';
const DOC_EXPECTED = '(expected a JSON object such as {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}})';
const be = (body: string) => `{${NET}, "Backend": {${body}}}`;
const V6 = '"IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}';

describe('parseNetConf rejects invalid input with one precise line', () => {
  it.each([
    // Document
    ['empty file', '', `net-conf.json: is not valid JSON: Unexpected end of JSON input ${DOC_EXPECTED}`],
    ['array at top', '[]', `net-conf.json: [] is not a JSON object ${DOC_EXPECTED}`],
    ['null at top', 'null', `net-conf.json: null is not a JSON object ${DOC_EXPECTED}`],
    ['string at top', '"10.244.0.0/16"', `net-conf.json: "10.244.0.0/16" is not a JSON object ${DOC_EXPECTED}`],
    // Network
    ['Network missing', '{}', 'net-conf.json: Network: missing (expected an IPv4 CIDR such as "10.244.0.0/16")'],
    ['Network a number', '{"Network": 42}', 'net-conf.json: Network: 42 is not a string (expected an IPv4 CIDR such as "10.244.0.0/16")'],
    ['Network null', '{"Network": null}', 'net-conf.json: Network: null is not a string (expected an IPv4 CIDR such as "10.244.0.0/16")'],
    ['Network without prefix', '{"Network": "10.244.0.0"}', 'net-conf.json: Network: "10.244.0.0" has no prefix length (expected an IPv4 CIDR such as "10.244.0.0/16")'],
    ['Network IPv6', '{"Network": "fc00::/48"}', 'net-conf.json: Network: "fc00::/48" is not an IPv4 CIDR (expected an IPv4 CIDR such as "10.244.0.0/16"; IPv6 goes in IPv6Network)'],
    ['Network garbage', '{"Network": "10.244.0.256/16"}', 'net-conf.json: Network: "10.244.0.256/16" is not an IPv4 CIDR (expected an IPv4 CIDR such as "10.244.0.0/16")'],
    ['Network prefix 33', '{"Network": "10.0.0.0/33"}', 'net-conf.json: Network: "10.0.0.0/33" is not an IPv4 CIDR (expected an IPv4 CIDR such as "10.244.0.0/16")'],
    // Families
    ['EnableIPv4 a string', `{${NET}, "EnableIPv4": "true"}`, 'net-conf.json: EnableIPv4: "true" is not a boolean (expected true or false)'],
    ['no family', `{${NET}, "EnableIPv4": false}`, 'net-conf.json: EnableIPv4: false and EnableIPv6 false leave no IP family enabled (upstream: "none defined stack") (expected EnableIPv4 true, its default)'],
    ['IPv6 with udp', `{${NET}, "EnableIPv6": true, "IPv6Network": "fc00::/48", "Backend": {"Type": "udp"}}`, "net-conf.json: EnableIPv6: true cannot be used with the udp backend, which carries IPv4 only, as upstream's (expected Backend.Type vxlan or host-gw for IPv6 and dual-stack)"],
    ['IPv6 with the default udp', `{${NET}, "EnableIPv6": true, "IPv6Network": "fc00::/48"}`, "net-conf.json: EnableIPv6: true cannot be used with the udp backend (the default when Backend is absent), which carries IPv4 only, as upstream's (expected Backend.Type vxlan or host-gw for IPv6 and dual-stack)"],
    ['IPv6Network missing', `{${NET}, "EnableIPv6": true}`, 'net-conf.json: IPv6Network: missing (expected an IPv6 CIDR such as "fd00:10:244::/56")'],
    ['IPv6-only, IPv6Network missing', '{"EnableIPv4": false, "EnableIPv6": true}', 'net-conf.json: IPv6Network: missing (expected an IPv6 CIDR such as "fd00:10:244::/56")'],
    ['IPv6Network not IPv6', `{${NET}, "IPv6Network": "10.0.0.0/8"}`, 'net-conf.json: IPv6Network: "10.0.0.0/8" is not an IPv6 CIDR (expected an IPv6 CIDR such as "fd00:10:244::/56"; IPv4 goes in Network)'],
    ['IPv6Network without prefix', `{${NET}, "EnableIPv6": true, "IPv6Network": "fd00::"}`, 'net-conf.json: IPv6Network: "fd00::" has no prefix length (expected an IPv6 CIDR such as "fd00:10:244::/56")'],
    ['IPv6Network with zone', `{${NET}, "EnableIPv6": true, "IPv6Network": "fe80::%eth0/64"}`, 'net-conf.json: IPv6Network: "fe80::%eth0/64" is not an IPv6 CIDR (expected an IPv6 CIDR such as "fd00:10:244::/56")'],
    ['IPv6Network prefix 129', `{${NET}, "EnableIPv6": true, "IPv6Network": "fd00::/129"}`, 'net-conf.json: IPv6Network: "fd00::/129" is not an IPv6 CIDR (expected an IPv6 CIDR such as "fd00:10:244::/56")'],
    ['IPv6Network a number', `{${NET}, "EnableIPv6": true, "IPv6Network": 56}`, 'net-conf.json: IPv6Network: 56 is not a string (expected an IPv6 CIDR such as "fd00:10:244::/56")'],
    ['IPv6SubnetLen a string', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetLen": "64"}`, 'net-conf.json: IPv6SubnetLen: "64" is not a valid subnet length (expected an integer 58..126 for a /56 IPv6Network, or 0 for the default)'],
    ['IPv6SubnetLen out of form while off', `{${NET}, "IPv6SubnetLen": -5}`, 'net-conf.json: IPv6SubnetLen: -5 is not a valid subnet length (expected a non-negative integer)'],
    ['IPv6SubnetMin with prefix', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetMin": "fd00:10:244:1::/64"}`, 'net-conf.json: IPv6SubnetMin: "fd00:10:244:1::/64" is not an IPv6 address (expected an IPv6 address without prefix inside fd00:10:244::/56, on a /64 boundary)'],
    ['IPv6SubnetMin IPv4', `{${NET}, "IPv6SubnetMin": "10.244.1.0"}`, 'net-conf.json: IPv6SubnetMin: "10.244.1.0" is not an IPv6 address (expected an IPv6 address without prefix)'],
    ['EnableIPv6 a string', `{${NET}, "EnableIPv6": "true"}`, 'net-conf.json: EnableIPv6: "true" is not a boolean (expected true or false)'],
    ['EnableNFTables a number', `{${NET}, "EnableNFTables": 1}`, 'net-conf.json: EnableNFTables: 1 is not a boolean (expected true or false)'],
    // Subnets
    ['SubnetLen negative', `{${NET}, "SubnetLen": -24}`, 'net-conf.json: SubnetLen: -24 is not a valid subnet length (expected an integer 18..30 for a /16 Network, or 0 for the default)'],
    ['SubnetLen a string', `{${NET}, "SubnetLen": "24"}`, 'net-conf.json: SubnetLen: "24" is not a valid subnet length (expected an integer 18..30 for a /16 Network, or 0 for the default)'],
    ['SubnetLen fraction', `{${NET}, "SubnetLen": 24.5}`, 'net-conf.json: SubnetLen: 24.5 is not a valid subnet length (expected an integer 18..30 for a /16 Network, or 0 for the default)'],
    ['SubnetMin with prefix', `{${NET}, "SubnetMin": "10.244.1.0/24"}`, 'net-conf.json: SubnetMin: "10.244.1.0/24" is not an IPv4 address (expected an IPv4 address without prefix inside 10.244.0.0/16, on a /24 boundary)'],
    // Backend
    ['Backend a string', `{${NET}, "Backend": "vxlan"}`, 'net-conf.json: Backend: "vxlan" is not an object (expected an object such as {"Type": "vxlan"})'],
    ['Backend null', `{${NET}, "Backend": null}`, 'net-conf.json: Backend: null is not an object (expected an object such as {"Type": "vxlan"})'],
    ['Backend without Type', be('"VNI": 1'), `net-conf.json: Backend.Type: missing ${TYPE_EXPECTED}`],
    ['Backend.Type empty', be('"Type": ""'), `net-conf.json: Backend.Type: "" is not a known backend type ${TYPE_EXPECTED}`],
    ['Backend.Type a number', be('"Type": 1'), `net-conf.json: Backend.Type: 1 is not a string ${TYPE_EXPECTED}`],
    ['Backend.Type unknown', be('"Type": "geneve"'), `net-conf.json: Backend.Type: "geneve" is not a known backend type ${TYPE_EXPECTED}`],
    ['Backend.Type wireguard', be('"Type": "WireGuard"'), 'net-conf.json: Backend.Type: "WireGuard" is an upstream flannel backend not supported by flannel-ts yet (expected one of vxlan, host-gw, udp)'],
    ['Backend.Type ipip', be('"Type": "ipip"'), 'net-conf.json: Backend.Type: "ipip" is an upstream flannel backend not supported by flannel-ts yet (expected one of vxlan, host-gw, udp)'],
    ['VNI negative', be('"Type": "vxlan", "VNI": -1'), `net-conf.json: Backend.VNI: -1 is not a valid VNI ${VNI_EXPECTED}`],
    ['VNI too big', be('"Type": "vxlan", "VNI": 16777216'), `net-conf.json: Backend.VNI: 16777216 is not a valid VNI ${VNI_EXPECTED}`],
    ['VNI a string', be('"Type": "vxlan", "vni": "1"'), `net-conf.json: Backend.VNI: "1" is not a valid VNI ${VNI_EXPECTED}`],
    // The kernel refuses a device MTU (MTU − 50) below 68 or above its maximum: so does upstream's start.
    ['vxlan MTU 51', be('"Type": "vxlan", "MTU": 51'), "net-conf.json: Backend.MTU: 51 is not a valid MTU (expected an integer 118..65535 (flannel.N gets MTU − 50, at least 68), or 0 for the external interface's MTU)"],
    ['vxlan MTU 117', be('"Type": "vxlan", "MTU": 117'), "net-conf.json: Backend.MTU: 117 is not a valid MTU (expected an integer 118..65535 (flannel.N gets MTU − 50, at least 68), or 0 for the external interface's MTU)"],
    ['vxlan MTU too big', be('"Type": "vxlan", "MTU": 65536'), "net-conf.json: Backend.MTU: 65536 is not a valid MTU (expected an integer 118..65535 (flannel.N gets MTU − 50, at least 68), or 0 for the external interface's MTU)"],
    ['vxlan MTU a fraction', be('"Type": "vxlan", "MTU": 1400.5'), "net-conf.json: Backend.MTU: 1400.5 is not a valid MTU (expected an integer 118..65535 (flannel.N gets MTU − 50, at least 68), or 0 for the external interface's MTU)"],
    ['vxlan Port a string', be('"Type": "vxlan", "Port": "4789"'), 'net-conf.json: Backend.Port: "4789" is not a valid port (expected an integer 1..65535, or 0 for the kernel default 8472)'],
    ['vxlan GBP a string', be('"Type": "vxlan", "GBP": "yes"'), 'net-conf.json: Backend.GBP: "yes" is not a boolean (expected true or false)'],
    ['vxlan DirectRouting a number', be('"Type": "vxlan", "DirectRouting": 1'), 'net-conf.json: Backend.DirectRouting: 1 is not a boolean (expected true or false)'],
    ['udp Port a string', be('"Type": "udp", "Port": "8285"'), 'net-conf.json: Backend.Port: "8285" is not a valid port (expected an integer 1..65535; omit Port for the default 8285)'],
    // Upstream's UDP listen fails on these.
    ['udp Port too big', be('"Type": "udp", "Port": 65536'), 'net-conf.json: Backend.Port: 65536 is not a valid port (expected an integer 1..65535; omit Port for the default 8285)'],
    ['udp Port negative', be('"Type": "udp", "Port": -1'), 'net-conf.json: Backend.Port: -1 is not a valid port (expected an integer 1..65535; omit Port for the default 8285)'],
    // A range upstream's kube mode ignores is ignored only when its types are what upstream's decoder needs.
    ['ignored range, SubnetMin not an address', `{${NET}, "SubnetLen": 31, "SubnetMin": "x"}`, 'net-conf.json: SubnetMin: "x" is not an IPv4 address (expected an IPv4 address without prefix)'],
    ['SubnetLen null still refused with Network null', '{"Network": null, "SubnetLen": null}', 'net-conf.json: Network: null is not a string (expected an IPv4 CIDR such as "10.244.0.0/16")'],
  ])('%s', (_name, text, message) => {
    const err = errorOf(text);
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('\n');
  });

  it('keeps a JSON syntax error on one line and names line and column', () => {
    const err = errorOf('{\n  "Network": "10.244.0.0/16",\n}');
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/^net-conf\.json: is not valid JSON: .*line 3 column 1/);
    expect(err.field).toBe('');
  });

  it('carries field, value and expected as data', () => {
    const err = errorOf(be('"Type": "vxlan", "vni": -1'));
    expect(err.source).toBe(SRC);
    expect(err.field).toBe('Backend.VNI');
    expect(err.value).toBe(-1);
    expect(err.expected).toBe('an integer 0..16777215');
  });
});

const RANGES_IGNORED =
  "accepted, as upstream checks SubnetLen, SubnetMin, SubnetMax and the Network's size only in etcd mode; its kube subnet manager ignores them: SubnetLen, SubnetMin and SubnetMax are ignored (the nodes' podCIDRs are the subnets)";
const RANGES_IGNORED_V6 = RANGES_IGNORED.replace('SubnetLen, SubnetMin and SubnetMax', 'IPv6SubnetLen, IPv6SubnetMin and IPv6SubnetMax');
const LAST_WINS = "accepted, as upstream's JSON decoder takes the last of two keys for one field (keys match case-insensitively)";
const NULL_DEFAULT = "accepted, as upstream's JSON decoder leaves a number or boolean that is null at its default";
const VXLAN_PORT = 'accepted, as upstream hands the port to the kernel as 16 bits, and a port below 1 not at all (the kernel then uses 8472)';
const VXLAN_MTU_EXPECTED = "(expected an integer 118..65535 (flannel.N gets MTU − 50, at least 68), or 0 for the external interface's MTU)";

describe('parseNetConf accepts what upstream accepts, with one warning each (upstream-accepts.ts)', () => {
  it.each([
    ['SubnetLen above /30', `{${NET}, "SubnetLen": 31}`, 'subnet-range',
      `net-conf.json: SubnetLen: 31 is not a valid subnet length (expected an integer 18..30 for a /16 Network, or 0 for the default); ${RANGES_IGNORED}`, { subnetLen: 24 }],
    ['SubnetLen too short', `{${NET}, "SubnetLen": 17}`, 'subnet-range',
      `net-conf.json: SubnetLen: 17 leaves fewer than four subnets in a /16 Network (expected an integer 18..30, or 0 for the default); ${RANGES_IGNORED}`, { subnetLen: 24 }],
    ['Network too small', '{"Network": "10.0.0.0/29"}', 'subnet-range',
      `net-conf.json: Network: "10.0.0.0/29" is too small (expected a prefix of /28 or shorter, so the network holds at least four subnets of at least /30); ${RANGES_IGNORED}`, { network: { ip: 0x0a000000, prefixLen: 29 } }],
    ['SubnetMin outside Network', `{${NET}, "SubnetMin": "10.245.0.0"}`, 'subnet-range',
      `net-conf.json: SubnetMin: "10.245.0.0" is outside Network 10.244.0.0/16 (expected an IPv4 address without prefix inside 10.244.0.0/16, on a /24 boundary); ${RANGES_IGNORED}`, { subnetLen: 24 }],
    ['SubnetMax misaligned', `{${NET}, "SubnetMax": "10.244.8.128"}`, 'subnet-range',
      `net-conf.json: SubnetMax: "10.244.8.128" is not on a /24 boundary (expected an IPv4 address without prefix inside 10.244.0.0/16, on a /24 boundary); ${RANGES_IGNORED}`, { subnetLen: 24 }],
    ['SubnetMin above SubnetMax', `{${NET}, "SubnetMin": "10.244.9.0", "SubnetMax": "10.244.8.0"}`, 'subnet-range',
      `net-conf.json: SubnetMin: "10.244.9.0" is above SubnetMax 10.244.8.0 (expected SubnetMin <= SubnetMax); ${RANGES_IGNORED}`, { subnetLen: 24 }],
    ['IPv6Network too small', `{${NET}, "EnableIPv6": true, "IPv6Network": "fd00::/125", "Backend": {"Type": "vxlan"}}`, 'subnet-range',
      `net-conf.json: IPv6Network: "fd00::/125" is too small (expected a prefix of /124 or shorter, so the network holds at least four subnets of at least /126); ${RANGES_IGNORED_V6}`, { enableIPv6: true }],
    ['IPv6SubnetLen 127', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetLen": 127}`, 'subnet-range',
      `net-conf.json: IPv6SubnetLen: 127 is not a valid subnet length (expected an integer 58..126 for a /56 IPv6Network, or 0 for the default); ${RANGES_IGNORED_V6}`, { enableIPv6: true }],
    ['IPv6SubnetLen too short', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetLen": 57}`, 'subnet-range',
      `net-conf.json: IPv6SubnetLen: 57 leaves fewer than four subnets in a /56 IPv6Network (expected an integer 58..126, or 0 for the default); ${RANGES_IGNORED_V6}`, { enableIPv6: true }],
    ['IPv6SubnetMin outside', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetMin": "fd00:10:245::"}`, 'subnet-range',
      `net-conf.json: IPv6SubnetMin: "fd00:10:245::" is outside IPv6Network fd00:10:244::/56 (expected an IPv6 address without prefix inside fd00:10:244::/56, on a /64 boundary); ${RANGES_IGNORED_V6}`, { enableIPv6: true }],
    ['IPv6SubnetMax misaligned', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetMax": "fd00:10:244:8::1"}`, 'subnet-range',
      `net-conf.json: IPv6SubnetMax: "fd00:10:244:8::1" is not on a /64 boundary (expected an IPv6 address without prefix inside fd00:10:244::/56, on a /64 boundary); ${RANGES_IGNORED_V6}`, { enableIPv6: true }],
    ['IPv6SubnetMin above IPv6SubnetMax', `{${NET}, "EnableIPv6": true, ${V6}, "IPv6SubnetMin": "fd00:10:244:9::", "IPv6SubnetMax": "fd00:10:244:8::"}`, 'subnet-range',
      `net-conf.json: IPv6SubnetMin: "fd00:10:244:9::" is above IPv6SubnetMax fd00:10:244:8:: (expected IPv6SubnetMin <= IPv6SubnetMax); ${RANGES_IGNORED_V6}`, { enableIPv6: true }],
    ['IPv6Network twice', `{${NET}, "EnableIPv6": true, ${V6}, "ipv6network": "fd00::/48"}`, 'duplicate-key',
      `net-conf.json: IPv6Network: is set more than once, by keys "IPv6Network" and "ipv6network" (expected each field once; keys match case-insensitively, as in upstream flannel); ${LAST_WINS}: the last one, "ipv6network": "fd00::/48", counts`,
      { ipv6Network: { ip: 0xfd000000000000000000000000000000n, prefixLen: 48 } }],
    ['Network twice, differing case', '{"Network": "10.244.0.0/16", "network": "10.0.0.0/8"}', 'duplicate-key',
      `net-conf.json: Network: is set more than once, by keys "Network" and "network" (expected each field once; keys match case-insensitively, as in upstream flannel); ${LAST_WINS}: the last one, "network": "10.0.0.0/8", counts`,
      { network: { ip: 0x0a000000, prefixLen: 8 } }],
    ['Type twice', be('"Type": "vxlan", "type": "udp"'), 'duplicate-key',
      `net-conf.json: Backend.Type: is set more than once, by keys "Type" and "type" (expected each field once; keys match case-insensitively, as in upstream flannel); ${LAST_WINS}: the last one, "type": "udp", counts`,
      { backend: { type: 'udp', port: 8285 } }],
    ['VNI null', be('"Type": "vxlan", "VNI": null'), 'null-value',
      `net-conf.json: Backend.VNI: null is not a number (expected an integer 0..16777215); ${NULL_DEFAULT}: the default, 1, is used`,
      { backend: { type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false } }],
    ['EnableIPv4 null', `{${NET}, "EnableIPv4": null}`, 'null-value',
      `net-conf.json: EnableIPv4: null is not a boolean (expected true or false); ${NULL_DEFAULT}: the default, true, is used`, { enableIPv4: true }],
    ['vxlan Port above 65535', be('"Type": "vxlan", "Port": 70000'), 'vxlan-port',
      `net-conf.json: Backend.Port: 70000 is not a valid port (expected an integer 1..65535, or 0 for the kernel default 8472); ${VXLAN_PORT}: port 4464 (70000 modulo 65536) is used, as upstream's`,
      { backend: expect.objectContaining({ port: 4464 }) }],
    ['vxlan Port negative', be('"Type": "vxlan", "Port": -1'), 'vxlan-port',
      `net-conf.json: Backend.Port: -1 is not a valid port (expected an integer 1..65535, or 0 for the kernel default 8472); ${VXLAN_PORT}: the kernel default 8472 is used`,
      { backend: expect.objectContaining({ port: 0 }) }],
    ['vxlan MTU 30', be('"Type": "vxlan", "MTU": 30'), 'vxlan-mtu',
      `net-conf.json: Backend.MTU: 30 is not a valid MTU ${VXLAN_MTU_EXPECTED}; accepted, as upstream then creates flannel.N with the kernel's default MTU but writes this MTU to subnet.env, which breaks pod networking: flannel-ts uses the external interface's MTU, as for 0`,
      { backend: expect.objectContaining({ mtu: 0 }) }],
    ['udp Port 0', be('"Type": "udp", "Port": 0'), 'udp-port-zero',
      'net-conf.json: Backend.Port: 0 is not a usable port (expected an integer 1..65535; omit Port for the default 8285); accepted, as upstream then listens on a random port and sends to port 0, so no packet between nodes arrives: flannel-ts uses the default 8285',
      { backend: { type: 'udp', port: 8285 } }],
  ] as const)('%s', (_name, text, check, message, fields) => {
    const c = parse(text);
    expect(c.warnings).toEqual([{ check, message }]);
    expect(c).toMatchObject(fields);
    // An ignored range reads as an absent one, so fixing the file later is no restart-only change.
    if (check === 'subnet-range') {
      const absent = parse(`{"Network": "${formatCidr(c.network!)}"}`);
      expect([c.subnetLen, c.subnetMin, c.subnetMax]).toEqual([absent.subnetLen, absent.subnetMin, absent.subnetMax]);
    }
    expect(message).not.toContain('\n');
  });

  it('warns once for a problem read twice, and lists problems of several checks', () => {
    const c = parse('{"Network": "10.244.0.0/16", "SubnetLen": 31, "SubnetLen": 32, "Backend": {"Type": "vxlan", "GBP": null}}');
    expect(c.warnings.map((w) => w.check)).toEqual(['duplicate-key', 'subnet-range', 'null-value']);
  });

  it('refuses the subnet ranges in etcd mode, where upstream checks them', () => {
    expect(() => parseNetConf(`{${NET}, "SubnetLen": 31}`, SRC, { subnetManager: 'etcd' })).toThrow(
      'net-conf.json: SubnetLen: 31 is not a valid subnet length (expected an integer 18..30 for a /16 Network, or 0 for the default)',
    );
    expect(parseNetConf(`{${NET}, "Backend": {"Type": "udp", "Port": 0}}`, SRC, { subnetManager: 'etcd' }).warnings).toHaveLength(1);
  });

  it('has no warning for a config upstream and flannel-ts both read the same way', () => {
    expect(parse(`{${NET}, "SubnetLen": 26, "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789, "MTU": 9000, "DirectRouting": true}}`).warnings).toEqual([]);
  });
});

describe('readNetConf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netconf-'));

  it('reads and parses a file, naming the path in errors', async () => {
    const path = join(dir, 'good.json');
    writeFileSync(path, `{${NET}, "Backend": {"Type": "vxlan"}}`);
    expect((await readNetConf(path)).backend.type).toBe('vxlan');

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"Network": 42}');
    await expect(readNetConf(bad)).rejects.toThrow(`${bad}: Network: 42 is not a string (expected an IPv4 CIDR such as "10.244.0.0/16")`);
  });

  it('a missing file is one precise line', async () => {
    const path = join(dir, 'absent.json');
    await expect(readNetConf(path)).rejects.toThrow(
      new ConfigError({
        source: path,
        field: '',
        problem: 'cannot read net-conf: no such file (ENOENT)',
        expected: 'a readable net-conf.json; in Kubernetes, the kube-flannel-cfg ConfigMap mounted at --net-config-path',
      }).message,
    );
  });

  it('a directory is one precise line', async () => {
    const path = join(dir, 'a-dir');
    mkdirSync(path);
    await expect(readNetConf(path)).rejects.toThrow(`${path}: cannot read net-conf: is a directory (EISDIR) (expected a readable net-conf.json; in Kubernetes, the kube-flannel-cfg ConfigMap mounted at --net-config-path)`);
  });
});
