import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../src/ip/ipv4.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createTrafficManager, type TrafficManager } from '../../src/traffic/manager.ts';
import { NetnsSet, nsRunner, requireRoot, savedOurs, sh } from './netns.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const NET = cidr('10.244.0.0/16');
const POD = cidr('10.244.1.0/24');

/** `nft list table ip flannel-ipv4` as nft 1.0.6 prints it, with tabs and all. */
function golden(pod: string, rf: string): string {
  return `table ip flannel-ipv4 {
	comment "rules for flannel-ipv4"
	chain postrtg {
		comment "chain to manage traffic masquerading by flannel"
		type nat hook postrouting priority srcnat; policy accept;
		meta mark 0x00004000 return
		ip saddr ${pod} ip daddr 10.244.0.0/16 return
		ip saddr 10.244.0.0/16 ip daddr ${pod} return
		ip saddr != ${pod} ip daddr 10.244.0.0/16 return
		ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade${rf}
		ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade${rf}
	}

	chain forward {
		comment "chain to accept flannel traffic"
		type filter hook forward priority filter; policy accept;
		ip saddr 10.244.0.0/16 accept
		ip daddr 10.244.0.0/16 accept
	}
}
`;
}

const nets = new NetnsSet('fttr');
afterAll(() => nets.removeAll());
beforeAll(() => requireRoot());

async function setup(name: string, fullyRandom = true): Promise<{ ns: string; tm: TrafficManager; writes: () => number }> {
  const ns = await nets.add(name);
  const r = nsRunner(ns);
  const tm = createTrafficManager({ mode: 'nftables', exec: r.exec, log: silentLogger(), resyncSeconds: 5, fullyRandom });
  const writes = () => r.calls.filter((c) => c.file === 'nft' && c.args[0] === '-f').length;
  return { ns, tm, writes };
}

describe('nftables mode', () => {
  it('creates the exact upstream table, one nft transaction per change', async () => {
    const { ns, tm, writes } = await setup('golden');
    await tm.ensureMasq(NET, cidr('10.244.1.1/24'));
    await tm.ensureForward(NET);
    expect(writes()).toBe(2);
    expect(await sh(ns, 'nft list table ip flannel-ipv4')).toBe(golden('10.244.1.0/24', ' fully-random'));
  });

  it('omits fully-random when disabled', async () => {
    const { ns, tm } = await setup('norandom', false);
    await tm.ensureMasq(NET, POD);
    await tm.ensureForward(NET);
    expect(await sh(ns, 'nft list table ip flannel-ipv4')).toBe(golden('10.244.1.0/24', ''));
  });

  it('is idempotent, repairs a deleted rule and a deleted chain on resync, and follows a lease change', async () => {
    const { ns, tm, writes } = await setup('repair');
    await tm.ensureMasq(NET, POD);
    await tm.ensureForward(NET);
    await tm.ensureMasq(NET, POD);
    await tm.resync();
    expect(writes()).toBe(2);
    expect(tm.stats()).toMatchObject({ resyncs: 1, repairs: 0 });

    const handle = /meta mark 0x00004000 return # handle (\d+)/.exec(await sh(ns, 'nft -a list chain ip flannel-ipv4 postrtg'))![1];
    await sh(ns, `nft delete rule ip flannel-ipv4 postrtg handle ${handle}`);
    await tm.resync();
    await sh(ns, 'nft delete chain ip flannel-ipv4 forward');
    await tm.resync();
    expect(await sh(ns, 'nft list table ip flannel-ipv4')).toBe(golden('10.244.1.0/24', ' fully-random'));
    expect(tm.stats()).toMatchObject({ resyncs: 3, repairs: 2, repairsByReason: { 'rules-differ': 1, 'chain-missing': 1 } });

    await tm.ensureMasq(NET, cidr('10.244.7.0/24'), { network: NET, subnet: POD });
    expect(await sh(ns, 'nft list table ip flannel-ipv4')).toBe(golden('10.244.7.0/24', ' fully-random'));
    expect(writes()).toBe(5);
  });

  it('cleanupOtherMode removes iptables chains and jumps from nat and filter, leaving others', async () => {
    const { ns, tm } = await setup('cleanipt');
    const ipt = createTrafficManager({ mode: 'iptables', exec: nsRunner(ns).exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
    await ipt.ensureMasq(NET, POD);
    await ipt.ensureForward(NET);
    await sh(ns, 'iptables -t nat -A POSTROUTING -j MASQUERADE && iptables -A FORWARD -j ACCEPT');
    expect((await savedOurs(ns, 'nat')).length).toBeGreaterThan(0);
    await tm.cleanupOtherMode();
    expect(await savedOurs(ns, 'nat')).toEqual([]);
    expect(await savedOurs(ns, 'filter')).toEqual([]);
    expect(await sh(ns, 'iptables -t nat -S POSTROUTING')).toBe('-P POSTROUTING ACCEPT\n-A POSTROUTING -j MASQUERADE\n');
    expect(await sh(ns, 'iptables -S FORWARD')).toBe('-P FORWARD ACCEPT\n-A FORWARD -j ACCEPT\n');
    expect(tm.stats().errors).toBe(0);
  });
});
