import { describe, expect, it } from 'vitest';
import { HealthState } from '../../../src/observe/health.ts';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('HealthState', () => {
  it('is live with upstream\'s body and not ready until the daemon says so', () => {
    const h = new HealthState();
    expect(h.liveness()).toEqual({ ok: true, body: 'flanneld is running' });
    expect(h.readiness()).toEqual({ ok: false, body: 'not ready: starting' });
    h.setReady('3 of 10 peers programmed');
    expect(h.readiness()).toEqual({ ok: false, body: 'not ready: 3 of 10 peers programmed' });
    h.setReady(null);
    expect(h.readiness()).toEqual({ ok: true, body: 'flanneld is ready' });
    h.setReady('net-conf.json invalid: Backend.Type "vxlam" is not a backend');
    expect(h.readiness().ok).toBe(false);
  });

  it('names a migration in progress in the 200 body, and never in a 503', () => {
    const h = new HealthState();
    let note: string | undefined = 'backend host-gw; also vxlan (draining, 41 s left)';
    h.setNote(() => note);
    expect(h.readiness()).toEqual({ ok: false, body: 'not ready: starting' });
    h.setReady(null);
    expect(h.readiness()).toEqual({ ok: true, body: 'flanneld is ready; backend host-gw; also vxlan (draining, 41 s left)' });
    note = undefined;
    expect(h.readiness()).toEqual({ ok: true, body: 'flanneld is ready' });
  });

  it('fails liveness for a loop that stops beating, naming it, and recovers on the next beat', () => {
    const c = clock();
    const h = new HealthState({ now: c.now });
    h.watchdog('reconcile', 60_000);
    h.watchdog('kube-watch', 120_000);
    c.advance(60_000);
    expect(h.liveness().ok).toBe(true); // exactly at the limit is still fine
    c.advance(1);
    h.heartbeat('kube-watch');
    expect(h.liveness()).toEqual({ ok: false, body: 'flanneld is stuck: reconcile made no progress for 60s (limit 60s)' });
    c.advance(125_000);
    expect(h.liveness().body).toBe(
      'flanneld is stuck: reconcile made no progress for 185s (limit 60s); kube-watch made no progress for 125s (limit 120s)',
    );
    h.heartbeat('reconcile');
    h.heartbeat('kube-watch');
    expect(h.liveness().ok).toBe(true);
  });

  it('ignores beats for loops it does not watch and stops watching on unwatch', () => {
    const c = clock();
    const h = new HealthState({ now: c.now });
    h.heartbeat('nobody');
    h.watchdog('reconcile', 1000);
    c.advance(5000);
    expect(h.liveness().ok).toBe(false);
    h.unwatch('reconcile');
    expect(h.liveness().ok).toBe(true);
    expect(() => h.watchdog('x', 0)).toThrow(/maxStallMs must be > 0/);
  });
});
