import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Desired } from '../../src/backends/backend.ts';
import { ReconcileLoop } from '../../src/backends/reconcile/loop.ts';
import { formatVxlanBackendData } from '../../src/backends/vxlan/mac.ts';
import { parseCidr } from '../../src/ip/ipv4.ts';
import type { Lease } from '../../src/subnet/lease.ts';
import { isRoot } from '../../lab/harness/netns.ts';
import { Topology } from '../../lab/harness/topology.ts';
import { addPodAddress, desiredFor, startNode, vxlanConfig, waitFor, type RunningNode } from './harness.ts';

const signal = new AbortController().signal;

describe.skipIf(!isRoot)('vxlan backend in namespaces', () => {
  let topo: Topology;
  let n1: RunningNode;
  let n2: RunningNode;
  let n3: RunningNode;
  let ns1: string;

  beforeAll(async () => {
    topo = await Topology.create(3);
    n1 = await startNode(topo, 1, vxlanConfig());
    n2 = await startNode(topo, 2, vxlanConfig());
    n3 = await startNode(topo, 3, vxlanConfig());
    ns1 = n1.node.ns;
  });
  afterAll(() => topo?.destroy());

  const mac = (n: RunningNode): string => (JSON.parse(n.lease.attrs.backendData!) as { VtepMAC: string }).VtepMAC;

  /** The vxlan kernel state of ns1 in the shape we compare. */
  async function state(ns = ns1) {
    return {
      routes: (await topo.ipJson<{ dst: string; gateway?: string; flags: string[] }[]>(ns, 'route', 'show', 'dev', 'flannel.1'))
        .map((r) => `${r.dst} via ${r.gateway} dev flannel.1 ${r.flags.join(',')}`).sort(),
      neigh: (await topo.ipJson<{ dst: string; lladdr: string; state: string[] }[]>(ns, 'neigh', 'show', 'dev', 'flannel.1'))
        .map((n) => `${n.dst} ${n.lladdr} ${n.state.join(',')}`).sort(),
      fdb: (await topo.fdbJson(ns, 'flannel.1')).map((f) => `${String(f['mac'])} dst ${String(f['dst'])} ${(f['flags'] as string[]).join(',')} ${String(f['state'])}`).sort(),
    };
  }

  it('creates flannel.1 exactly as upstream does, with the published MAC and one /32 address', async () => {
    const [link] = await topo.ipJson<{ ifname: string; mtu: number; address: string; flags: string[]; linkinfo: { info_kind: string; info_data: Record<string, unknown> } }[]>(ns1, '-d', 'link', 'show', 'flannel.1');
    expect(link).toMatchObject({ ifname: 'flannel.1', mtu: 1450, address: mac(n1), linkinfo: { info_kind: 'vxlan' } });
    // Upstream's txqueuelen 0: `ip link` prints no qlen.
    expect(await topo.ip(ns1, 'link', 'show', 'flannel.1')).not.toMatch(/qlen/);
    expect(link!.flags).toContain('UP');
    const d = link!.linkinfo.info_data;
    expect({ id: d['id'], local: d['local'], link: d['link'], port: d['port'], learning: d['learning'], gbp: d['gbp'] ?? false }).toEqual({
      id: 1, local: '198.18.0.11', link: 'eth0', port: 8472, learning: false, gbp: false,
    });
    expect(n1.lease.attrs).toEqual({ publicIp: '198.18.0.11', backendType: 'vxlan', backendData: `{"VNI":1,"VtepMAC":"${mac(n1)}"}` });
    expect(parseInt(mac(n1).slice(0, 2), 16) & 3).toBe(2);
    const addrs = await topo.ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(ns1, 'addr', 'show', 'dev', 'flannel.1');
    expect(addrs[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.244.1.0/32']);
    expect(n1.backend.mtu).toBe(1450);
  });

  it('programs neighbour, fdb and onlink route per peer in one run, then adopts them with zero changes', async () => {
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal);
    expect(r).toMatchObject({ created: 6, replaced: 0, deleted: 0, unchanged: 0, failed: [], owned: { neigh: 2, fdb: 2, route: 2 } });
    expect(await state()).toEqual({
      routes: ['10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', '10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink'],
      neigh: [`10.244.2.0 ${mac(n2)} PERMANENT`, `10.244.3.0 ${mac(n3)} PERMANENT`],
      fdb: [`${mac(n2)} dst 198.18.0.12 self permanent`, `${mac(n3)} dst 198.18.0.13 self permanent`].sort(),
    });
    const again = await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal);
    expect(again).toMatchObject({ created: 0, replaced: 0, deleted: 0, unchanged: 6, failed: [] });
  });

  it('carries pod traffic between two nodes', async () => {
    const a1 = await addPodAddress(n1);
    const a2 = await addPodAddress(n2);
    await n2.backend.reconcile(desiredFor(n2, [n1, n3]), signal);
    expect(await topo.ping(ns1, a1, a2)).toBe(true);
    expect(await topo.ping(n2.node.ns, a2, a1)).toBe(true);
  });

  it("leaves what upstream flanneld adopts: its set-up, replayed with iproute2 after ours exits, changes nothing and traffic flows", async () => {
    const before = await state();
    const link = async () => (await topo.ipJson<{ ifindex: number; linkinfo: { info_data: Record<string, unknown> } }[]>(ns1, '-d', 'link', 'show', 'flannel.1'))[0]!;
    const index = (await link()).ifindex;
    await n1.backend.close(); // our exit: fds closed, kernel state kept
    // pkg/backend/vxlan/device.go ensureLink: LinkAdd fails with EEXIST, then the existing
    // device is compared on type, VNI, vtep device, local IP, group, l2miss, port and GBP, and
    // adopted when none differs.
    await expect(topo.ip(ns1, 'link', 'add', 'flannel.1', 'mtu', '1450', 'type', 'vxlan', 'id', '1', 'local', '198.18.0.11', 'dev', 'eth0', 'nolearning')).rejects.toThrow(/File exists/);
    const d = (await link()).linkinfo.info_data;
    expect({ id: d['id'], link: d['link'], local: d['local'], group: d['group'], l2miss: d['l2miss'] ?? false, port: d['port'], gbp: d['gbp'] ?? false })
      .toEqual({ id: 1, link: 'eth0', local: '198.18.0.11', group: undefined, l2miss: false, port: 8472, gbp: false });
    // EnsureV4AddressOnLink: the lease's /32 is there and nothing else of the Network.
    expect((await topo.ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(ns1, 'addr', 'show', 'dev', 'flannel.1'))[0]!.addr_info
      .filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.244.1.0/32']);
    await topo.ip(ns1, 'link', 'set', 'flannel.1', 'up');
    // vxlan_network.go, per peer: NeighSet ARP, NeighSet FDB, RouteReplace onlink.
    for (const p of [n2, n3]) {
      const i = p.node.i;
      await topo.ip(ns1, 'neigh', 'replace', `10.244.${i}.0`, 'dev', 'flannel.1', 'lladdr', mac(p), 'nud', 'permanent');
      await topo.bridge(ns1, 'fdb', 'replace', mac(p), 'dev', 'flannel.1', 'dst', `198.18.0.1${i}`, 'self', 'permanent');
      await topo.ip(ns1, 'route', 'replace', `10.244.${i}.0/24`, 'via', `10.244.${i}.0`, 'dev', 'flannel.1', 'onlink');
    }
    expect((await link()).ifindex).toBe(index);
    expect(await state()).toEqual(before);
    expect(await topo.ping(ns1, '10.244.1.1', '10.244.2.1')).toBe(true);
    expect(await topo.ping(n2.node.ns, '10.244.2.1', '10.244.1.1')).toBe(true);
  });

  it('removes every entry of a removed peer', async () => {
    const r = await n1.backend.reconcile(desiredFor(n1, [n2]), signal);
    expect(r).toMatchObject({ created: 0, deleted: 3, unchanged: 3, failed: [] });
    expect(await state()).toEqual({
      routes: ['10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'],
      neigh: [`10.244.2.0 ${mac(n2)} PERMANENT`],
      fdb: [`${mac(n2)} dst 198.18.0.12 self permanent`],
    });
  });

  it('leaves no stale fdb entry after a peer changes its VtepMAC', async () => {
    const newMac = '0a:58:0a:f4:02:99';
    const changed: Lease = { ...n2.lease, attrs: { ...n2.lease.attrs, backendData: formatVxlanBackendData(1, newMac) } };
    const r = await n1.backend.reconcile(desiredFor(n1, [changed]), signal);
    expect(r).toMatchObject({ created: 1, replaced: 1, deleted: 1, unchanged: 1, failed: [] });
    expect(await state()).toEqual({
      routes: ['10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'],
      neigh: [`10.244.2.0 ${newMac} PERMANENT`],
      fdb: [`${newMac} dst 198.18.0.12 self permanent`],
    });
    await n1.backend.reconcile(desiredFor(n1, [n2, n3]), signal);
  });

  it('deletes entries of peers that vanished while it was down, and ignores non-vxlan peers', async () => {
    await topo.ip(ns1, 'neigh', 'replace', '10.244.9.0', 'lladdr', '0a:00:00:00:09:09', 'dev', 'flannel.1', 'nud', 'permanent');
    await topo.ip(ns1, 'route', 'replace', '10.244.9.0/24', 'via', '10.244.9.0', 'dev', 'flannel.1', 'onlink');
    await topo.ip(ns1, 'route', 'replace', '10.244.8.0/24', 'via', '198.18.0.18', 'dev', 'eth0');
    await topo.ip(ns1, 'route', 'replace', '10.250.0.0/24', 'via', '198.18.0.18', 'dev', 'eth0'); // outside Network: not ours
    const hostgwPeer: Lease = { subnet: parseCidr('10.244.7.0/24')!, node: 'node7', attrs: { publicIp: '198.18.0.17', backendType: 'host-gw', backendData: 'null' } };
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, n3, hostgwPeer]), signal);
    expect(r).toMatchObject({ created: 0, deleted: 3, unchanged: 6, failed: [] });
    expect((await state()).routes).toHaveLength(2);
    expect((await state()).neigh).toHaveLength(2);
    expect(await topo.ip(ns1, 'route', 'show', 'dev', 'eth0')).not.toContain('10.244.8.0');
    expect(await topo.ip(ns1, 'route', 'show', 'dev', 'eth0')).toContain('10.250.0.0/24 via 198.18.0.18');
    expect(n1.lines.filter((l) => l.includes('ignoring non-vxlan'))).toEqual(['ignoring non-vxlan v4Subnet(10.244.7.0/24) of node node7: type=host-gw']);
    await n1.backend.reconcile(desiredFor(n1, [n2, n3, hostgwPeer]), signal);
    expect(n1.lines.filter((l) => l.includes('ignoring non-vxlan'))).toHaveLength(1); // logged once
  });

  it('adopts the device and every entry after a restart: same ifindex, zero changes', async () => {
    const before = (await topo.ipJson<{ ifindex: number }[]>(ns1, 'link', 'show', 'flannel.1'))[0]!.ifindex;
    const restarted = await startNode(topo, 1, vxlanConfig(), { stored: { vtepMac: '0a:ff:ff:ff:ff:ff' } });
    expect(restarted.lease.attrs.backendData).toBe(n1.lease.attrs.backendData); // the device's MAC wins
    const r = await restarted.backend.reconcile(desiredFor(restarted, [n2, n3]), signal);
    expect(r).toMatchObject({ created: 0, replaced: 0, deleted: 0, unchanged: 6, failed: [] });
    expect((await topo.ipJson<{ ifindex: number }[]>(ns1, 'link', 'show', 'flannel.1'))[0]!.ifindex).toBe(before);
    expect(restarted.lines.some((l) => l.includes('recreat'))).toBe(false);
  });

  it('repairs hand-deleted route, neighbour, fdb entry and device through the monitor', async () => {
    const live = await startNode(topo, 1, vxlanConfig(), { monitor: true });
    let desired: Desired = desiredFor(live, [n2, n3]);
    const loop = new ReconcileLoop({ backend: live.backend, desired: () => desired, resyncMs: 3_600_000 });
    const ac = new AbortController();
    try {
      loop.start(ac.signal);
      live.backend.watchDrift((why) => loop.kick(why), ac.signal);
      await loop.idle();
      const good = await state();
      await topo.ip(ns1, 'route', 'del', '10.244.2.0/24');
      expect(await waitFor(async () => (await state()).routes.length === 2)).toBe(true);
      await topo.ip(ns1, 'neigh', 'del', '10.244.3.0', 'dev', 'flannel.1');
      expect(await waitFor(async () => (await state()).neigh.length === 2)).toBe(true);
      await topo.bridge(ns1, ...['fdb', 'del', mac(n2), 'dev', 'flannel.1', 'dst', '198.18.0.12', 'self']);
      expect(await waitFor(async () => (await state()).fdb.length === 2)).toBe(true);
      expect(await state()).toEqual(good);
      await topo.ip(ns1, 'link', 'del', 'flannel.1');
      expect(await waitFor(async () => JSON.stringify(await state()) === JSON.stringify(good))).toBe(true);
      const addrs = await topo.ip(ns1, 'addr', 'show', 'dev', 'flannel.1');
      expect(addrs).toContain('10.244.1.0/32');
      expect((await topo.ipJson<{ address: string }[]>(ns1, 'link', 'show', 'flannel.1'))[0]!.address).toBe(mac(n1));
      expect(live.lines.some((l) => l.includes('re-created it and replaying every peer'))).toBe(true);
      expect(loop.stats().driftRepairs).toMatchObject({ route: expect.any(Number), neigh: expect.any(Number), fdb: expect.any(Number), device: 1 });
      // Hand-changed MTU is corrected in place (no recreate).
      await topo.ip(ns1, 'link', 'set', 'flannel.1', 'mtu', '1400');
      expect(await waitFor(async () => (await topo.ipJson<{ mtu: number }[]>(ns1, 'link', 'show', 'flannel.1'))[0]!.mtu === 1450)).toBe(true);
      desired = desiredFor(live, [n2, n3]);
    } finally {
      ac.abort();
      await loop.idle();
      await live.backend.close();
    }
  });

  it('removes hand-added entries on flannel.1 and undoes a hand-changed neighbour through the monitor, without answering its own writes', async () => {
    // Found by bench/soak.ts: only deletions kicked a run, so these waited for the periodic resync.
    const live = await startNode(topo, 1, vxlanConfig(), { monitor: true });
    const desired: Desired = desiredFor(live, [n2, n3]);
    const loop = new ReconcileLoop({ backend: live.backend, desired: () => desired, resyncMs: 3_600_000 });
    const ac = new AbortController();
    try {
      loop.start(ac.signal);
      live.backend.watchDrift((why) => loop.kick(why), ac.signal);
      await loop.idle();
      const good = await state();
      const runs = loop.stats().runs;
      const restored = async (): Promise<boolean> => JSON.stringify(await state()) === JSON.stringify(good);
      await topo.ip(ns1, 'route', 'add', '10.244.250.0/24', 'via', '10.244.250.0', 'dev', 'flannel.1', 'onlink');
      expect(await waitFor(restored)).toBe(true);
      await loop.idle();
      await topo.ip(ns1, 'neigh', 'replace', '10.244.2.0', 'lladdr', '0a:00:00:00:00:99', 'dev', 'flannel.1', 'nud', 'permanent');
      expect(await waitFor(restored)).toBe(true);
      await loop.idle();
      await topo.bridge(ns1, 'fdb', 'append', '0a:00:00:00:00:99', 'dev', 'flannel.1', 'dst', '198.18.0.99', 'self', 'permanent');
      expect(await waitFor(restored)).toBe(true);
      await loop.idle();
      // One run per hand change: the notifications of the run's own deletes and writes kicked none.
      expect(loop.stats().runs).toBe(runs + 3);
    } finally {
      ac.abort();
      await loop.idle();
      await live.backend.close();
    }
  });

  it('recreates an incompatible device and names the difference', async () => {
    await topo.ip(ns1, 'link', 'del', 'flannel.1');
    await topo.ip(ns1, 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'local', '198.18.0.11', 'dev', 'eth0', 'dstport', '4789', 'nolearning');
    const r = await startNode(topo, 1, vxlanConfig());
    expect(r.lines).toContain('flannel.1 already exists with incompatible configuration (port 4789 vs 8472); recreating device');
    const [link] = await topo.ipJson<{ linkinfo: { info_data: { port: number } } }[]>(ns1, '-d', 'link', 'show', 'flannel.1');
    expect(link!.linkinfo.info_data.port).toBe(8472);
  });

  it('teardown removes the device and the direct routes, and nothing else', async () => {
    const cfg = vxlanConfig({ directRouting: true });
    const t = await startNode(topo, 2, cfg);
    await t.backend.reconcile(desiredFor(t, [n1, n3]), signal);
    expect(await topo.ip(n2.node.ns, 'route', 'show', 'dev', 'eth0')).toContain('10.244.1.0/24 via 198.18.0.11');
    await t.backend.teardown();
    expect(await topo.ip(n2.node.ns, 'link', 'show')).not.toContain('flannel.1');
    const left = await topo.ip(n2.node.ns, 'route', 'show');
    expect(left).not.toContain('10.244.1.0/24');
    expect(left).not.toContain('10.244.3.0/24');
    expect(left).toContain('198.18.0.0/24 dev eth0');
  });

  it('uses the stored VtepMAC when it creates the device', async () => {
    await topo.ip(n3.node.ns, 'link', 'del', 'flannel.1');
    const r = await startNode(topo, 3, vxlanConfig(), { stored: { vtepMac: '0A:58:0A:F4:03:00' } });
    expect(r.lease.attrs.backendData).toBe('{"VNI":1,"VtepMAC":"0a:58:0a:f4:03:00"}');
    expect(r.lines).toContain('Interface flannel.1 mac address set to: 0a:58:0a:f4:03:00');
  });
});

