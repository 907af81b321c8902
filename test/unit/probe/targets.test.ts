import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../src/ip/ipv4.ts';
import { overlayTarget, overlayTargets } from '../../../src/probe/targets.ts';
import type { Lease } from '../../../src/subnet/lease.ts';

const lease = (subnet: string, backendType: string, node?: string): Lease => ({
  subnet: parseCidr(subnet)!,
  attrs: { publicIp: '198.18.0.11', backendType, backendData: 'null' },
  ...(node !== undefined ? { node } : {}),
});

describe('overlayTarget', () => {
  it('vxlan and udp peers answer on their subnet address (flannel.N / flannel0), host-gw on the cni0 gateway', () => {
    expect(overlayTarget(lease('10.244.2.0/24', 'vxlan', 'b'), 'vxlan')).toEqual({ subnet: '10.244.2.0/24', node: 'b', addr: '10.244.2.0' });
    expect(overlayTarget(lease('10.244.2.0/24', '', 'b'), 'udp')).toEqual({ subnet: '10.244.2.0/24', node: 'b', addr: '10.244.2.0' });
    expect(overlayTarget(lease('10.244.2.0/24', 'host-gw', 'b'), 'host-gw')).toEqual({ subnet: '10.244.2.0/24', node: 'b', addr: '10.244.2.1' });
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
