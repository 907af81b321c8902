/**
 * The kube subnet manager with IPv6 on (dual-stack and IPv6-only), against the API double over
 * HTTP: the own lease from spec.podCIDRs per family, the annotation PATCH byte for byte as
 * upstream's, and peers' IPv6 halves — a peer without one is kept for IPv4 and counted, and a
 * change of one family alone is forwarded (upstream drops it unless both families change).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatAnyCidr } from '../../src/ip/cidr.ts';
import { leaseSubnets, type LeaseAttrs, type LeaseEvent } from '../../src/subnet/lease.ts';
import { flannelAnnotations, MAC1, PREFIX, startHarness, vxlanData, waitFor, type Harness } from './harness.ts';

const V6NET = 'fd00:10:244::/56';
const dualAttrs: LeaseAttrs = {
  backendType: 'vxlan',
  publicIp: '198.18.0.1',
  backendData: vxlanData(MAC1),
  publicIpv6: 'fd00:198:18::1',
  backendV6Data: vxlanData('aa:bb:cc:00:10:01'),
};
const dualSpec = (n: number) => ({ podCIDR: `10.244.${n}.0/24`, podCIDRs: [`10.244.${n}.0/24`, `fd00:10:244:${n}::/64`] });
function dualAnnotations(n: number): Record<string, string> {
  return {
    ...flannelAnnotations(`198.18.0.${n}`, `aa:bb:cc:00:00:0${n}`),
    [`${PREFIX}public-ipv6`]: `fd00:198:18::${n}`,
    [`${PREFIX}backend-v6-data`]: vxlanData(`aa:bb:cc:00:10:0${n}`),
  };
}

describe('kube subnet manager, dual-stack and IPv6-only (through client-node over HTTP)', () => {
  let h: Harness;
  let ac: AbortController;
  beforeEach(async () => {
    h = await startHarness({ bookmarkIntervalMs: 50 });
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    await h.close();
  });

  it('takes one subnet per family from spec.podCIDRs and writes upstream’s six annotations, sorted', async () => {
    h.api.createNode('node1', { ...dualSpec(1), annotations: { dummy: 'value' } });
    const lease = await (await h.manager({ ipv6Network: V6NET })).acquireLease(dualAttrs, ac.signal);
    expect(leaseSubnets(lease)).toBe('10.244.1.0/24,fd00:10:244:1::/64');
    expect(lease.attrs).toEqual(dualAttrs);
    expect(h.api.patches().map((p) => p.body)).toEqual([
      '{"metadata":{"annotations":{' +
        '"flannel.alpha.coreos.com/backend-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"aa:bb:cc:00:00:01\\"}",' +
        '"flannel.alpha.coreos.com/backend-type":"vxlan",' +
        '"flannel.alpha.coreos.com/backend-v6-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"aa:bb:cc:00:10:01\\"}",' +
        '"flannel.alpha.coreos.com/kube-subnet-manager":"true",' +
        '"flannel.alpha.coreos.com/public-ip":"198.18.0.1",' +
        '"flannel.alpha.coreos.com/public-ipv6":"fd00:198:18::1"}}}',
    ]);
  });

  it('publishes public-ipv6-overwrite, and reads node-public-ipv6 and the IPv6 VtepMAC back', async () => {
    h.api.createNode('node1', {
      ...dualSpec(1),
      annotations: { [`${PREFIX}public-ipv6-overwrite`]: '2001:db8::7', [`${PREFIX}node-public-ipv6`]: 'fd00:198:18::50', [`${PREFIX}backend-v6-data`]: vxlanData('AA:BB:CC:00:10:05') },
    });
    const mgr = await h.manager({ ipv6Network: V6NET });
    expect(await mgr.storedNodeInfo(ac.signal)).toEqual({ publicIpv6: 'fd00:198:18::50', vtepMacV6: 'aa:bb:cc:00:10:05' });
    const lease = await mgr.acquireLease(dualAttrs, ac.signal);
    expect(lease.attrs.publicIpv6).toBe('2001:db8::7');
    expect((h.api.node('node1')!['metadata'] as { annotations: Record<string, string> }).annotations[`${PREFIX}public-ipv6`]).toBe('2001:db8::7');
  });

  it('refuses an IPv6 podCIDR outside IPv6Network with upstream’s text', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:99::/64'] });
    await expect((await h.manager({ ipv6Network: V6NET })).acquireLease(dualAttrs, ac.signal)).rejects.toThrow(
      'subnet "fd00:10:244::/56" specified in the flannel net config doesn\'t contain "fd00:99::/64" IPv6 PodCIDR of the "node1" node',
    );
  });

  it('waits, without patching, while the node has no IPv6 podCIDR yet', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    const mgr = await h.manager({ ipv6Network: V6NET });
    const pending = mgr.acquireLease(dualAttrs, ac.signal);
    await waitFor(() => mgr.state === 'waiting-for-pod-cidr');
    expect(h.api.patches()).toHaveLength(0);
    h.api.setPodCIDR('node1', '10.244.1.0/24', ['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(leaseSubnets(await pending)).toBe('10.244.1.0/24,fd00:10:244:1::/64');
  });

  it('IPv6-only host-gw: the lease has no IPv4 subnet and the annotations are upstream’s (public-ip 0.0.0.0)', async () => {
    h.api.createNode('node1', { podCIDR: 'fd00:10:244:1::/64', annotations: { dummy: 'value' } });
    const lease = await (await h.manager({ network: null, ipv6Network: V6NET })).acquireLease({ backendType: 'host-gw', publicIpv6: 'fd00:198:18::1', backendV6Data: 'null' }, ac.signal);
    expect([lease.subnet, formatAnyCidr(lease.ipv6Subnet!)]).toEqual([undefined, 'fd00:10:244:1::/64']);
    expect(h.api.patches()[0]!.body).toBe(
      '{"metadata":{"annotations":{"flannel.alpha.coreos.com/backend-data":"null","flannel.alpha.coreos.com/backend-type":"host-gw","flannel.alpha.coreos.com/backend-v6-data":"null",' +
        '"flannel.alpha.coreos.com/kube-subnet-manager":"true","flannel.alpha.coreos.com/public-ip":"0.0.0.0","flannel.alpha.coreos.com/public-ipv6":"fd00:198:18::1"}}}',
    );
  });

  it('peers: one without its IPv6 half is kept for IPv4 and counted once; each family’s change alone is forwarded', async () => {
    h.api.createNode('node1', { ...dualSpec(1), annotations: dualAnnotations(1) });
    h.api.createNode('node2', { ...dualSpec(2), annotations: dualAnnotations(2) });
    h.api.createNode('node3', { podCIDR: '10.244.3.0/24', annotations: flannelAnnotations('198.18.0.3', 'aa:bb:cc:00:00:03') });
    const mgr = await h.manager({ ipv6Network: V6NET });
    await mgr.acquireLease(dualAttrs, ac.signal);
    const events: string[] = [];
    let batches = 0;
    const show = (e: LeaseEvent): string => `${e.type} ${e.lease.node} ${leaseSubnets(e.lease)} ${e.lease.attrs.publicIp ?? '-'} ${e.lease.attrs.publicIpv6 ?? '-'}`;
    mgr.watchLeases((b) => {
      batches++;
      events.push(...b.map(show));
    }, ac.signal);
    await waitFor(() => batches === 1);
    expect(events.sort()).toEqual(['added node2 10.244.2.0/24,fd00:10:244:2::/64 198.18.0.2 fd00:198:18::2', 'added node3 10.244.3.0/24 198.18.0.3 -']);
    expect(mgr.stats.incompletePeersSkipped).toEqual({ ipv4: 0, ipv6: 1 });

    // The same problem again (an unrelated update) is not counted twice.
    h.api.setAnnotations('node3', { dummy: 'touched' });
    // node3 gets its IPv6 half: forwarded with both.
    h.api.setPodCIDR('node3', '10.244.3.0/24', ['10.244.3.0/24', 'fd00:10:244:3::/64']);
    h.api.setAnnotations('node3', { [`${PREFIX}public-ipv6`]: 'fd00:198:18::3', [`${PREFIX}backend-v6-data`]: vxlanData('aa:bb:cc:00:10:03') });
    await waitFor(() => events.at(-1) === 'added node3 10.244.3.0/24,fd00:10:244:3::/64 198.18.0.3 fd00:198:18::3');
    expect(mgr.stats.incompletePeersSkipped).toEqual({ ipv4: 0, ipv6: 1 });
    // An IPv6-only change (a new flannel-v6.1 MAC) and an IPv4-only one are each forwarded.
    const before = events.length;
    h.api.setAnnotations('node2', { [`${PREFIX}backend-v6-data`]: vxlanData('aa:bb:cc:00:10:22') });
    await waitFor(() => events.length === before + 1);
    h.api.setAnnotations('node2', { [`${PREFIX}public-ip`]: '198.18.0.22' });
    await waitFor(() => events.length === before + 2);
    expect(events.slice(before)).toEqual([
      'added node2 10.244.2.0/24,fd00:10:244:2::/64 198.18.0.2 fd00:198:18::2',
      'added node2 10.244.2.0/24,fd00:10:244:2::/64 198.18.0.22 fd00:198:18::2',
    ]);
  });
});
