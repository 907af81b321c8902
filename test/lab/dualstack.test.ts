/**
 * Dual-stack vxlan, one lab for the file (3 nodes; issue 11): every pod reaches every pod on both
 * families; each node holds exactly the IPv6 state it should (flannel-v6.1 and its attributes,
 * routes, neighbours, FDB entries) next to the IPv4 one; subnet.env and the annotations are
 * byte-for-byte upstream's; the IPv6 masquerade rules are upstream's; a hand-deleted IPv6 route,
 * neighbour, FDB entry and flannel-v6.1 come back; a peer without its IPv6 half is programmed
 * for IPv4 and reported; a restart under a 100/s `ping -6` loses nothing; a deleted node leaves
 * no IPv6 trace; a live switch to host-gw leaves nothing of vxlan in either family.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Lab, LabNode } from '../../lab/lab.ts';
import { netConfJson } from '../../lab/daemon.ts';
import { connectivityAmong, eventually, getNode, HEALTH_PORT, ipJson, link, logRecords, PREFIX, sample, scrape } from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';
import { forwardRuleLines, masqRuleLines } from '../traffic/golden.ts';

const { skip, why } = daemonLabSkip;
type Json = Record<string, unknown>;

/** What a node holds for IPv6 on flannel-v6.1: our routes (not the kernel's), neighbours, FDB entries. */
async function v6Kernel(node: LabNode) {
  const byDst = (a: Json, b: Json): number => String(a['dst']).localeCompare(String(b['dst']));
  return {
    routes: (await ipJson(node, ['ip', '-6', '-j', 'route', 'show', 'dev', 'flannel-v6.1'])).filter((r) => r['protocol'] !== 'kernel').sort(byDst),
    neigh: (await ipJson(node, ['ip', '-6', '-j', 'neigh', 'show', 'dev', 'flannel-v6.1'])).filter((n) => !String(n['dst']).startsWith('fe80')).sort(byDst),
    fdb: (await ipJson(node, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel-v6.1'])).sort(byDst),
  };
}

const net6 = (n: LabNode): string => n.podCidr6!.split('/')[0]!;

/** Exactly the IPv6 state a vxlan node must hold for these peers: onlink route, permanent neighbour, self FDB entry to the public IPv6. */
function expectedV6(peers: readonly { node: LabNode; mac: string }[]) {
  const byDst = (a: Json, b: Json): number => String(a['dst']).localeCompare(String(b['dst']));
  return {
    routes: peers.map((p) => ({ dst: p.node.podCidr6, gateway: net6(p.node), metric: 1024, flags: ['onlink'], pref: 'medium' })).sort(byDst),
    neigh: peers.map((p) => ({ dst: net6(p.node), lladdr: p.mac, state: ['PERMANENT'] })).sort(byDst),
    fdb: peers.map((p) => ({ mac: p.mac, dst: p.node.underlayIp6, flags: ['self'], state: 'permanent' })).sort(byDst),
  };
}

async function v6Peers(lab: Lab, indices: readonly number[]): Promise<{ node: LabNode; mac: string }[]> {
  return Promise.all(indices.map(async (i) => ({ node: lab.node(i), mac: (await link(lab.node(i), 'flannel-v6.1')).address })));
}

async function expectV6Exactly(lab: Lab, i: number, peers: readonly number[], timeoutMs?: number): Promise<void> {
  const want = expectedV6(await v6Peers(lab, peers));
  await eventually(async () => expect(await v6Kernel(lab.node(i))).toEqual(want), timeoutMs);
}

describe.skipIf(skip)(`dual-stack vxlan lab${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, backend: 'vxlan', ipFamily: 'dual', daemonArgs: ['--migration-grace=2'] });

  it('every pod reaches every other pod on IPv4 and on IPv6', async () => {
    const m = await lab().waitForFullConnectivity();
    expect(m.failures).toEqual([]);
    expect(m.byFamily.map((f) => f.endpoints.map((e) => e.ip))).toEqual([
      ['10.244.1.2', '10.244.2.2', '10.244.3.2'],
      ['fd00:10:244:1::2', 'fd00:10:244:2::2', 'fd00:10:244:3::2'],
    ]);
  });

  it('holds exactly the IPv6 routes, neighbours and FDB entries of its peers, and flannel-v6.1 as it should be', async () => {
    for (const i of [0, 1, 2]) {
      const n = lab().node(i);
      await expectV6Exactly(lab(), i, [0, 1, 2].filter((j) => j !== i));
      const [dev] = await ipJson(n, ['ip', '-d', '-j', 'link', 'show', 'dev', 'flannel-v6.1']);
      const info = (dev!['linkinfo'] as { info_data: Json }).info_data;
      expect({ mtu: dev!['mtu'], id: info['id'], local6: info['local6'], link: info['link'], port: info['port'], learning: info['learning'] }).toEqual({
        mtu: 1430, id: 1, local6: n.underlayIp6, link: 'eth0', port: 8472, learning: false,
      });
      const [addrs] = await ipJson(n, ['ip', '-6', '-j', 'addr', 'show', 'dev', 'flannel-v6.1', 'scope', 'global']);
      expect((addrs!['addr_info'] as Json[]).filter((a) => a['local'] !== undefined).map((a) => `${String(a['local'])}/${String(a['prefixlen'])}`)).toEqual([`${net6(n)}/128`]);
      expect((await n.exec(['cat', '/proc/sys/net/ipv6/conf/flannel-v6.1/accept_ra'])).stdout.trim()).toBe('0');
      expect((await link(n, 'flannel.1')).address).not.toBe((await link(n, 'flannel-v6.1')).address);
    }
  });

  it('writes subnet.env and the node annotations byte for byte as upstream', async () => {
    for (const i of [0, 1, 2]) {
      const n = lab().node(i);
      expect(readFileSync(n.subnetFile, 'utf8')).toBe(
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${i + 1}.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:${i + 1}::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n`,
      );
      expect((await getNode(lab(), n.name)).metadata.annotations).toEqual({
        dummy: 'value',
        [`${PREFIX}backend-data`]: `{"VNI":1,"VtepMAC":"${(await link(n, 'flannel.1')).address}"}`,
        [`${PREFIX}backend-type`]: 'vxlan',
        [`${PREFIX}backend-v6-data`]: `{"VNI":1,"VtepMAC":"${(await link(n, 'flannel-v6.1')).address}"}`,
        [`${PREFIX}kube-subnet-manager`]: 'true',
        [`${PREFIX}public-ip`]: n.underlayIp,
        [`${PREFIX}public-ipv6`]: n.underlayIp6,
      });
    }
  });

  it('installs upstream’s IPv6 masquerade and forward rules with ip6tables', async () => {
    const n = lab().node(0);
    const nat = (await n.exec(['ip6tables', '-t', 'nat', '-S'])).stdout.split('\n').filter((l) => l.includes('FLANNEL'));
    expect(nat).toEqual(['-N FLANNEL-POSTRTG', ...masqRuleLines('fd00:10:244:1::/64', 'fd00:10:244::/56', 'ff00::/8')]);
    const fwd = (await n.exec(['ip6tables', '-S'])).stdout.split('\n').filter((l) => l.includes('FLANNEL'));
    expect(fwd).toEqual(['-N FLANNEL-FWD', ...forwardRuleLines('fd00:10:244::/56')]);
  });

  // Bounded at 5 s, half the 10 s resync: the netlink monitor, not the timer, brings them back.
  it('puts back a hand-deleted IPv6 route, neighbour, FDB entry and flannel-v6.1 itself', async () => {
    const n = lab().node(0);
    const peer = lab().node(1);
    const mac = (await link(peer, 'flannel-v6.1')).address;
    await n.exec(['ip', '-6', 'route', 'del', peer.podCidr6!, 'dev', 'flannel-v6.1']);
    await expectV6Exactly(lab(), 0, [1, 2], 5000);
    await n.exec(['ip', '-6', 'neigh', 'del', net6(peer), 'dev', 'flannel-v6.1']);
    await expectV6Exactly(lab(), 0, [1, 2], 5000);
    await n.exec(['bridge', 'fdb', 'del', mac, 'dev', 'flannel-v6.1', 'dst', peer.underlayIp6!, 'self']);
    await expectV6Exactly(lab(), 0, [1, 2], 5000);
    const before = await link(n, 'flannel-v6.1');
    await n.exec(['ip', 'link', 'del', 'flannel-v6.1']);
    await expectV6Exactly(lab(), 0, [1, 2], 5000);
    expect((await link(n, 'flannel-v6.1')).address).toBe(before.address);
    await eventually(async () => expect(sample((await scrape(n)).samples, 'flannel_drift_repairs_total', { object: 'fdb' })).toBeGreaterThan(0));
    expect((await connectivityAmong(lab(), [0, 1, 2])).failures).toEqual([]);
  }, 60_000);

  it('programs a peer without an IPv6 half for IPv4 only, and says so once with a metric', async () => {
    const name = `${lab().prefix}-v4only`;
    const created = await lab().api('POST', '/api/v1/nodes', {
      metadata: {
        name,
        annotations: {
          [`${PREFIX}backend-type`]: 'vxlan',
          [`${PREFIX}backend-data`]: '{"VNI":1,"VtepMAC":"0a:0b:0c:0d:0e:0f"}',
          [`${PREFIX}kube-subnet-manager`]: 'true',
          [`${PREFIX}public-ip`]: '198.18.0.99',
        },
      },
      spec: { podCIDR: '10.244.100.0/24', podCIDRs: ['10.244.100.0/24'] },
    });
    expect(created.status).toBe(201);
    try {
      const n = lab().node(0);
      await eventually(async () => expect((await n.exec(['ip', 'route', 'show', '10.244.100.0/24'])).stdout.trim()).toBe('10.244.100.0/24 via 10.244.100.0 dev flannel.1 onlink'));
      expect(sample((await scrape(n)).samples, 'flannel_peers_skipped_total', { reason: 'missing-ipv6-half' })).toBe(1);
      // Besides upstream's `Subnet added` line, said once.
      expect(logRecords(n).filter((r) => r['node'] === name && !String(r['msg']).startsWith('Subnet ')).map((r) => r['msg'])).toEqual([
        `programming peer ${name} without its IPv6 half: node "${name}": ${PREFIX}public-ipv6: missing`,
      ]);
      await expectV6Exactly(lab(), 0, [1, 2]);
    } finally {
      await lab().api('DELETE', `/api/v1/nodes/${name}`);
    }
  });

  it('restarting the sender’s and the receiver’s daemon under a 100/s ping -6 loses nothing', async () => {
    const stream = lab().pingStream(lab().pod(0, 0), lab().pod(1, 0).ip6!, 1500);
    await sleep(1000);
    for (const i of [0, 1]) {
      await lab().stopDaemon(i);
      await lab().startDaemon(i);
      await eventually(async () => expect(await lab().node(i).http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }), 30_000);
    }
    const stats = await stream;
    expect(stats.transmitted).toBe(1500);
    expect(stats.received).toBe(stats.transmitted);
    await expectV6Exactly(lab(), 0, [1, 2]);
  }, 90_000);

  it('removes a node deleted from the API from every peer, in both families', async () => {
    const gone = lab().node(2);
    await lab().stopDaemon(2);
    expect((await lab().api('DELETE', `/api/v1/nodes/${gone.name}`)).status).toBe(200);
    for (const i of [0, 1]) {
      await expectV6Exactly(lab(), i, [1 - i]);
      const n = lab().node(i);
      const traces = [
        (await n.exec(['ip', '-6', 'route'])).stdout,
        (await n.exec(['ip', '-6', 'neigh', 'show', 'dev', 'flannel-v6.1'])).stdout,
        (await n.exec(['bridge', 'fdb', 'show', 'dev', 'flannel-v6.1'])).stdout,
        (await n.exec(['ip', '-4', 'route'])).stdout,
      ].join('');
      expect(traces).not.toContain(net6(gone));
      expect(traces).not.toContain(gone.underlayIp6!);
      expect(traces).not.toContain(gone.podCidr);
    }
    expect((await connectivityAmong(lab(), [0, 1])).failures).toEqual([]);
  }, 60_000);

  it('switches live to host-gw and leaves nothing of vxlan in either family', async () => {
    for (const i of [0, 1]) writeFileSync(lab().state.nodes[i]!.netConfFile, netConfJson('host-gw', false, 'dual'));
    for (const i of [0, 1]) {
      const n = lab().node(i);
      const peer = lab().node(1 - i);
      await eventually(async () => {
        expect((await n.exec(['ip', '-6', 'route', 'show', 'root', 'fd00:10:244::/56', 'dev', 'eth0'])).stdout.trim()).toBe(`${peer.podCidr6} via ${peer.underlayIp6} metric 1024 pref medium`);
        expect((await n.exec(['ip', '-4', 'route', 'show', 'root', '10.244.0.0/16', 'dev', 'eth0'])).stdout.trim()).toBe(`${peer.podCidr} via ${peer.underlayIp}`);
        expect((await n.exec(['ip', 'link', 'show', 'type', 'vxlan'])).stdout).toBe('');
        expect(readFileSync(n.subnetFile, 'utf8')).toContain('FLANNEL_MTU=1500\n');
      }, 30_000);
      expect((await n.exec(['ip', '-6', 'neigh', 'show', 'nud', 'permanent'])).stdout).toBe('');
      const ann = (await getNode(lab(), n.name)).metadata.annotations!;
      expect([ann[`${PREFIX}backend-type`], ann[`${PREFIX}backend-data`], ann[`${PREFIX}backend-v6-data`], ann[`${PREFIX}public-ipv6`]]).toEqual(['host-gw', 'null', 'null', n.underlayIp6]);
    }
    const pods = lab().pods().filter((p) => p.node !== 2);
    await eventually(async () => {
      for (const [a, b] of [[pods[0]!, pods[1]!], [pods[1]!, pods[0]!]] as const) {
        expect(await lab().ping(a, b.ip)).toBe(true);
        expect(await lab().ping(a, b.ip6!)).toBe(true);
      }
    }, 30_000);
  }, 90_000);
});
