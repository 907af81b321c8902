import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../../src/ip/ipv6.ts';
import { healthTargets, overlayTarget, overlayTargets } from '../../../src/probe/targets.ts';
import type { Lease } from '../../../src/subnet/lease.ts';

const lease = (subnet: string, backendType: string, node?: string): Lease => ({
  subnet: parseCidr(subnet)!,
  attrs: { publicIp: '198.18.0.11', backendType, backendData: 'null' },
  ...(node !== undefined ? { node } : {}),
});

describe('overlayTarget', () => {
  it('vxlan and udp peers answer on their subnet address (flannel.N / flannel0), host-gw on the cni0 gateway', () => {
    expect(overlayTarget(lease('10.244.2.0/24', 'vxlan', 'b'), 'vxlan')).toEqual({ subnet: '10.244.2.0/24', node: 'b', addr: '10.244.2.0', backendType: 'vxlan', publicIp: '198.18.0.11' });
    expect(overlayTarget(lease('10.244.2.0/24', '', 'b'), 'udp')).toEqual({ subnet: '10.244.2.0/24', node: 'b', addr: '10.244.2.0', backendType: 'udp', publicIp: '198.18.0.11' });
    expect(overlayTarget(lease('10.244.2.0/24', 'host-gw', 'b'), 'host-gw')).toEqual({ subnet: '10.244.2.0/24', node: 'b', addr: '10.244.2.1', backendType: 'host-gw', publicIp: '198.18.0.11' });
  });

  it('skips peers of another backend (the backend does not program them); names by subnet without a node', () => {
    expect(overlayTarget(lease('10.244.2.0/24', 'host-gw'), 'vxlan')).toBeUndefined();
    expect(overlayTargets([lease('10.244.3.0/24', 'vxlan', 'c'), lease('10.244.4.0/24', 'vxlan'), lease('10.244.2.0/24', 'vxlan', 'a')], 'vxlan').map((t) => t.node)).toEqual([
      '10.244.4.0/24',
      'a',
      'c',
    ]);
  });
});

describe('overlayTargets of a node that reaches every peer the way it advertises', () => {
  it('probes each peer by its own backend and skips backends flannel-ts does not implement', () => {
    expect(overlayTargets([lease('10.244.2.0/24', 'vxlan', 'a'), lease('10.244.3.0/24', 'host-gw', 'b'), lease('10.244.4.0/24', '', 'c'), lease('10.244.5.0/24', 'wireguard', 'd')]).map((t) => t.addr)).toEqual([
      '10.244.2.0',
      '10.244.3.1',
      '10.244.4.0',
    ]);
  });
});

describe('IPv6 targets', () => {
  const dual = (v4: string | undefined, v6: string, backendType: string, node: string): Lease => ({
    ...(v4 !== undefined ? { subnet: parseCidr(v4)! } : {}),
    ipv6Subnet: parseCidr6(v6)!,
    attrs: { backendType, ...(v4 !== undefined ? { publicIp: '198.18.0.11', backendData: 'null' } : {}), publicIpv6: 'fd00:198:18::11', backendV6Data: 'null' },
    node,
  });

  it('the IPv6 half answers on its subnet address (flannel-v6.N), or host-gw on the cni0 gateway; udp carries no IPv6', () => {
    expect(overlayTarget(dual('10.244.2.0/24', 'fd00:10:244:2::/64', 'vxlan', 'b'), 'vxlan', 'ipv6')).toEqual({ subnet: 'fd00:10:244:2::/64', node: 'b', addr: 'fd00:10:244:2::', backendType: 'vxlan', publicIp: 'fd00:198:18::11' });
    expect(overlayTarget(dual('10.244.2.0/24', 'fd00:10:244:2::/64', 'host-gw', 'b'), 'host-gw', 'ipv6')?.addr).toBe('fd00:10:244:2::1');
    expect(overlayTarget(dual('10.244.2.0/24', 'fd00:10:244:2::/64', '', 'b'), 'udp', 'ipv6')).toBeUndefined();
  });

  it('peer health probes each half a peer has: a dual-stack peer over IPv4 and IPv6, an IPv6-only one over IPv6, udp over IPv4', () => {
    const peers = [dual(undefined, 'fd00:10:244:3::/64', 'vxlan', 'b'), dual('10.244.2.0/24', 'fd00:10:244:2::/64', 'host-gw', 'a'), dual('10.244.4.0/24', 'fd00:10:244:4::/64', '', 'c')];
    expect(healthTargets(peers).map((t) => `${t.node} ${t.addr}`)).toEqual(['a 10.244.2.1', 'a fd00:10:244:2::1', 'b fd00:10:244:3::', 'c 10.244.4.0']);
  });
});
