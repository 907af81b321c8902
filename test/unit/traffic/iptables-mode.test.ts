import { describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../../src/traffic/exec.ts';
import { decide, detectIptablesMode, readIptablesDumps } from '../../../src/traffic/iptables-mode.ts';

const empty = { v4: '', v6: '' };
const table = (name: string, ...lines: string[]) => `*${name}\n:PREROUTING ACCEPT [0:0]\n${lines.join('\n')}\nCOMMIT\n`;

describe('decide (which iptables backend the host uses)', () => {
  it("follows the kubelet's hint chain, nft first, as iptables-wrappers", () => {
    const hint = { v4: table('mangle', ':KUBE-IPTABLES-HINT - [0:0]'), v6: '' };
    expect(decide('auto', hint, empty)).toEqual({ backend: 'nft', reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-nft" });
    expect(decide('auto', empty, hint)).toEqual({ backend: 'legacy', reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-legacy" });
    // An IPv6-only cluster's kubelet makes the chain in ip6tables only.
    const canary6 = { v4: '', v6: table('mangle', ':KUBE-KUBELET-CANARY - [0:0]') };
    expect(decide('auto', empty, canary6)).toEqual({ backend: 'legacy', reason: "the kubelet's KUBE-KUBELET-CANARY chain is in ip6tables-legacy" });
    // The hint wins over a busier other backend.
    const busy = { v4: table('filter', ...Array.from({ length: 50 }, (_, i) => `-A INPUT -s 10.0.0.${i} -j ACCEPT`)), v6: '' };
    expect(decide('auto', busy, hint).backend).toBe('legacy');
  });

  it("then kube-proxy's chains, then whichever backend holds more rules, else nft", () => {
    const kubeProxy = { v4: table('nat', ':KUBE-SERVICES - [0:0]', '-A PREROUTING -j KUBE-SERVICES'), v6: '' };
    expect(decide('auto', empty, kubeProxy)).toEqual({ backend: 'legacy', reason: "kube-proxy's KUBE-SERVICES chain is in iptables-legacy" });
    const rules = (n: number) => ({ v4: table('filter', ...Array.from({ length: n }, () => '-A INPUT -j ACCEPT')), v6: '' });
    expect(decide('auto', rules(1), rules(2))).toEqual({ backend: 'legacy', reason: 'no Kubernetes chains; iptables-legacy holds 2 rules, iptables-nft 1' });
    expect(decide('auto', rules(2), rules(2))).toEqual({ backend: 'nft', reason: 'no Kubernetes chains; iptables-nft holds 2 rules, iptables-legacy 2' });
    expect(decide('auto', empty, empty)).toEqual({ backend: 'nft', reason: 'no rules in either backend; nft is the default (as iptables-wrappers)' });
  });

  it('lets --iptables-mode override what the host shows', () => {
    const hint = { v4: table('mangle', ':KUBE-IPTABLES-HINT - [0:0]'), v6: '' };
    expect(decide('legacy', hint, empty)).toEqual({ backend: 'legacy', reason: 'set by --iptables-mode=legacy' });
    expect(decide('nft', empty, hint)).toEqual({ backend: 'nft', reason: 'set by --iptables-mode=nft' });
  });
});

describe('detectIptablesMode', () => {
  it('reads all tables of both backends (never `-t` on legacy), survives missing tools, finds our chains in each', async () => {
    const calls: string[] = [];
    const exec: CommandRunner = async (file, args) => {
      calls.push([file, ...args].join(' '));
      if (file === 'iptables-legacy-save') return { code: 0, stdout: table('mangle', ':KUBE-IPTABLES-HINT - [0:0]') + table('nat', ':FLANNEL-POSTRTG - [0:0]'), stderr: '' };
      if (file === 'iptables-nft-save') return { code: 0, stdout: table('filter', ':FLANNEL-FWD - [0:0]'), stderr: '' };
      throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' });
    };
    const choice = await detectIptablesMode(exec, 'auto');
    expect(calls).toEqual(['iptables-nft-save', 'ip6tables-nft-save', 'iptables-legacy-save', 'ip6tables-legacy-save']);
    // One read serves both families' decisions: given the dumps, no tool runs again.
    const dumps = readIptablesDumps(exec);
    calls.length = 0;
    const [v4, v6] = await Promise.all([detectIptablesMode(exec, 'auto', 'ipv4', dumps), detectIptablesMode(exec, 'auto', 'ipv6', dumps)]);
    expect(calls).toEqual([]);
    expect([v4.saveBin, v6.saveBin]).toEqual(['iptables-legacy-save', 'ip6tables-legacy-save']);
    expect(choice).toEqual({
      backend: 'legacy',
      reason: "the kubelet's KUBE-IPTABLES-HINT chain is in iptables-legacy",
      restoreBin: 'iptables-legacy-restore',
      saveBin: 'iptables-legacy-save',
      flannelChainsIn: ['nft', 'legacy'],
    });
  });
});
