/**
 * Both families in the kernel, backends started in-process on a dual-stack underlay (198.18.0.0/24
 * and fd00:198:18::/64): flannel-v6.1 as upstream makes it but with its MAC kept, the exact IPv6
 * neighbours, fdb entries and routes, IPv6 pod traffic, a peer without its IPv6 half, drift
 * repair and adoption of the IPv6 state, host-gw IPv6 routes, and an IPv6-only node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostGwConfig } from '../../src/config/types.ts';
import { runIn } from '../../lab/harness/exec.ts';
import { isRoot } from '../../lab/harness/netns.ts';
import { Topology } from '../../lab/harness/topology.ts';
import type { Lease } from '../../src/subnet/lease.ts';
import { addPodAddresses, desiredFor, startNode, vxlanConfig, type RunningNode } from './harness.ts';

const signal = new AbortController().signal;
const hostGw: HostGwConfig = { type: 'host-gw' };
type Json = Record<string, unknown>;

const macOf = (data: string | undefined): string => (JSON.parse(data!) as { VtepMAC: string }).VtepMAC;
const mac4 = (n: RunningNode): string => macOf(n.lease.attrs.backendData);
const mac6 = (n: RunningNode): string => macOf(n.lease.attrs.backendV6Data);
const withoutV6 = (l: Lease): Lease => {
  const { publicIpv6: _p, backendV6Data: _d, ...attrs } = l.attrs;
  return { subnet: l.subnet!, attrs, node: l.node! };
};

describe.skipIf(!isRoot)('dual-stack vxlan backend in namespaces', () => {
  let topo: Topology;
  let n1: RunningNode;
  let n2: RunningNode;
  let n3: RunningNode;
  let ns1: string;
  beforeAll(async () => {
    topo = await Topology.create(3, 24, 'ftds', { ipv6: true });
    n1 = await startNode(topo, 1, vxlanConfig(), { families: 'dual' });
    n2 = await startNode(topo, 2, vxlanConfig(), { families: 'dual' });
    n3 = await startNode(topo, 3, vxlanConfig(), { families: 'dual' });
    ns1 = n1.node.ns;
  });
  afterAll(() => topo?.destroy());

  /** The IPv6 vxlan state of a node, in the shape `ip -j` / `bridge -j` print it. */
  async function v6State(ns = ns1) {
    // The kernel's own routes (fe80::/64, and the prefix route of our /128 address) are not ours.
    return {
      routes: (await topo.ipJson<Json[]>(ns, '-6', 'route', 'show', 'dev', 'flannel-v6.1')).filter((r) => r['protocol'] !== 'kernel'),
      // The kernel lists neighbours in hash order: sorted, so the comparison is about content.
      neigh: (await topo.ipJson<Json[]>(ns, '-6', 'neigh', 'show', 'dev', 'flannel-v6.1')).filter((n) => !String(n['dst']).startsWith('fe80')).sort((a, b) => String(a['dst']).localeCompare(String(b['dst']))),
      fdb: (await topo.fdbJson(ns, 'flannel-v6.1')).sort((a, b) => String(a['mac']).localeCompare(String(b['mac']))),
    };
  }

  // accept_ra=0 is written by the daemon inside its namespace; the lab tests check it (this process is not in the node's).
  it('creates flannel-v6.1 over the IPv6 underlay: local IPv6, its own MAC, MTU base − 70, one /128', async () => {
    const [link] = await topo.ipJson<{ mtu: number; address: string; flags: string[]; linkinfo: { info_kind: string; info_data: Json } }[]>(ns1, '-d', 'link', 'show', 'flannel-v6.1');
    expect(link).toMatchObject({ mtu: 1430, address: mac6(n1), linkinfo: { info_kind: 'vxlan' } });
    expect(link!.flags).toContain('UP');
    const d = link!.linkinfo.info_data;
    expect({ id: d['id'], local6: d['local6'], link: d['link'], port: d['port'], learning: d['learning'] }).toEqual({ id: 1, local6: 'fd00:198:18::11', link: 'eth0', port: 8472, learning: false });
    expect(mac6(n1)).not.toBe(mac4(n1));
    expect(n1.lease.attrs).toEqual({
      backendType: 'vxlan',
      publicIp: '198.18.0.11',
      backendData: `{"VNI":1,"VtepMAC":"${mac4(n1)}"}`,
      publicIpv6: 'fd00:198:18::11',
      backendV6Data: `{"VNI":1,"VtepMAC":"${mac6(n1)}"}`,
    });
    const addrs = await topo.ipJson<{ addr_info: { local: string; prefixlen: number; scope: string }[] }[]>(ns1, '-6', 'addr', 'show', 'dev', 'flannel-v6.1', 'scope', 'global');
    expect(addrs[0]!.addr_info.filter((a) => a.local !== undefined).map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['fd00:10:244:1::/128']);
    expect((await topo.ipJson<{ mtu: number }[]>(ns1, 'link', 'show', 'flannel.1'))[0]!.mtu).toBe(1450);
    expect(n1.backend.mtu).toBe(1430); // one pod MTU for both families: the smaller
  });

  it('programs each peer’s IPv6 neighbour, fdb entry to its public IPv6 and onlink route, in the same run as IPv4', async () => {
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal);
    expect(r).toMatchObject({ created: 12, failed: [], owned: { neigh: 4, fdb: 4, route: 4 } });
    expect(await v6State()).toEqual({
      routes: [
        { dst: 'fd00:10:244:2::/64', gateway: 'fd00:10:244:2::', metric: 1024, flags: ['onlink'], pref: 'medium' },
        { dst: 'fd00:10:244:3::/64', gateway: 'fd00:10:244:3::', metric: 1024, flags: ['onlink'], pref: 'medium' },
      ],
      neigh: [
        { dst: 'fd00:10:244:2::', lladdr: mac6(n2), state: ['PERMANENT'] },
        { dst: 'fd00:10:244:3::', lladdr: mac6(n3), state: ['PERMANENT'] },
      ],
      fdb: [
        { mac: mac6(n2), dst: 'fd00:198:18::12', flags: ['self'], state: 'permanent' },
        { mac: mac6(n3), dst: 'fd00:198:18::13', flags: ['self'], state: 'permanent' },
      ].sort((a, b) => a.mac.localeCompare(b.mac)),
    });
    expect(await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal)).toMatchObject({ created: 0, replaced: 0, deleted: 0, unchanged: 12 });
  });

  it('carries pod traffic of both families between two nodes', async () => {
    const a1 = await addPodAddresses(n1);
    const a2 = await addPodAddresses(n2);
    await n2.backend.reconcile(desiredFor(n2, [n1, n3]), signal);
    expect(await topo.ping(ns1, a1.v6!, a2.v6!)).toBe(true);
    expect(await topo.ping(n2.node.ns, a2.v6!, a1.v6!)).toBe(true);
    expect(await topo.ping(ns1, a1.v4!, a2.v4!)).toBe(true);
  });

  it('programs a peer without its IPv6 half for IPv4, and removes its IPv6 entries', async () => {
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, withoutV6(n3.lease)]), signal);
    expect(r).toMatchObject({ created: 0, deleted: 3, unchanged: 9, failed: [] });
    expect((await v6State()).routes.map((x) => x['dst'])).toEqual(['fd00:10:244:2::/64']);
    expect(await topo.ip(ns1, 'route', 'show', '10.244.3.0/24')).toContain('10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink');
  });

  it('repairs a deleted IPv6 route, neighbour, fdb entry and the deleted flannel-v6.1 itself (same MAC)', async () => {
    const full = await v6State();
    await topo.ip(ns1, '-6', 'route', 'del', 'fd00:10:244:2::/64', 'dev', 'flannel-v6.1');
    await topo.ip(ns1, '-6', 'neigh', 'del', 'fd00:10:244:2::', 'dev', 'flannel-v6.1');
    await topo.bridge(ns1, 'fdb', 'del', mac6(n2), 'dev', 'flannel-v6.1', 'dst', 'fd00:198:18::12', 'self');
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, withoutV6(n3.lease)]), signal);
    expect(r).toMatchObject({ created: 3, failed: [], changedByType: { route: 1, neigh: 1, fdb: 1 } });
    expect(await v6State()).toEqual(full);

    await topo.ip(ns1, 'link', 'del', 'flannel-v6.1');
    const r2 = await n1.backend.reconcile(desiredFor(n1, [n2, withoutV6(n3.lease)]), signal);
    expect(r2).toMatchObject({ failed: [], changedByType: { device: 1 } });
    expect(await v6State()).toEqual(full);
    expect((await topo.ipJson<{ address: string }[]>(ns1, 'link', 'show', 'flannel-v6.1'))[0]!.address).toBe(mac6(n1));
  });

  it('adopts flannel-v6.1 and every IPv6 entry after a restart, and takes the MAC from backend-v6-data when the device is gone', async () => {
    const before = (await topo.ipJson<{ ifindex: number }[]>(ns1, 'link', 'show', 'flannel-v6.1'))[0]!.ifindex;
    const restarted = await startNode(topo, 1, vxlanConfig(), { families: 'dual' });
    expect(restarted.lease.attrs.backendV6Data).toBe(n1.lease.attrs.backendV6Data);
    expect((await topo.ipJson<{ ifindex: number }[]>(ns1, 'link', 'show', 'flannel-v6.1'))[0]!.ifindex).toBe(before);
    expect(await restarted.backend.reconcile(desiredFor(restarted, [n2, withoutV6(n3.lease)]), signal)).toMatchObject({ created: 0, replaced: 0, deleted: 0, failed: [] });

    // Upstream's IPv6 device loses its MAC when re-created; ours comes back with the published one.
    await topo.ip(ns1, 'link', 'del', 'flannel-v6.1');
    const again = await startNode(topo, 1, vxlanConfig(), { families: 'dual', stored: { vtepMac: mac4(n1), vtepMacV6: mac6(n1) } });
    expect(again.lease.attrs.backendV6Data).toBe(n1.lease.attrs.backendV6Data);
  });

  it('a backend switch removes both devices and their entries', async () => {
    await n2.backend.teardown();
    expect(await topo.ip(n2.node.ns, 'link', 'show', 'type', 'vxlan')).toBe('');
    expect(await topo.ip(n2.node.ns, '-6', 'route', 'show', 'fd00:10:244::/56')).toBe('');
  });
});

