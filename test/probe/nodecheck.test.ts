/**
 * The node-check half of the addon against the real kernel, in namespaces this file creates
 * (ftnc-<pid>-a, -r, -b) and always removes:
 *  - ethtoolTxCsum reads and sets tx checksum offload of a vxlan device as `ethtool -k` shows it;
 *  - the raw ICMP prober gets echo replies through a router, EMSGSIZE above the local MTU, and
 *    the router's fragmentation-needed answer above the path MTU, from which the path check
 *    finds the largest size that passes — what `ping -M do` would show.
 * Needs root.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTxCsum, readTxCsum } from '../../src/kernel/tx-csum.ts';
import { IcmpProber } from '../../src/probe/icmp.ts';
import { checkPath } from '../../src/probe/path-mtu.ts';

const prefix = `ftnc-${process.pid}-`;
const [nsA, nsR, nsB] = ['a', 'r', 'b'].map((n) => prefix + n) as [string, string, string];
const isRoot = process.getuid?.() === 0;

function ip(ns: string, ...args: string[]): string {
  return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function inNs(ns: string, ...argv: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const ethtoolTx = (): string => /^\s*tx-checksum-ip-generic: (\S+)/m.exec(inNs(nsA, 'ethtool', '-k', 'vx0'))?.[1] ?? '?';

describe.skipIf(!isRoot)('node checks against the kernel', () => {
  beforeAll(() => {
    for (const ns of [nsA, nsR, nsB]) {
      execFileSync('ip', ['netns', 'add', ns]);
      ip(ns, 'link', 'set', 'lo', 'up');
    }
    // a ── r ── b; the r–b link has MTU 1400, a's link 1500.
    ip(nsA, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'r0', 'netns', nsR);
    ip(nsR, 'link', 'add', 'r1', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsB);
    ip(nsB, 'link', 'set', 'eth0', 'mtu', '1400');
    ip(nsA, 'addr', 'add', '10.244.1.1/24', 'dev', 'eth0');
    ip(nsR, 'addr', 'add', '10.244.1.254/24', 'dev', 'r0');
    ip(nsR, 'addr', 'add', '10.244.2.254/24', 'dev', 'r1');
    ip(nsB, 'addr', 'add', '10.244.2.1/24', 'dev', 'eth0');
    for (const [ns, dev] of [[nsA, 'eth0'], [nsR, 'r0'], [nsR, 'r1'], [nsB, 'eth0']] as const) ip(ns, 'link', 'set', dev, 'up');
    ip(nsA, 'route', 'add', '10.244.2.0/24', 'via', '10.244.1.254');
    ip(nsB, 'route', 'add', '10.244.1.0/24', 'via', '10.244.2.254');
    inNs(nsR, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    ip(nsA, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'local', '10.244.1.1', 'dev', 'eth0', 'nolearning');
  });
  afterAll(() => {
    for (const ns of [nsA, nsR, nsB]) {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  });

  it('reads and sets tx checksum offload of a vxlan device as ethtool -k shows it', () => {
    expect(ethtoolTx()).toBe('on');
    expect(readTxCsum('vx0', nsA)).toBe(true);
    expect(ensureTxCsum('vx0', false, nsA)).toBe(true);
    expect(ethtoolTx()).toBe('off');
    expect(readTxCsum('vx0', nsA)).toBe(false);
    expect(ensureTxCsum('vx0', false, nsA)).toBe(false); // already so: nothing done
    expect(ensureTxCsum('vx0', true, nsA)).toBe(true);
    expect(ethtoolTx()).toBe('on');
    expect(() => readTxCsum('nosuch0', nsA)).toThrow('ethtool get tx-checksum nosuch0: ENODEV');
  });

  it('probes through a router: echo, EMSGSIZE above the local MTU, frag needed above the path MTU', async () => {
    const p = IcmpProber.open({ netns: nsA });
    try {
      expect(await p.probe('10.244.2.1', 84, 2000)).toMatchObject({ ok: true, size: 84 });
      expect(await p.probe('10.244.2.1', 1400, 2000)).toMatchObject({ ok: true, size: 1400 });
      expect(await p.probe('10.244.2.1', 1501, 2000)).toEqual({ ok: false, size: 1501, reason: 'send-error', detail: 'EMSGSIZE (larger than the MTU of the route to 10.244.2.1)' });
      expect(await p.probe('10.244.2.1', 1450, 2000)).toEqual({ ok: false, size: 1450, reason: 'icmp-error', detail: 'frag needed and DF set (mtu = 1400) from 10.244.1.254', mtu: 1400 });
      expect(await p.probe('10.244.3.1', 84, 300)).toMatchObject({ ok: false, reason: 'send-error' });
      const r = await checkPath((d, s, t) => p.probe(d, s, t), '10.244.2.1', 1450, { timeoutMs: 1000, attempts: 2 });
      expect(r).toMatchObject({ reachable: true, mtuPasses: false, largest: 1400, detail: 'frag needed and DF set (mtu = 1400) from 10.244.1.254' });
      // Many in flight at once, each matched to its own reply.
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => p.probe(i % 2 === 0 ? '10.244.2.1' : '10.244.1.254', 84 + i, 2000)));
      expect(many.map((x) => [x.ok, x.size])).toEqual(Array.from({ length: 50 }, (_, i) => [true, 84 + i]));
      expect(p.inFlight).toBe(0);
    } finally {
      p.close();
    }
  });
});
