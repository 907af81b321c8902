import { describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../../src/ip/ipv4.ts';
import { silentLogger } from '../../../src/observe/log.ts';
import type { CommandRunner } from '../../../src/traffic/exec.ts';
import { createTrafficManager } from '../../../src/traffic/manager.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;

/** A fake iptables: save prints an empty table; restore fails with the given stderr. */
function fakeIptables(restoreStderr: string | undefined): { exec: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  const exec: CommandRunner = async (file, args) => {
    calls.push(`${file} ${args.join(' ')}`);
    if (file === 'iptables-save') return { code: 0, stdout: `*${args[1]}\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n`, stderr: '' };
    if (args.includes('--test')) return { code: 0, stdout: '', stderr: '' };
    return restoreStderr === undefined ? { code: 0, stdout: '', stderr: '' } : { code: 1, stdout: '', stderr: restoreStderr };
  };
  return { exec, calls };
}

describe('createTrafficManager', () => {
  it('throws an error naming the network, lease and the failing payload line, and records it', async () => {
    const { exec } = fakeIptables('iptables-restore v1.8.9 (nf_tables): unknown option "--random-fully"\nError occurred at line: 3\n');
    const tm = createTrafficManager({ mode: 'iptables', exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
    await expect(tm.ensureMasq(cidr('10.244.0.0/16'), cidr('10.244.1.0/24'))).rejects.toThrow(
      /failed to set up masq rules for network 10\.244\.0\.0\/16 lease 10\.244\.1\.0\/24 \(iptables\): iptables-restore --noflush --wait=10 exited 1: .*unknown option.*\(payload line 3: -A FLANNEL-POSTRTG -m mark --mark 0x4000\/0x4000 /s,
    );
    expect(tm.stats()).toMatchObject({ errors: 1, changes: 0 });
    expect(tm.stats().lastError).toMatch(/unknown option/);
    // The wanted state is kept: the next resync tries again and counts the failure, without throwing.
    await tm.resync();
    expect(tm.stats()).toMatchObject({ resyncs: 1, errors: 2, repairs: 0 });
  });

  it('runResync checks once per period and stops on abort', async () => {
    const { exec, calls } = fakeIptables(undefined);
    const tm = createTrafficManager({ mode: 'iptables', exec, log: silentLogger(), resyncSeconds: 0.001, fullyRandom: false });
    await tm.ensureForward(cidr('10.244.0.0/16'));
    const ac = new AbortController();
    const loop = tm.runResync(ac.signal);
    while (tm.stats().resyncs < 3) await new Promise((r) => setImmediate(r));
    ac.abort();
    await loop;
    const n = tm.stats().resyncs;
    expect(n).toBeGreaterThanOrEqual(3);
    // Each check reads the filter table once (the fake never keeps rules, so each one also repairs).
    expect(calls.filter((c) => c === 'iptables-save -t filter').length).toBeGreaterThanOrEqual(n);
  });
});