describe.skipIf(!isRoot)('dual-stack host-gw and IPv6-only vxlan in namespaces', () => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await Topology.create(2, 24, 'ftd6', { ipv6: true });
  });
  afterAll(() => topo?.destroy());

  it('host-gw: one IPv6 route per peer via its public IPv6 on eth0, pod traffic of both families, removed on teardown', async () => {
    const h1 = await startNode(topo, 1, hostGw, { families: 'dual' });
    const h2 = await startNode(topo, 2, hostGw, { families: 'dual' });
    expect(h1.lease.attrs).toEqual({ backendType: 'host-gw', publicIp: '198.18.0.11', backendData: 'null', publicIpv6: 'fd00:198:18::11', backendV6Data: 'null' });
    expect(await h1.backend.reconcile(desiredFor(h1, [h2]), signal)).toMatchObject({ created: 2, failed: [] });
    await h2.backend.reconcile(desiredFor(h2, [h1]), signal);
    expect((await topo.ip(h1.node.ns, '-6', 'route', 'show', 'root', 'fd00:10:244::/56')).trim()).toBe('fd00:10:244:2::/64 via fd00:198:18::12 dev eth0 metric 1024 pref medium');
    const a1 = await addPodAddresses(h1);
    const a2 = await addPodAddresses(h2);
    expect(await topo.ping(h1.node.ns, a1.v6!, a2.v6!)).toBe(true);
    expect(await topo.ping(h1.node.ns, a1.v4!, a2.v4!)).toBe(true);
    await h1.backend.teardown();
    expect(await topo.ip(h1.node.ns, '-6', 'route', 'show', 'root', 'fd00:10:244::/56', 'dev', 'eth0')).toBe('');
    expect(await topo.ip(h1.node.ns, 'route', 'show', 'root', '10.244.0.0/16', 'dev', 'eth0')).toBe('');
    await runIn(h1.node.ns, ['ip', 'link', 'del', 'pods']);
    await runIn(h2.node.ns, ['ip', 'link', 'del', 'pods']);
  });

  it('IPv6-only vxlan: no flannel.1 and no IPv4 in the lease; flannel-v6.1 carries the pods’ IPv6', async () => {
    const v1 = await startNode(topo, 1, vxlanConfig(), { families: 'ipv6' });
    const v2 = await startNode(topo, 2, vxlanConfig(), { families: 'ipv6' });
    expect(v1.lease.subnet).toBeUndefined();
    expect(Object.keys(v1.lease.attrs).sort()).toEqual(['backendType', 'backendV6Data', 'publicIpv6']);
    expect(await topo.ip(v1.node.ns, 'link', 'show', 'flannel.1').catch((e: Error) => e.message)).toMatch(/does not exist/);
    expect(await v1.backend.reconcile(desiredFor(v1, [v2]), signal)).toMatchObject({ created: 3, failed: [] });
    await v2.backend.reconcile(desiredFor(v2, [v1]), signal);
    const a1 = await addPodAddresses(v1);
    const a2 = await addPodAddresses(v2);
    expect(a1.v4).toBeUndefined();
    expect(await topo.ping(v1.node.ns, a1.v6!, a2.v6!)).toBe(true);
  });
});
