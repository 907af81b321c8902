import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../src/ip/ipv4.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createTrafficManager, type TrafficManager } from '../../src/traffic/manager.ts';
import { forwardRuleLines, masqRuleLines } from './golden.ts';
import { NetnsSet, nsRunner, requireRoot, savedOurs, sh } from './netns.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const NET = cidr('10.244.0.0/16');
const POD = cidr('10.244.1.0/24');

/** Upstream's rules (pkg/trafficmngr/iptables/iptables.go; e2e/rules.go checks the same lines), in iptables-save order: chain declaration, then rules. */
function goldenNat(pod: string, cluster: string, randomFully: boolean): string[] {
  return [':FLANNEL-POSTRTG -', ...masqRuleLines(pod, cluster, '224.0.0.0/4', randomFully)];
}
const GOLDEN_FILTER = [':FLANNEL-FWD -', ...forwardRuleLines('10.244.0.0/16')];

const nets = new NetnsSet('fttr');
afterAll(() => nets.removeAll());
beforeAll(() => requireRoot());

async function setup(name: string, fullyRandom = true): Promise<{ ns: string; tm: TrafficManager; restores: () => number }> {
  const ns = await nets.add(name);
  const r = nsRunner(ns);
  const tm = createTrafficManager({ mode: 'iptables', exec: r.exec, log: silentLogger(), resyncSeconds: 5, fullyRandom });
  // The probe for --random-fully is a --test run; it changes nothing and is not a "change".
  const restores = () => r.calls.filter((c) => c.file === 'iptables-restore' && !c.args.includes('--test')).length;
  return { ns, tm, restores };
}

