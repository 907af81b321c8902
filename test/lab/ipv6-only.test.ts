/**
 * IPv6-only clusters (issue 11), two small labs: host-gw with its rules in nftables, and vxlan
 * with DirectRouting. Pods have IPv6 only and reach each other; the nodes hold exactly their
 * peers' IPv6 routes and nothing of IPv4; subnet.env and the annotations are upstream's bytes
 * for an IPv6-only node (host-gw writes public-ip 0.0.0.0 and null backend data, as upstream's
 * zero IPv4 does); table ip6 flannel-ipv6 is upstream's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LabNode } from '../../lab/lab.ts';
import { eventually, getNode, ipJson, link, PREFIX } from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

/** The IPv6 routes to pod subnets a node holds (not the kernel's own), as `ip -6 route` prints them. */
async function podRoutes6(n: LabNode): Promise<string[]> {
  return (await n.exec(['ip', '-6', 'route', 'show', 'root', 'fd00:10:244::/56'])).stdout.trim().split('\n').filter((l) => !l.includes('proto kernel'));
}

describe.skipIf(skip)(`IPv6-only host-gw lab with nftables${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'host-gw', ipFamily: 'ipv6', nftables: true });

  it('pods have only IPv6 and reach each other', async () => {
    expect(lab().pods().map((p) => [p.ip, p.ip6])).toEqual([
      ['fd00:10:244:1::2', 'fd00:10:244:1::2'],
      ['fd00:10:244:2::2', 'fd00:10:244:2::2'],
    ]);
    expect((await lab().pod(0, 0).exec(['ip', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout).toBe('');
    expect((await lab().waitForFullConnectivity()).failures).toEqual([]);
  });

  it('routes each peer’s IPv6 subnet via its public IPv6, holds no IPv4 pod route, and puts back a deleted route', async () => {
    const [a, b] = [lab().node(0), lab().node(1)];
    await eventually(async () => expect(await podRoutes6(a)).toEqual([`${b.podCidr} via ${b.underlayIp6} dev eth0 metric 1024 pref medium`]));
    expect((await a.exec(['ip', '-4', 'route', 'show', 'root', '10.244.0.0/16'])).stdout).toBe('');
    await a.exec(['ip', '-6', 'route', 'del', b.podCidr]);
    await eventually(async () => expect(await podRoutes6(a)).toEqual([`${b.podCidr} via ${b.underlayIp6} dev eth0 metric 1024 pref medium`]), 5000);
  });

  it('writes upstream’s IPv6-only subnet.env and annotations', async () => {
    for (const i of [0, 1]) {
      const n = lab().node(i);
      expect(readFileSync(n.subnetFile, 'utf8')).toBe(`FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:${i + 1}::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n`);
      expect((await getNode(lab(), n.name)).metadata.annotations).toEqual({
        dummy: 'value',
        [`${PREFIX}backend-data`]: 'null',
        [`${PREFIX}backend-type`]: 'host-gw',
        [`${PREFIX}backend-v6-data`]: 'null',
        [`${PREFIX}kube-subnet-manager`]: 'true',
        [`${PREFIX}public-ip`]: '0.0.0.0',
        [`${PREFIX}public-ipv6`]: n.underlayIp6,
      });
    }
  });

  it('keeps upstream’s rules in table ip6 flannel-ipv6, and none in iptables', async () => {
    const n = lab().node(0);
    const chain = async (name: string): Promise<string[]> =>
      (await n.exec(['nft', 'list', 'chain', 'ip6', 'flannel-ipv6', name])).stdout.split('\n').map((l) => l.trim()).filter((l) => /^(meta|ip6) /.test(l));
    expect(await chain('postrtg')).toEqual([
      'meta mark 0x00004000 return',
      'ip6 saddr fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return',
      'ip6 saddr fd00:10:244::/56 ip6 daddr fd00:10:244:1::/64 return',
      'ip6 saddr != fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return',
      'ip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random',
      'ip6 saddr != fd00:10:244::/56 ip6 daddr fd00:10:244::/56 masquerade fully-random',
    ]);
    expect(await chain('forward')).toEqual(['ip6 saddr fd00:10:244::/56 accept', 'ip6 daddr fd00:10:244::/56 accept']);
    expect((await n.exec(['ip6tables-save'])).stdout).not.toContain('FLANNEL');
    expect((await n.exec(['iptables-save'])).stdout).not.toContain('FLANNEL');
  });
});

describe.skipIf(skip)(`IPv6-only vxlan lab with DirectRouting${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan', ipFamily: 'ipv6', directRouting: true });

  it('routes the on-link peer directly by its public IPv6, keeps flannel-v6.1 without entries, and has no flannel.1', async () => {
    expect((await lab().waitForFullConnectivity()).failures).toEqual([]);
    const [a, b] = [lab().node(0), lab().node(1)];
    await eventually(async () => expect(await podRoutes6(a)).toEqual([`${b.podCidr} via ${b.underlayIp6} dev eth0 metric 1024 pref medium`]));
    expect(await ipJson(a, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel-v6.1'])).toEqual([]);
    expect((await a.exec(['ip', 'link', 'show', 'type', 'vxlan'])).stdout).toMatch(/^\d+: flannel-v6\.1: /);
    expect((await a.exec(['ip', 'link', 'show', 'type', 'vxlan'])).stdout).not.toContain('flannel.1');
    expect(readFileSync(a.subnetFile, 'utf8')).toBe('FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n');
    expect((await getNode(lab(), a.name)).metadata.annotations).toEqual({
      dummy: 'value',
      [`${PREFIX}backend-type`]: 'vxlan',
      [`${PREFIX}backend-v6-data`]: `{"VNI":1,"VtepMAC":"${(await link(a, 'flannel-v6.1')).address}"}`,
      [`${PREFIX}kube-subnet-manager`]: 'true',
      [`${PREFIX}public-ipv6`]: a.underlayIp6,
    });
  });
});
