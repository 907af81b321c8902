import { describe, expect, it } from 'vitest';
import { drainsOnSwitch, expiredDrains, nextDeadline, wantedBackends } from '../../../../src/backends/multi/lifecycle.ts';
import type { BackendType } from '../../../../src/backends/multi/partition.ts';

const m = <V>(entries: [BackendType, V][]): Map<BackendType, V> => new Map(entries);

describe('wantedBackends', () => {
  it('runs the configured backend alone when every peer advertises it', () => {
    expect(wantedBackends({ configured: 'vxlan', peers: m([['vxlan', 3]]), draining: m([]), now: 0 })).toEqual(m([['vxlan', ['advertised', 'peers']]]));
    expect(wantedBackends({ configured: 'host-gw', peers: m([]), draining: m([]), now: 0 })).toEqual(m([['host-gw', ['advertised']]]));
  });

  it('runs every backend peers advertise, to reach them', () => {
    expect(wantedBackends({ configured: 'vxlan', peers: m([['host-gw', 1], ['udp', 2]]), draining: m([]), now: 0 })).toEqual(
      m([['vxlan', ['advertised']], ['host-gw', ['peers']], ['udp', ['peers']]]),
    );
  });

  it('keeps the previous backend until its grace period is over, and longer while peers advertise it', () => {
    const draining = m<number | undefined>([['vxlan', 1000]]);
    expect(wantedBackends({ configured: 'host-gw', peers: m([]), draining, now: 999 }).get('vxlan')).toEqual(['draining']);
    expect(wantedBackends({ configured: 'host-gw', peers: m([]), draining, now: 1000 }).has('vxlan')).toBe(false);
    expect(wantedBackends({ configured: 'host-gw', peers: m([['vxlan', 1]]), draining, now: 5000 }).get('vxlan')).toEqual(['peers']);
    // Not started yet (adopted at startup, before the peers are known): kept.
    expect(wantedBackends({ configured: 'host-gw', peers: m([]), draining: m([['udp', undefined]]), now: 1e12 }).get('udp')).toEqual(['draining']);
  });

  it('a backend configured again is advertised, not draining', () => {
    expect(wantedBackends({ configured: 'vxlan', peers: m([]), draining: m([['vxlan', 1000]]), now: 0 })).toEqual(m([['vxlan', ['advertised']]]));
  });
});

describe('expiredDrains and nextDeadline', () => {
  it('drops drains that are over or configured again; the next run comes when the next one ends', () => {
    const draining = m<number | undefined>([['vxlan', 1000], ['udp', 3000], ['host-gw', undefined]]);
    expect(expiredDrains({ configured: 'host-gw', peers: m([]), draining, now: 1000 })).toEqual(['vxlan', 'host-gw']);
    expect(nextDeadline(draining.values(), 1000)).toBe(3000);
    expect(nextDeadline(draining.values(), 500)).toBe(1000);
    expect(nextDeadline([], 0)).toBeUndefined();
  });

  it('host-gw keeps nothing to receive: the kernel forwards what arrives on the external interface', () => {
    expect(drainsOnSwitch('host-gw')).toBe(false);
    expect(drainsOnSwitch('vxlan')).toBe(true);
    expect(drainsOnSwitch('udp')).toBe(true);
  });
});
