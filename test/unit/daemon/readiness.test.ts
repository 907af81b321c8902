import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { PeerFailure, ReconcileReport } from '../../../src/backends/backend.ts';
import { PEER_FAILURE_GRACE_RUNS, PeerProblems, peerFailureHoldsReadiness, Readiness, readinessStats } from '../../../src/daemon/readiness.ts';
import { KernelError } from '../../../src/netlink/errors.ts';
import { HealthState } from '../../../src/observe/health.ts';

function captureLog(): { log: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'debug', base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

const EINVAL = 22;
const ENODEV = 19;
const ENOBUFS = 105;
const fail = (subnet: string, errno: number, node = `node-${subnet}`): PeerFailure => ({ subnet, node, error: new KernelError(errno, 'RTM_NEWROUTE', `${subnet} via 198.18.0.9`) });
const report = (failed: PeerFailure[], notOnLink: string[] = []): ReconcileReport => ({ generation: 1, created: 0, replaced: 0, deleted: 0, unchanged: 0, failed, ms: 1, notOnLink });

describe('what holds readiness', () => {
  it('a peer the kernel refuses holds it only for the first runs; the node’s own datapath errors always', () => {
    for (let runs = 1; runs < PEER_FAILURE_GRACE_RUNS; runs++) expect(peerFailureHoldsReadiness(fail('a', EINVAL), runs)).toBe(true);
    expect(peerFailureHoldsReadiness(fail('a', EINVAL), PEER_FAILURE_GRACE_RUNS)).toBe(false);
    expect(peerFailureHoldsReadiness({ subnet: 'a', error: new Error('public IP "x" is not an IPv4 address') }, 10)).toBe(false);
    for (const errno of [ENODEV, ENOBUFS]) expect(peerFailureHoldsReadiness(fail('a', errno), 100)).toBe(true);
  });

  it('/readyz: a config problem, then a datapath hold, then the phase; notes below the verdict without holding it', () => {
    const health = new HealthState();
    const r = new Readiness(health);
    r.setPhase(null);
    expect(health.readiness()).toEqual({ ok: true, body: 'flanneld is ready' });
    r.setNotes('api', () => ['lost contact with the API server https://x']);
    r.setNotes('peers', () => ['peer n3 (10.244.3.0/24) is not programmed: EINVAL']);
    expect(health.readiness()).toEqual({
      ok: true,
      body: 'flanneld is ready\nwarning: lost contact with the API server https://x\nwarning: peer n3 (10.244.3.0/24) is not programmed: EINVAL',
    });
    r.setHold('subnet.env', 'cannot write /run/flannel/subnet.env: EROFS');
    expect(health.readiness()).toMatchObject({ ok: false, body: expect.stringMatching(/^not ready: cannot write \/run\/flannel\/subnet.env: EROFS\nwarning: lost contact/) });
    r.setConfigProblem('net-conf.json invalid: x');
    expect(health.readiness().body.split('\n')[0]).toBe('not ready: net-conf.json invalid: x');
    r.setConfigProblem(undefined);
    r.setHold('subnet.env', undefined);
    r.setNotes('api', () => []);
    expect(health.readiness()).toEqual({ ok: true, body: 'flanneld is ready\nwarning: peer n3 (10.244.3.0/24) is not programmed: EINVAL' });
  });
});

describe('PeerProblems', () => {
  it('logs a failing peer once per reason, lists and counts it, and says when it works again', () => {
    const { log, lines } = captureLog();
    const peers = new Set(['10.244.2.0/24', '10.244.3.0/24']);
    const p = new PeerProblems(log, (s) => peers.has(s));
    p.observe(report([fail('10.244.2.0/24', EINVAL, 'n2'), { subnet: 'stale route', error: new KernelError(EINVAL, 'RTM_DELROUTE', 'x') }], ['n9']));
    p.observe(report([fail('10.244.2.0/24', EINVAL, 'n2')], ['n9']));
    expect(lines.map((l) => l.msg)).toEqual([
      'cannot program peer n2 (10.244.2.0/24): RTM_NEWROUTE 10.244.2.0/24 via 198.18.0.9: EINVAL; retrying on every resync (it does not hold readiness)',
    ]);
    expect(p.notes()).toEqual([
      'peer n2 (10.244.2.0/24) is not programmed: RTM_NEWROUTE 10.244.2.0/24 via 198.18.0.9: EINVAL',
      'host-gw peer n9 is not on-link: its public IP is not on a directly connected network, so no route to it exists',
    ]);
    expect(readinessStats(p, { 'subnet-range': 1 })).toEqual({ peersUnprogrammed: { EINVAL: 1 }, configWarnings: { 'subnet-range': 1 } });

    p.observe(report([fail('10.244.2.0/24', ENODEV, 'n2'), fail('10.244.3.0/24', EINVAL, 'n3')]));
    expect(lines.slice(1).map((l) => l.msg)).toEqual([
      'cannot program peer n2 (10.244.2.0/24): RTM_NEWROUTE 10.244.2.0/24 via 198.18.0.9: ENODEV; retrying on every resync (this node’s datapath is failing)',
      'cannot program peer n3 (10.244.3.0/24): RTM_NEWROUTE 10.244.3.0/24 via 198.18.0.9: EINVAL; retrying on every resync (it does not hold readiness)',
    ]);
    expect(p.byReason()).toEqual({ ENODEV: 1, EINVAL: 1 });

    peers.delete('10.244.3.0/24'); // n3 left: its failure ends without news
    p.observe(report([]));
    expect(lines.slice(3).map((l) => l.msg)).toEqual(['peer n2 (10.244.2.0/24) is programmed now']);
    expect(p.notes()).toEqual([]);
    expect(p.byReason()).toEqual({});
  });

  it('names ten peers in /readyz and counts the rest', () => {
    const p = new PeerProblems(captureLog().log, () => true);
    p.observe(report(Array.from({ length: 12 }, (_, i) => fail(`10.244.${i}.0/24`, EINVAL))));
    const notes = p.notes();
    expect(notes).toHaveLength(11);
    expect(notes[10]).toBe('… and 2 more peers (see flannel_peers_unprogrammed and flannel_hostgw_peers_not_on_link)');
  });
});
