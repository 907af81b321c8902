/**
 * --iptables-mode in network namespaces: the backend the kubelet's and kube-proxy's rules are in
 * gets our rules, the other gets none (and loses any of ours), and EnableNFTables still wins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../src/ip/ipv4.ts';
import { createLogger } from '../../src/observe/log.ts';
import { createTrafficManager, type TrafficMode } from '../../src/traffic/manager.ts';
import type { IptablesModeSetting } from '../../src/traffic/iptables-mode.ts';
import { NetnsSet, nsRunner, requireRoot, sh } from './netns.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const NET = cidr('10.244.0.0/16');
const POD = cidr('10.244.1.0/24');

const nets = new NetnsSet('fttr');
afterAll(() => nets.removeAll());
beforeAll(() => requireRoot());

/** Our chains as one backend's iptables-save prints them (all tables: never creates one). */
async function ours(ns: string, backend: 'legacy' | 'nft'): Promise<string[]> {
  return (await sh(ns, `iptables-${backend}-save`)).split('\n').filter((l) => /FLANNEL-|flanneld/.test(l)).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

async function run(ns: string, setting: IptablesModeSetting, mode: TrafficMode = 'iptables') {
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream });
  const r = nsRunner(ns);
  const tm = createTrafficManager({ mode, exec: r.exec, log, resyncSeconds: 5, fullyRandom: true, iptablesMode: setting });
  await tm.cleanupOtherMode();
  await tm.ensureMasq(NET, POD);
  await tm.ensureForward(NET);
  const tools = new Set(r.calls.map((c) => c.file));
  return { tm, lines, tools, choice: lines.find((l) => / Using (iptables|nftables) /.test(l)) ?? '' };
}

describe('iptables backend detection', () => {
  it('a host whose kubelet uses iptables-legacy gets our rules in legacy, none in nft', async () => {
    const ns = await nets.add('legacy');
    await sh(ns, 'iptables-legacy -t mangle -N KUBE-IPTABLES-HINT && iptables-legacy -t nat -N KUBE-POSTROUTING && iptables-legacy -t nat -A POSTROUTING -j KUBE-POSTROUTING');
    const { tm, choice, tools } = await run(ns, 'auto');
    console.log(`[legacy namespace] ${choice.trim()}`);
    expect(choice).toMatch(/^I\d{4} .* Using iptables legacy mode: the kubelet's KUBE-IPTABLES-HINT chain is in iptables-legacy backend="legacy" restore="iptables-legacy-restore" save="iptables-legacy-save" strayChainsIn=\[\]\n$/);
    expect(tm.iptablesBackend).toBe('legacy');
    expect(await ours(ns, 'legacy')).toContain('-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
    expect(await ours(ns, 'legacy')).toContain('-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT');
    // kube-proxy's jump stays first, ours after it, in the same backend.
    expect((await sh(ns, 'iptables-legacy -t nat -S POSTROUTING')).split('\n').slice(1, 3)).toEqual(['-A POSTROUTING -j KUBE-POSTROUTING', '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG']);
    expect(await ours(ns, 'nft')).toEqual([]);
    // Only the legacy tools wrote anything (the nft ones were only read, by the detection).
    expect([...tools].filter((t) => t.endsWith('-restore')).sort()).toEqual(['iptables-legacy-restore']);
  });

  it('a host whose kubelet uses iptables-nft gets our rules in nft, none in legacy', async () => {
    const ns = await nets.add('nft');
    await sh(ns, 'iptables-nft -t mangle -N KUBE-IPTABLES-HINT && iptables-nft -t nat -N KUBE-SERVICES');
    const { tm, choice } = await run(ns, 'auto');
    console.log(`[nft namespace] ${choice.trim()}`);
    expect(choice).toMatch(/ Using iptables nft mode: the kubelet's KUBE-IPTABLES-HINT chain is in iptables-nft backend="nft" /);
    expect(tm.iptablesBackend).toBe('nft');
    expect(await ours(ns, 'nft')).toContain('-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
    expect(await ours(ns, 'legacy')).toEqual([]);
  });

  it("moves our chains out of the backend not in use (an earlier run's choice), and --iptables-mode overrides the host", async () => {
    const ns = await nets.add('moved');
    await sh(ns, 'iptables-nft -t mangle -N KUBE-IPTABLES-HINT');
    await run(ns, 'auto');
    expect(await ours(ns, 'nft')).not.toEqual([]);
    const { tm, choice } = await run(ns, 'legacy');
    expect(choice).toMatch(/ Using iptables legacy mode: set by --iptables-mode=legacy .* strayChainsIn=\["nft"\]\n$/);
    expect(tm.iptablesBackend).toBe('legacy');
    expect(await ours(ns, 'nft')).toEqual([]);
    expect(await ours(ns, 'legacy')).toContain('-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
  });

  it('EnableNFTables still wins: rules in table ip flannel-ipv4, none in either iptables backend', async () => {
    const ns = await nets.add('nftables');
    await sh(ns, 'iptables-legacy -t mangle -N KUBE-IPTABLES-HINT');
    // A previous iptables-mode run left our chains in legacy: nftables mode removes them.
    await run(ns, 'auto');
    expect(await ours(ns, 'legacy')).not.toEqual([]);
    const { tm, choice } = await run(ns, 'auto', 'nftables');
    expect(choice).toMatch(/ Using nftables mode \(EnableNFTables\), so iptables is not used strayChainsIn=\["legacy"\]\n$/);
    expect(tm.iptablesBackend).toBe('none');
    expect(await sh(ns, 'nft list chain ip flannel-ipv4 postrtg')).toContain('masquerade');
    expect(await ours(ns, 'legacy')).toEqual([]);
    expect(await ours(ns, 'nft')).toEqual([]);
  });
});
