import { describe, expect, it } from 'vitest';
import { migrationNote } from '../../../src/daemon/migration-note.ts';

describe('migrationNote', () => {
  it('is nothing while the advertised backend runs alone', () => {
    expect(migrationNote({ advertised: 'vxlan', backends: [{ type: 'vxlan', roles: ['advertised', 'peers'], peers: 3 }] }, 0)).toBeUndefined();
  });

  it('names each other backend and why it runs', () => {
    const view = {
      advertised: 'host-gw' as const,
      backends: [
        { type: 'vxlan' as const, roles: ['peers', 'draining'] as const, peers: 2, drainEndsAt: 41_000 },
        { type: 'host-gw' as const, roles: ['advertised'] as const, peers: 0 },
        { type: 'udp' as const, roles: ['peers'] as const, peers: 1 },
      ],
    };
    expect(migrationNote(view, 500)).toBe('backend host-gw; also vxlan (draining, 41 s left; 2 peers advertise it), udp (1 peer advertises it)');
    expect(migrationNote({ advertised: 'host-gw', backends: [{ type: 'udp', roles: ['draining'], peers: 0 }] }, 0)).toBe('backend host-gw; also udp (draining)');
  });
});
