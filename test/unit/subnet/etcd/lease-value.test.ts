import { describe, expect, it } from 'vitest';
import { formatCidr, parseCidr } from '../../../../src/ip/ipv4.ts';
import { formatCidr6, parseCidr6 } from '../../../../src/ip/ipv6.ts';
import { prefixEnd } from '../../../../src/subnet/etcd/client.ts';
import { configKey, decodeLeaseValue, encodeLeaseValue, parseSubnetKey, subnetKeyName, subnetsPrefix } from '../../../../src/subnet/etcd/lease-value.ts';

describe('etcd keys', () => {
  it.each([
    ['/coreos.com/network', '/coreos.com/network/config', '/coreos.com/network/subnets/'],
    ['/coreos.com/network/', '/coreos.com/network/config', '/coreos.com/network/subnets/'],
    ['//a//b', '/a/b/config', '/a/b/subnets/'],
    ['coreos.com/network', 'coreos.com/network/config', 'coreos.com/network/subnets/'],
  ])('prefix %s → %s and %s (Go path.Join)', (prefix, config, subnets) => {
    expect(configKey(prefix)).toBe(config);
    expect(subnetsPrefix(prefix)).toBe(subnets);
  });

  it('names a subnet as upstream: 10.5.52.0-24, and 10.12.13.0-24&fd00:12:13::-56 in a dual-stack network', () => {
    expect(subnetKeyName(parseCidr('10.5.52.0/24')!)).toBe('10.5.52.0-24');
    expect(subnetKeyName(parseCidr('10.12.13.0/24')!, parseCidr6('fd00:12:13::/56'))).toBe('10.12.13.0-24&fd00:12:13::-56');
    // Go prints the IPv6 address canonically (RFC 5952): the longest zero run compressed, lower case.
    expect(subnetKeyName(parseCidr('10.12.13.0/24')!, parseCidr6('FD00:0:0:1:0:0:0:0/64'))).toBe('10.12.13.0-24&fd00:0:0:1::-64');
  });

  it.each([
    ['/coreos.com/network/subnets/10.5.52.0-24', '10.5.52.0/24'],
    ['10.5.52.0-24', '10.5.52.0/24'],
    ['/coreos.com/network/subnets/10.12.13.0-24&fd00:12:13::-56', '10.12.13.0/24 fd00:12:13::/56'],
    ['/coreos.com/network/subnets/10.12.13.0-24&fd00:0:0:1::-64', '10.12.13.0/24 fd00:0:0:1::/64'],
    ['/x/subnets/10.0.0.0-8', '10.0.0.0/8'],
  ])('parses %s as %s', (key, cidrs) => {
    const got = parseSubnetKey(key);
    expect(typeof got === 'string' ? got : [formatCidr(got.subnet), ...(got.ipv6Subnet ? [formatCidr6(got.ipv6Subnet)] : [])].join(' ')).toBe(cidrs);
  });

  it.each([
    ['/coreos.com/network/subnets/hello', 'is not a subnet key (expected <ip>-<prefix length>, e.g. 10.5.52.0-24)'],
    ['/coreos.com/network/subnets/10.5.52.1-24', 'names 10.5.52.1/24, which is not a network address (expected 10.5.52.0-24)'],
    ['/coreos.com/network/subnets/10.5.52.0-32', 'names no IPv4 subnet (10.5.52.0-32)'],
    ['/coreos.com/network/subnets/10.5.520.0-24', 'names no IPv4 subnet (10.5.520.0-24)'],
    ['/coreos.com/network/subnets/010.5.52.0-24', 'names no IPv4 subnet (010.5.52.0-24)'],
    ['/coreos.com/network/subnets/10.12.13.0-24&fd00:12:13::1-56', 'names fd00:12:13::1/56, which is not a network address (expected fd00:12:13::-56)'],
    ['/coreos.com/network/subnets/10.12.13.0-24&fd00:12:13::-128', 'names no IPv6 subnet (fd00:12:13::-128)'],
    ['/coreos.com/network/subnets/10.12.13.0-24&fd00:::-56', 'names no IPv6 subnet (fd00:::-56)'],
  ])('refuses %s: %s', (key, why) => {
    expect(parseSubnetKey(key)).toBe(why);
  });
});

