import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostGwConfig } from '../../src/config/types.ts';
import type { Desired } from '../../src/backends/backend.ts';
import { HOSTGW_NAT_REFUSAL } from '../../src/backends/hostgw/backend.ts';
import { ReconcileLoop } from '../../src/backends/reconcile/loop.ts';
import { parseCidr } from '../../src/ip/ipv4.ts';
import type { Lease } from '../../src/subnet/lease.ts';
import { isRoot } from '../../lab/harness/netns.ts';
import { Topology } from '../../lab/harness/topology.ts';
import { addPodAddress, desiredFor, startNode, vxlanConfig, waitFor, type RunningNode } from './harness.ts';

const signal = new AbortController().signal;
const hostGw: HostGwConfig = { type: 'host-gw' };

describe.skipIf(!isRoot)('host-gw backend in namespaces', () => {
  let topo: Topology;
  let n1: RunningNode;
  let n2: RunningNode;
  let n3: RunningNode;
  let ns1: string;
  // Underlay /25: 198.18.0.200 is not on any node's connected network.
  const farPeer: Lease = { subnet: parseCidr('10.244.9.0/24')!, node: 'far-node', attrs: { publicIp: '198.18.0.200', backendType: 'host-gw', backendData: 'null' } };

  beforeAll(async () => {
    topo = await Topology.create(3, 25);
    n1 = await startNode(topo, 1, hostGw);
    n2 = await startNode(topo, 2, hostGw);
    n3 = await startNode(topo, 3, hostGw);
    ns1 = n1.node.ns;
  });
  afterAll(() => topo?.destroy());

  const peerRoutes = async (ns = ns1): Promise<string[]> =>
    (await topo.ipJson<{ dst: string; gateway?: string; dev: string }[]>(ns, 'route', 'show', 'dev', 'eth0'))
      .filter((r) => r.dst.startsWith('10.244.'))
      .map((r) => `${r.dst} via ${r.gateway} dev eth0`)
      .sort();

  it('publishes host-gw attributes and the interface MTU', () => {
    expect(n1.lease.attrs).toEqual({ publicIp: '198.18.0.11', backendType: 'host-gw', backendData: 'null' });
    expect(n1.backend.mtu).toBe(1500);
  });

  it('refuses a public IP that differs from the interface address, with upstream\'s message', async () => {
    await expect(startNode(topo, 1, hostGw, { publicIp: '198.18.0.99' })).rejects.toThrow(HOSTGW_NAT_REFUSAL);
  });

  it('routes each peer via its public IP on eth0, then adopts with zero changes, and carries traffic', async () => {
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal);
    expect(r).toMatchObject({ created: 2, deleted: 0, failed: [], owned: { route: 2 }, notOnLink: [] });
    expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.12 dev eth0', '10.244.3.0/24 via 198.18.0.13 dev eth0']);
    expect(await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal)).toMatchObject({ created: 0, replaced: 0, deleted: 0, unchanged: 2 });
    await n2.backend.reconcile(desiredFor(n2, [n1, n3]), signal);
    await topo.ip(ns1, 'link', 'set', 'lo', 'up');
    const a1 = await addPodAddress(n1);
    const a2 = await addPodAddress(n2);
    expect(await topo.ping(ns1, a1, a2)).toBe(true);
  });

  it("leaves what upstream flanneld adopts: its route set-up, replayed with iproute2 after ours exits, changes nothing and traffic flows", async () => {
    const before = await peerRoutes();
    await n1.backend.close(); // our exit: the routes stay
    // pkg/backend/route_network.go addToRouteList/ensure: an identical route is skipped
    // ("Route to … already exists, skipping."), a different one replaced; replace does both.
    for (const p of [n2, n3]) await topo.ip(ns1, 'route', 'replace', `10.244.${p.node.i}.0/24`, 'via', `198.18.0.1${p.node.i}`, 'dev', 'eth0');
    expect(await peerRoutes()).toEqual(before);
    expect(await topo.ping(ns1, '10.244.1.1', '10.244.2.1')).toBe(true);
  });

  it('deletes the route of a removed peer and stale routes to Network subnets, leaves other routes', async () => {
    await topo.ip(ns1, 'route', 'add', '10.244.8.0/24', 'via', '198.18.0.18', 'dev', 'eth0');
    await topo.ip(ns1, 'route', 'add', '10.250.0.0/24', 'via', '198.18.0.18', 'dev', 'eth0');
    const r = await n1.backend.reconcile(desiredFor(n1, [n2]), signal);
    expect(r).toMatchObject({ created: 0, deleted: 2, unchanged: 1, failed: [] });
    expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.12 dev eth0']);
    expect(await topo.ip(ns1, 'route', 'show', '10.250.0.0/24')).toContain('via 198.18.0.18');
  });

  it('replaces a route whose gateway changed', async () => {
    const moved: Lease = { ...n2.lease, attrs: { ...n2.lease.attrs, publicIp: '198.18.0.22' } };
    expect(await n1.backend.reconcile(desiredFor(n1, [moved]), signal)).toMatchObject({ replaced: 1, failed: [] });
    expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.22 dev eth0']);
  });

  it('reports a peer that is not on-link once, by name, without failing the run or the other peers', async () => {
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, n3, farPeer]), signal);
    expect(r).toMatchObject({ failed: [], notOnLink: ['far-node'] });
    expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.12 dev eth0', '10.244.3.0/24 via 198.18.0.13 dev eth0']);
    const again = await n1.backend.reconcile(desiredFor(n1, [n2, n3, farPeer]), signal);
    expect(again).toMatchObject({ failed: [], notOnLink: ['far-node'] });
    const warnings = n1.lines.filter((l) => l.includes('is not on-link'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('host-gw peer far-node (10.244.9.0/24) is not on-link: its public IP 198.18.0.200');
    // Once the peer moves on-link the report clears.
    const near: Lease = { ...farPeer, attrs: { ...farPeer.attrs, publicIp: '198.18.0.19' } };
    expect(await n1.backend.reconcile(desiredFor(n1, [n2, n3, near]), signal)).toMatchObject({ failed: [], notOnLink: [] });
  });

  it('ignores peers of other backends (logged once)', async () => {
    const vx = await startNode(topo, 3, vxlanConfig());
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, vx]), signal);
    expect(r).toMatchObject({ failed: [], deleted: 2 });
    expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.12 dev eth0']);
    expect(n1.lines.filter((l) => l.startsWith('Ignoring non-host-gw subnet'))).toEqual(['Ignoring non-host-gw subnet: type=vxlan subnet=10.244.3.0/24 node=node3']);
  });

  it('puts a hand-deleted route back through the monitor', async () => {
    const live = await startNode(topo, 1, hostGw, { monitor: true });
    const desired: Desired = desiredFor(live, [n2]);
    const loop = new ReconcileLoop({ backend: live.backend, desired: () => desired, resyncMs: 3_600_000 });
    const ac = new AbortController();
    try {
      loop.start(ac.signal);
      live.backend.watchDrift((why) => loop.kick(why), ac.signal);
      await loop.idle();
      expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.12 dev eth0']);
      await topo.ip(ns1, 'route', 'del', '10.244.2.0/24');
      expect(await waitFor(async () => (await peerRoutes()).length === 1)).toBe(true);
      expect(loop.stats().driftRepairs).toEqual({ route: 1 });
    } finally {
      ac.abort();
      await live.backend.close();
    }
  });

  it('removes a hand-added route into the pod network and undoes a hand-changed one through the monitor, without answering its own writes', async () => {
    // Found by bench/soak.ts: only deletions kicked a run, so these waited for the periodic resync.
    const live = await startNode(topo, 1, hostGw, { monitor: true });
    const desired: Desired = desiredFor(live, [n2]);
    const loop = new ReconcileLoop({ backend: live.backend, desired: () => desired, resyncMs: 3_600_000 });
    const ac = new AbortController();
    const good = ['10.244.2.0/24 via 198.18.0.12 dev eth0'];
    try {
      loop.start(ac.signal);
      live.backend.watchDrift((why) => loop.kick(why), ac.signal);
      await loop.idle();
      expect(await peerRoutes()).toEqual(good);
      const runs = loop.stats().runs;
      await topo.ip(ns1, 'route', 'add', '10.244.250.0/24', 'via', '198.18.0.20', 'dev', 'eth0');
      expect(await waitFor(async () => JSON.stringify(await peerRoutes()) === JSON.stringify(good))).toBe(true);
      await loop.idle();
      await topo.ip(ns1, 'route', 'replace', '10.244.2.0/24', 'via', '198.18.0.20', 'dev', 'eth0');
      expect(await waitFor(async () => JSON.stringify(await peerRoutes()) === JSON.stringify(good))).toBe(true);
      await loop.idle();
      // One run per hand change: the notifications of the run's own delete and replace kicked none.
      expect(loop.stats().runs).toBe(runs + 2);
    } finally {
      ac.abort();
      await live.backend.close();
    }
  });

  it('teardown removes its routes and nothing else', async () => {
    await topo.ip(ns1, 'route', 'replace', '10.250.0.0/24', 'via', '198.18.0.18', 'dev', 'eth0');
    await n1.backend.reconcile(desiredFor(n1, [n2]), signal);
    expect(await peerRoutes()).toEqual(['10.244.2.0/24 via 198.18.0.12 dev eth0']);
    await n1.backend.teardown();
    expect(await peerRoutes()).toEqual([]);
    expect(await topo.ip(ns1, 'route', 'show', '10.250.0.0/24')).toContain('via 198.18.0.18');
  });
});
