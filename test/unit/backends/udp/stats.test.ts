import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../../src/backends/backend.ts';
import { createBackend } from '../../../../src/backends/registry.ts';
import { UdpBackend } from '../../../../src/backends/udp/backend.ts';
import { parseCidr } from '../../../../src/ip/ipv4.ts';
import type { DatapathNative } from '../../../../src/native/datapath-native.ts';
import type { NetlinkHandle } from '../../../../src/netlink/types.ts';
import { silentLogger } from '../../../../src/observe/log.ts';

const ctx = {
  nl: {} as NetlinkHandle,
  ext: { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '198.18.0.11', extAddr: '198.18.0.11' },
  network: parseCidr('10.244.0.0/16')!,
  stored: {},
  log: silentLogger(),
};

describe('backend stats (what the daemon registers as the udp metrics source)', () => {
  it('the udp backend reports its datapath counters in the metrics shape, all zero before it forwards', () => {
    const b: Backend = new UdpBackend(ctx, { type: 'udp', port: 8285 }, { native: {} as DatapathNative });
    expect(b.stats?.()).toEqual({
      packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0,
      drops: { 'unknown-source': 0, malformed: 0, 'not-for-us': 0, 'ttl-expired': 0, 'no-route': 0, 'send-error': 0, 'tun-write-error': 0, 'not-ipv4': 0 },
    });
  });

  it('kernel backends have none (the kernel counts their packets)', () => {
    expect(createBackend({ type: 'host-gw' }, ctx).stats).toBeUndefined();
    expect(createBackend({ type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false }, ctx).stats).toBeUndefined();
  });
});