describe('etcd lease values (json.Marshal of LeaseAttrs)', () => {
  it.each([
    [
      'vxlan',
      { publicIp: '192.168.64.3', backendType: 'vxlan', backendData: '{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}' },
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    ],
    ['host-gw', { publicIp: '10.0.0.1', backendType: 'host-gw', backendData: 'null' }, '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw"}'],
    ['udp', { publicIp: '10.0.0.1', backendType: '', backendData: 'null' }, '{"PublicIP":"10.0.0.1","PublicIPv6":null}'],
    [
      'backend data with spaces is compacted, as Go does',
      { publicIp: '10.0.0.1', backendType: 'vxlan', backendData: '{ "VNI": 1, "VtepMAC": "aa:bb:cc:dd:ee:ff" }' },
      '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
    ],
  ])('%s', (_name, attrs, bytes) => {
    expect(encodeLeaseValue(attrs)).toBe(bytes);
    // And back: what peers get is what was published.
    expect(decodeLeaseValue(bytes)).toEqual({ ...attrs, backendData: attrs.backendData === 'null' ? 'null' : JSON.stringify(JSON.parse(attrs.backendData)) });
  });

  it('dual-stack vxlan: PublicIPv6 and BackendV6Data after the IPv4 fields, byte for byte as upstream', () => {
    const attrs = {
      publicIp: '198.18.0.10',
      publicIpv6: 'fd00:198:18::10',
      backendType: 'vxlan',
      backendData: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}',
      backendV6Data: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}',
    };
    const bytes =
      '{"PublicIP":"198.18.0.10","PublicIPv6":"fd00:198:18::10","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}}';
    expect(encodeLeaseValue(attrs)).toBe(bytes);
    expect(decodeLeaseValue(bytes)).toEqual(attrs);
    // host-gw has no backend data in either family.
    expect(encodeLeaseValue({ publicIp: '198.18.0.10', publicIpv6: 'fd00:198:18::10', backendType: 'host-gw', backendData: 'null', backendV6Data: 'null' })).toBe(
      '{"PublicIP":"198.18.0.10","PublicIPv6":"fd00:198:18::10","BackendType":"host-gw"}',
    );
  });

  it('decodes PublicIPv6 to its canonical text, as Go parses it', () => {
    expect(decodeLeaseValue('{"PublicIP":"10.0.0.1","PublicIPv6":"FD00:198:18:0:0:0:0:10"}').publicIpv6).toBe('fd00:198:18::10');
  });

  it('decodes field names case-insensitively and ignores unknown fields, as encoding/json', () => {
    expect(decodeLeaseValue('{"publicip":"10.0.0.2","backendtype":"vxlan","backenddata":{"VNI":2,"VtepMAC":"aa:bb:cc:dd:ee:ff"},"Extra":1}')).toEqual({
      publicIp: '10.0.0.2',
      backendType: 'vxlan',
      backendData: '{"VNI":2,"VtepMAC":"aa:bb:cc:dd:ee:ff"}',
    });
  });

  it.each([
    ['not json', /^value is not JSON/],
    ['[1]', /^value is not a JSON object$/],
    ['{"PublicIPv6":null}', /^PublicIP missing is not an IPv4 address$/],
    ['{"PublicIP":"fd00::1"}', /^PublicIP "fd00::1" is not an IPv4 address$/],
    ['{"PublicIP":"10.0.0.1","BackendType":7}', /^BackendType is not a string$/],
    ['{"PublicIP":"10.0.0.1","PublicIPv6":"10.0.0.1"}', /^PublicIPv6 "10.0.0.1" is not an IPv6 address$/],
    ['{"PublicIP":"10.0.0.1","PublicIPv6":6}', /^PublicIPv6 6 is not an IPv6 address$/],
  ])('refuses %s', (text, why) => {
    expect(() => decodeLeaseValue(text)).toThrow(why);
  });
});

describe('prefixEnd (etcd GetPrefixRangeEnd)', () => {
  it.each([
    ['/coreos.com/network/subnets/', '/coreos.com/network/subnets0'],
    ['a', 'b'],
  ])('%s → %s', (prefix, end) => {
    expect(prefixEnd(prefix).toString('latin1')).toBe(end);
  });

  it('increments the last UTF-8 byte', () => {
    expect([...prefixEnd('a\u00ff')]).toEqual([0x61, 0xc3, 0xc0]);
  });
});
