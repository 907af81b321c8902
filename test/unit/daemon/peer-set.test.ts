import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../src/ip/ipv4.ts';
import type { Lease } from '../../../src/subnet/lease.ts';
import { PeerSet } from '../../../src/daemon/peer-set.ts';

function lease(subnet: string, publicIp: string, node = 'n'): Lease {
  return { subnet: parseCidr(subnet)!, node, attrs: { publicIp, backendType: 'vxlan', backendData: 'null' } };
}

describe('PeerSet', () => {
  it('adds, replaces, removes and bumps the generation only on change', () => {
    const s = new PeerSet();
    expect(s.apply([{ type: 'added', lease: lease('10.244.2.0/24', '198.18.0.3') }])).toBe(true);
    expect(s.generation).toBe(1);
    expect(s.apply([{ type: 'added', lease: lease('10.244.2.0/24', '198.18.0.3') }])).toBe(false);
    expect(s.generation).toBe(1);
    expect(s.apply([{ type: 'added', lease: lease('10.244.2.0/24', '198.18.0.4') }])).toBe(true);
    expect(s.snapshot().get('10.244.2.0/24')?.attrs.publicIp).toBe('198.18.0.4');
    expect(s.apply([{ type: 'removed', lease: lease('10.244.2.0/24', '198.18.0.4') }])).toBe(true);
    expect(s.size).toBe(0);
    expect(s.apply([{ type: 'removed', lease: lease('10.244.9.0/24', '198.18.0.9') }])).toBe(false);
    expect(s.generation).toBe(3);
  });
  it('tells which peers changed since it was last asked: added, changed and removed, not repeats', () => {
    const s = new PeerSet();
    s.apply([{ type: 'added', lease: lease('10.244.2.0/24', '198.18.0.3') }, { type: 'added', lease: lease('10.244.3.0/24', '198.18.0.4') }]);
    expect([...s.takeChanged()].sort()).toEqual(['10.244.2.0/24', '10.244.3.0/24']);
    expect([...s.takeChanged()]).toEqual([]);
    s.apply([
      { type: 'added', lease: lease('10.244.2.0/24', '198.18.0.3') },
      { type: 'added', lease: lease('10.244.3.0/24', '198.18.0.5') },
      { type: 'removed', lease: lease('10.244.9.0/24', '198.18.0.9') },
    ]);
    s.apply([{ type: 'removed', lease: lease('10.244.2.0/24', '198.18.0.3') }]);
    expect([...s.takeChanged()].sort()).toEqual(['10.244.2.0/24', '10.244.3.0/24']);
    expect([...s.live.keys()]).toEqual(['10.244.3.0/24']);
  });
  it('is listed from the first batch on, even an empty one (the complete list of other nodes)', () => {
    const s = new PeerSet();
    expect(s.listed).toBe(false);
    expect(s.apply([])).toBe(false);
    expect(s.listed).toBe(true);
  });
  it('counts peers by backend, udp for the empty type', () => {
    const s = new PeerSet();
    s.apply([
      { type: 'added', lease: lease('10.244.2.0/24', '198.18.0.3') },
      { type: 'added', lease: { ...lease('10.244.3.0/24', '198.18.0.4'), attrs: { publicIp: '198.18.0.4', backendType: '', backendData: 'null' } } },
    ]);
    expect([...s.countByBackend()]).toEqual([['vxlan', 1], ['udp', 1]]);
  });
});