describe('iptables mode', () => {
  it('installs the exact upstream rules with one iptables-restore, after existing POSTROUTING rules', async () => {
    const { ns, tm, restores } = await setup('golden');
    await sh(ns, 'iptables -t nat -N KUBE-POSTROUTING && iptables -t nat -A POSTROUTING -j KUBE-POSTROUTING');
    await tm.ensureMasq(NET, cidr('10.244.1.1/24'));
    expect(restores()).toBe(1);
    await tm.ensureForward(NET);
    expect(restores()).toBe(2);
    expect(await savedOurs(ns, 'nat')).toEqual(goldenNat('10.244.1.0/24', '10.244.0.0/16', true));
    expect(await savedOurs(ns, 'filter')).toEqual(GOLDEN_FILTER);
    // Appended: kube-proxy's jump stays first.
    expect((await sh(ns, 'iptables -t nat -S POSTROUTING')).split('\n').slice(1, 3)).toEqual([
      '-A POSTROUTING -j KUBE-POSTROUTING',
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    ]);
    expect(tm.stats().changes).toBe(2);
  });

  it('omits --random-fully when disabled', async () => {
    const { ns, tm } = await setup('norandom', false);
    await tm.ensureMasq(NET, POD);
    expect(await savedOurs(ns, 'nat')).toEqual(goldenNat('10.244.1.0/24', '10.244.0.0/16', false));
  });

  it('is idempotent: a second ensure and a clean resync fork no restore and add no jump', async () => {
    const { ns, tm, restores } = await setup('idem');
    await tm.ensureMasq(NET, POD);
    await tm.ensureForward(NET);
    const before = (await sh(ns, 'iptables-save -t nat; iptables-save -t filter')).replace(/^#.*$/gm, '');
    await tm.ensureMasq(NET, POD);
    await tm.ensureForward(NET);
    await tm.resync();
    expect(restores()).toBe(2);
    expect((await sh(ns, 'iptables-save -t nat; iptables-save -t filter')).replace(/^#.*$/gm, '')).toBe(before);
    expect(tm.stats()).toMatchObject({ resyncs: 1, repairs: 0, changes: 2, errors: 0 });
  });

  it('repairs a deleted rule and a deleted jump on resync, counted by reason', async () => {
    const { ns, tm, restores } = await setup('repair');
    await tm.ensureMasq(NET, POD);
    await tm.ensureForward(NET);
    await sh(ns, 'iptables -t nat -D FLANNEL-POSTRTG 1');
    await tm.resync();
    expect(await savedOurs(ns, 'nat')).toEqual(goldenNat('10.244.1.0/24', '10.244.0.0/16', true));
    expect(tm.stats().repairsByReason).toEqual({ 'rules-differ': 1 });

    await sh(ns, 'iptables -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD');
    await sh(ns, 'iptables -t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG');
    await tm.resync();
    expect(await savedOurs(ns, 'filter')).toEqual(GOLDEN_FILTER);
    expect(await savedOurs(ns, 'nat')).toEqual(goldenNat('10.244.1.0/24', '10.244.0.0/16', true));
    const s = tm.stats();
    expect(s.repairsByReason).toEqual({ 'rules-differ': 1, 'jump-missing': 1, 'jump-duplicate': 1 });
    expect(s.repairs).toBe(2);
    expect(s.resyncs).toBe(2);
    // One restore per change, whichever tables it touches.
    expect(restores()).toBe(4);
  });

  it('replaces the rules of an old network and lease, and of pre-chain flannel, in one restore', async () => {
    const { ns, tm, restores } = await setup('recycle');
    await tm.ensureMasq(cidr('10.244.0.0/16'), cidr('10.244.9.0/24'));
    // flannel before FLANNEL-POSTRTG wrote masq rules straight into POSTROUTING.
    await sh(ns, 'iptables -t nat -A POSTROUTING -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN');
    await tm.ensureMasq(NET, POD, { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.9.0/24') });
    expect(restores()).toBe(2);
    expect(await savedOurs(ns, 'nat')).toEqual(goldenNat('10.244.1.0/24', '10.244.0.0/16', true));
  });

  it('swaps the chain content atomically: the whole change is one nf_tables generation', async () => {
    const { ns, tm } = await setup('atomic');
    await tm.ensureMasq(NET, cidr('10.244.9.0/24'));
    const mon = spawn('ip', ['netns', 'exec', ns, 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    mon.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      // Wait until the monitor is subscribed: a marker transaction must show up in its output.
      for (let i = 0; !out.includes('fttr-marker') && i < 200; i++) {
        await sh(ns, 'nft add table ip fttr-marker && nft delete table ip fttr-marker');
        await new Promise((r) => setTimeout(r, 25));
      }
      const mark = out.length;
      await tm.ensureMasq(NET, POD);
      await sh(ns, 'nft add table ip fttr-end && nft delete table ip fttr-end');
      for (let i = 0; !out.includes('fttr-end') && i < 200; i++) await new Promise((r) => setTimeout(r, 25));
      const ours = out.slice(mark, out.indexOf('add table ip fttr-end'));
      const generations = ours.split('\n').filter((l) => l.startsWith('# new generation'));
      expect(generations).toHaveLength(1);
      // The old rules are deleted and the new ones added inside that single generation.
      expect(ours).toMatch(/delete rule ip nat FLANNEL-POSTRTG/);
      expect(ours).toMatch(/add rule ip nat FLANNEL-POSTRTG (handle \d+ )?ip saddr 10\.244\.1\.0\/24 ip daddr 10\.244\.0\.0\/16 /);
    } finally {
      mon.kill();
    }
  });

  it('cleanupOtherMode removes the nftables tables and leaves iptables rules alone', async () => {
    const { ns, tm } = await setup('cleannft');
    await sh(ns, 'nft add table ip flannel-ipv4 && nft add table ip6 flannel-ipv6 && nft add table ip other');
    await tm.ensureMasq(NET, POD);
    await tm.cleanupOtherMode();
    expect((await sh(ns, 'nft list tables')).trim().split('\n')).not.toContain('table ip flannel-ipv4');
    expect(await sh(ns, 'nft list tables')).not.toMatch(/flannel-ipv6/);
    expect(await sh(ns, 'nft list tables')).toMatch(/table ip other/);
    expect(await savedOurs(ns, 'nat')).toEqual(goldenNat('10.244.1.0/24', '10.244.0.0/16', true));
  });
});
