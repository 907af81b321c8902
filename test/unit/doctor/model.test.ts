import { describe, expect, it } from 'vitest';
import { leaseOfView } from '../../../src/doctor/model.ts';
import { formatAnyCidr } from '../../../src/ip/cidr.ts';

const text = (c: Parameters<typeof formatAnyCidr>[0] | undefined) => (c === undefined ? undefined : formatAnyCidr(c));

describe('the lease a /debug/state view describes', () => {
  it('dual-stack: both halves, each with its own public address and backend data', () => {
    const l = leaseOfView({
      node: 'b', subnet: '10.244.2.0/24', publicIp: '198.18.0.11', backendType: 'vxlan', backendData: '{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}',
      ipv6Subnet: 'fd00:10:244:2::/64', publicIpv6: 'fd00:198:18::11', backendV6Data: '{"VNI":1,"VtepMAC":"02:00:00:00:00:12"}',
    })!;
    expect([text(l.subnet), text(l.ipv6Subnet), l.node]).toEqual(['10.244.2.0/24', 'fd00:10:244:2::/64', 'b']);
    expect(l.attrs).toEqual({
      backendType: 'vxlan', publicIp: '198.18.0.11', backendData: '{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}',
      publicIpv6: 'fd00:198:18::11', backendV6Data: '{"VNI":1,"VtepMAC":"02:00:00:00:00:12"}',
    });
  });

  it('IPv6-only: the first half is the IPv6 one', () => {
    const l = leaseOfView({ subnet: 'fd00:10:244:2::/64', publicIp: 'fd00:198:18::11', backendType: 'host-gw', backendData: 'null' })!;
    expect([text(l.subnet), text(l.ipv6Subnet)]).toEqual([undefined, 'fd00:10:244:2::/64']);
    expect(l.attrs).toEqual({ backendType: 'host-gw', publicIpv6: 'fd00:198:18::11', backendV6Data: 'null' });
  });

  it('a view without a parseable subnet describes no lease', () => {
    expect(leaseOfView({ subnet: 'garbage', publicIp: '', backendType: 'vxlan', backendData: 'null' })).toBeUndefined();
  });
});
