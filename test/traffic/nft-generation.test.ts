/**
 * The periodic rule check answered by the nf_tables generation, in network namespaces: while no
 * commit reaches nf_tables, a check runs no process at all; any commit (ours, another tool's)
 * makes the next check read the rules, so a flushed chain is still repaired within one period.
 * iptables-legacy rules live outside nf_tables: with that backend every check reads them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../src/ip/ipv4.ts';
import { openNftGeneration } from '../../src/netlink/nft-generation.ts';
import { createLogger, silentLogger } from '../../src/observe/log.ts';
import type { CommandRunner } from '../../src/traffic/exec.ts';
import { createTrafficManager, type TrafficMode } from '../../src/traffic/manager.ts';
import { NetnsSet, nsRunner, requireRoot, savedOurs, sh } from './netns.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const NET = cidr('10.244.0.0/16');
const POD = cidr('10.244.1.0/24');

const nets = new NetnsSet('ftgn');
afterAll(() => nets.removeAll());
beforeAll(() => requireRoot());

async function manager(ns: string, mode: TrafficMode, backend: 'nft' | 'legacy') {
  const gen = openNftGeneration({ netns: ns });
  const r = nsRunner(ns);
  const tm = createTrafficManager({ mode, exec: r.exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true, iptablesMode: backend, nftGeneration: () => gen.read() });
  await tm.ensureMasq(NET, POD);
  await tm.ensureForward(NET);
  return { tm, calls: r.calls, close: () => gen.close() };
}

describe('periodic rule checks and the nf_tables generation', () => {
  it.each([
    ['iptables, nft backend', 'iptables', 'iptables-nft -t nat -F FLANNEL-POSTRTG'],
    ['nftables mode', 'nftables', 'nft flush chain ip flannel-ipv4 postrtg'],
  ] as const)('%s: no process while nf_tables is unchanged; another commit makes the next check read; a flushed chain is repaired', async (_name, mode, flush) => {
    const ns = await nets.add(mode);
    const { tm, calls, close } = await manager(ns, mode, 'nft');
    try {
      const rules = async () => (mode === 'iptables' ? savedOurs(ns, 'nat') : sh(ns, 'nft list chain ip flannel-ipv4 postrtg'));
      const want = await rules();
      await tm.resync();
      const quiet = calls.length;
      await tm.resync();
      await tm.resync();
      expect(calls.length).toBe(quiet);
      expect(tm.stats()).toMatchObject({ resyncs: 3, unchanged: 2, repairs: 0 });

      // A commit to another table (kube-proxy's, say): the next check reads, and finds ours intact.
      await sh(ns, 'nft add table ip someone-else');
      await tm.resync();
      expect(calls.length).toBeGreaterThan(quiet);
      expect(tm.stats()).toMatchObject({ resyncs: 4, unchanged: 2, repairs: 0 });

      await sh(ns, flush);
      await tm.resync();
      expect(tm.stats()).toMatchObject({ resyncs: 5, unchanged: 2, repairs: 1 });
      expect(await rules()).toEqual(want);
      // The repair was a commit too: one more reading check, then quiet again.
      const afterRepair = calls.length;
      await tm.resync();
      expect(calls.length).toBeGreaterThan(afterRepair);
      const settled = calls.length;
      await tm.resync();
      expect(calls.length).toBe(settled);
      expect(tm.stats()).toMatchObject({ resyncs: 7, unchanged: 3, repairs: 1 });
    } finally {
      close();
    }
  });

  it('iptables-legacy: every check reads the rules (legacy changes move no nf_tables generation), so a flush is repaired', async () => {
    const ns = await nets.add('legacy');
    const { tm, calls, close } = await manager(ns, 'iptables', 'legacy');
    try {
      await tm.resync();
      const first = calls.length;
      await tm.resync();
      expect(calls.length).toBeGreaterThan(first);
      await sh(ns, 'iptables-legacy -t nat -F FLANNEL-POSTRTG');
      await tm.resync();
      expect(tm.stats()).toMatchObject({ resyncs: 3, unchanged: 0, repairs: 1 });
      expect((await sh(ns, 'iptables-legacy -t nat -S FLANNEL-POSTRTG')).split('\n').filter((l) => l.startsWith('-A'))).toHaveLength(6);
    } finally {
      close();
    }
  });

  it('a lease change that failed to reach the kernel is written by the next check, though nf_tables has not changed', async () => {
    const ns = await nets.add('lease');
    const gen = openNftGeneration({ netns: ns });
    const r = nsRunner(ns);
    let restoreFails = false;
    const exec: CommandRunner = (file, args, input) =>
      restoreFails && file.endsWith('-restore') ? Promise.resolve({ code: 4, stdout: '', stderr: 'Another app is currently holding the xtables lock.' }) : r.exec(file, args, input);
    const tm = createTrafficManager({ mode: 'iptables', exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true, iptablesMode: 'nft', nftGeneration: () => gen.read() });
    try {
      await tm.ensureMasq(NET, POD);
      await tm.resync();
      await tm.resync();
      expect(tm.stats()).toMatchObject({ resyncs: 2, unchanged: 1 });
      restoreFails = true;
      await expect(tm.ensureMasq(NET, cidr('10.244.2.0/24'))).rejects.toThrow(/xtables lock/);
      restoreFails = false;
      await tm.resync();
      expect(tm.stats()).toMatchObject({ resyncs: 3, unchanged: 1, repairs: 1 });
      expect(await savedOurs(ns, 'nat')).toContain('-A FLANNEL-POSTRTG -s 10.244.2.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN');
    } finally {
      gen.close();
    }
  });

  it('a generation that cannot be read: said once, and every check reads the rules', async () => {
    const ns = await nets.add('nogen');
    const lines: string[] = [];
    const log = createLogger({ format: 'json', destination: { write: (l: string) => (lines.push(String(JSON.parse(l).msg)), true) } as unknown as NodeJS.WritableStream });
    const r = nsRunner(ns);
    const tm = createTrafficManager({ mode: 'iptables', exec: r.exec, log, resyncSeconds: 5, fullyRandom: true, iptablesMode: 'nft', nftGeneration: () => Promise.reject(new Error('socket(AF_NETLINK): EPROTONOSUPPORT')) });
    await tm.ensureMasq(NET, POD);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      await tm.resync();
      counts.push(r.calls.length);
    }
    expect(counts[1]).toBeGreaterThan(counts[0]!);
    expect(counts[2]).toBeGreaterThan(counts[1]!);
    expect(tm.stats()).toMatchObject({ resyncs: 3, unchanged: 0 });
    expect(lines.filter((l) => l.startsWith('cannot read the nf_tables generation'))).toEqual([
      'cannot read the nf_tables generation (socket(AF_NETLINK): EPROTONOSUPPORT); the rules are read at every check instead',
    ]);
  });
});
