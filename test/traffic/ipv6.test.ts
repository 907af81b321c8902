/**
 * The IPv6 rules in a namespace: ip6tables in iptables mode and table ip6 flannel-ipv6 in
 * nftables mode, each compared with upstream's text (e2e/rules.go: the IPv4 rules with the
 * IPv6 network and lease, and ff00::/8 for multicast), one restore or transaction per change,
 * repaired on resync like IPv4's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidrOf, type IpCidr } from '../../src/ip/cidr.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createTrafficManager, type TrafficManager } from '../../src/traffic/manager.ts';
import { forwardRuleLines, masqRuleLines } from './golden.ts';
import { NetnsSet, nsRunner, requireRoot, savedOurs, sh } from './netns.ts';

const cidr6 = (s: string): IpCidr => parseCidrOf('ipv6', s)!;
const NET6 = cidr6('fd00:10:244::/56');
const POD6 = cidr6('fd00:10:244:1::/64');

/** e2e/rules.go's expectedIp6tablesPostrouting and expectedIp6tablesForward, in ip6tables-save order. */
const GOLDEN_NAT6 = [':FLANNEL-POSTRTG -', ...masqRuleLines('fd00:10:244:1::/64', 'fd00:10:244::/56', 'ff00::/8')];
const GOLDEN_FILTER6 = [':FLANNEL-FWD -', ...forwardRuleLines('fd00:10:244::/56')];

/** `nft list table ip6 flannel-ipv6` (nft 1.0.6): e2e/rules.go's expectedNft6Postrouting and forward chains. */
const GOLDEN_NFT6 = `table ip6 flannel-ipv6 {
	comment "rules for flannel-ipv6"
	chain postrtg {
		comment "chain to manage traffic masquerading by flannel"
		type nat hook postrouting priority srcnat; policy accept;
		meta mark 0x00004000 return
		ip6 saddr fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return
		ip6 saddr fd00:10:244::/56 ip6 daddr fd00:10:244:1::/64 return
		ip6 saddr != fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return
		ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random
		ip6 saddr != fd00:10:244::/56 ip6 daddr fd00:10:244::/56 masquerade fully-random
	}

	chain forward {
		comment "chain to accept flannel traffic"
		type filter hook forward priority filter; policy accept;
		ip6 saddr fd00:10:244::/56 accept
		ip6 daddr fd00:10:244::/56 accept
	}
}
`;

const nets = new NetnsSet('fttr6');
afterAll(() => nets.removeAll());
beforeAll(() => requireRoot());

async function setup(name: string, mode: 'iptables' | 'nftables'): Promise<{ ns: string; tm: TrafficManager; writes: () => number }> {
  const ns = await nets.add(name);
  const r = nsRunner(ns);
  const tm = createTrafficManager({ mode, family: 'ipv6', exec: r.exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
  const writes = () => r.calls.filter((c) => (c.file === 'ip6tables-restore' && !c.args.includes('--test')) || (c.file === 'nft' && c.args[0] === '-f')).length;
  return { ns, tm, writes };
}

describe('IPv6 rules', () => {
  it('ip6tables: upstream’s exact masquerade and forward rules, one ip6tables-restore each, none in iptables', async () => {
    const { ns, tm, writes } = await setup('ipt', 'iptables');
    await tm.ensureMasq(NET6, cidr6('fd00:10:244:1::1/64'));
    await tm.ensureForward(NET6);
    expect(writes()).toBe(2);
    expect(await savedOurs(ns, 'nat', 'ip6tables')).toEqual(GOLDEN_NAT6);
    expect(await savedOurs(ns, 'filter', 'ip6tables')).toEqual(GOLDEN_FILTER6);
    expect(await savedOurs(ns, 'nat')).toEqual([]);
  });

  it('ip6tables: a deleted rule and a deleted jump come back on resync; a clean resync writes nothing', async () => {
    const { ns, tm, writes } = await setup('iptrepair', 'iptables');
    await tm.ensureMasq(NET6, POD6);
    await tm.ensureForward(NET6);
    await tm.resync();
    expect(writes()).toBe(2);
    await sh(ns, 'ip6tables -t nat -D FLANNEL-POSTRTG 5 && ip6tables -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD');
    await tm.resync();
    expect(await savedOurs(ns, 'nat', 'ip6tables')).toEqual(GOLDEN_NAT6);
    expect(await savedOurs(ns, 'filter', 'ip6tables')).toEqual(GOLDEN_FILTER6);
    expect(tm.stats()).toMatchObject({ repairs: 1, repairsByReason: { 'rules-differ': 1, 'jump-missing': 1 } });
    expect(writes()).toBe(3);
  });

  it('nftables: table ip6 flannel-ipv6 exactly as upstream’s, repaired after a deleted chain', async () => {
    const { ns, tm, writes } = await setup('nft', 'nftables');
    await tm.ensureMasq(NET6, POD6);
    await tm.ensureForward(NET6);
    expect(writes()).toBe(2);
    expect(await sh(ns, 'nft list table ip6 flannel-ipv6')).toBe(GOLDEN_NFT6);
    expect(await sh(ns, 'nft list tables')).not.toMatch(/flannel-ipv4/);
    await sh(ns, 'nft delete chain ip6 flannel-ipv6 forward');
    await tm.resync();
    expect(await sh(ns, 'nft list table ip6 flannel-ipv6')).toBe(GOLDEN_NFT6);
  });

  it('nftables mode removes the ip6tables chains of iptables mode', async () => {
    const { ns } = await setup('clean', 'iptables');
    const ipt = createTrafficManager({ mode: 'iptables', family: 'ipv6', exec: nsRunner(ns).exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
    await ipt.ensureMasq(NET6, POD6);
    await ipt.ensureForward(NET6);
    const nft = createTrafficManager({ mode: 'nftables', family: 'ipv6', exec: nsRunner(ns).exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
    await nft.cleanupOtherMode();
    expect(await savedOurs(ns, 'nat', 'ip6tables')).toEqual([]);
    expect(await savedOurs(ns, 'filter', 'ip6tables')).toEqual([]);
    expect(nft.stats().errors).toBe(0);
  });
});