describe.skipIf(!isRoot)('vxlan DirectRouting', () => {
  let topo: Topology;
  afterAll(() => topo?.destroy());

  it('routes on-link peers via their public IP on eth0, others through flannel.1, and carries traffic', async () => {
    topo = await Topology.create(2);
    const cfg = vxlanConfig({ directRouting: true });
    const n1 = await startNode(topo, 1, cfg);
    const n2 = await startNode(topo, 2, cfg);
    // node 9 is not on-link: its public IP is behind a gateway.
    await topo.ip(n1.node.ns, 'route', 'add', '198.18.0.128/25', 'via', '198.18.0.12');
    const far: Lease = { subnet: parseCidr('10.244.9.0/24')!, node: 'node9', attrs: { publicIp: '198.18.0.200', backendType: 'vxlan', backendData: formatVxlanBackendData(1, '0a:00:00:00:09:09') } };
    const r = await n1.backend.reconcile(desiredFor(n1, [n2, far]), signal);
    expect(r).toMatchObject({ failed: [], created: 4 });
    expect((await topo.ip(n1.node.ns, 'route', 'show', '10.244.2.0/24')).trim()).toBe('10.244.2.0/24 via 198.18.0.12 dev eth0');
    expect((await topo.ip(n1.node.ns, 'route', 'show', '10.244.9.0/24')).trim()).toBe('10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink');
    expect((await topo.ip(n1.node.ns, 'neigh', 'show', 'dev', 'flannel.1')).trim()).toBe('10.244.9.0 lladdr 0a:00:00:00:09:09 PERMANENT');
    await n2.backend.reconcile(desiredFor(n2, [n1]), signal);
    const a1 = await addPodAddress(n1);
    const a2 = await addPodAddress(n2);
    expect(await topo.ping(n1.node.ns, a1, a2)).toBe(true);
    // Re-evaluated each run: once node 2 is behind a gateway, it moves to the vxlan path.
    await topo.ip(n1.node.ns, 'route', 'add', '198.18.0.12/32', 'via', '198.18.0.13', 'dev', 'eth0', 'onlink');
    const moved = await n1.backend.reconcile(desiredFor(n1, [n2, far]), signal);
    // The route moves from eth0 to flannel.1: deleted and added (a replace is refused for IPv6 onlink routes).
    expect(moved).toMatchObject({ failed: [], created: 3, replaced: 0, deleted: 1 });
    expect((await topo.ip(n1.node.ns, 'route', 'show', '10.244.2.0/24')).trim()).toBe('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
  });
});
