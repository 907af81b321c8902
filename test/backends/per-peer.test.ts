import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Desired } from '../../src/backends/backend.ts';
import { createBackend } from '../../src/backends/registry.ts';
import { formatVxlanBackendData } from '../../src/backends/vxlan/mac.ts';
import type { BackendConfig } from '../../src/config/types.ts';
import { PeerSet } from '../../src/daemon/peer-set.ts';
import { selectInterface } from '../../src/ifaces/select.ts';
import { formatCidr, formatIpv4, parseCidr } from '../../src/ip/ipv4.ts';
import { formatCidr6, formatIpv6, parseCidr6 } from '../../src/ip/ipv6.ts';
import type { NetlinkBatch, NetlinkHandle } from '../../src/netlink/types.ts';
import { silentLogger } from '../../src/observe/log.ts';
import type { Lease, LeaseEvent } from '../../src/subnet/lease.ts';
import { isRoot } from '../../lab/harness/netns.ts';
import { Topology } from '../../lab/harness/topology.ts';
import { NETWORK, vxlanConfig } from './harness.ts';

/*
 * Work proportional to the change: after a full run, a run for lease events of a few peers
 * lists nothing and sends ops for those peers' objects alone; after many such runs (bursts of
 * adds, removals, VtepMAC and public-IP changes) the kernel holds exactly what the final lease
 * set asks for, and a full run finds nothing to change.
 */

const signal = new AbortController().signal;
const OWN = parseCidr('10.244.255.248/29')!;

/** Peer k: a /29 in 10.244.0.0/16; `version` changes its VtepMAC, `ipShift` its public IP. */
function peerLease(k: number, type: 'vxlan' | 'host-gw', version = 0, ipShift = 0): Lease {
  const ip = (NETWORK.ip + k * 8) >>> 0;
  const mac = `0a:58:${version.toString(16).padStart(2, '0')}:f4:${((k >> 8) & 0xff).toString(16).padStart(2, '0')}:${(k & 0xff).toString(16).padStart(2, '0')}`;
  const publicIp = `198.18.0.${20 + ((k + ipShift) % 200)}`;
  return { subnet: { ip, prefixLen: 29 }, node: `peer-${k}`, attrs: { publicIp, backendType: type, backendData: type === 'vxlan' ? formatVxlanBackendData(1, mac) : 'null' } };
}

function vtepMac(l: Lease): string {
  return (JSON.parse(l.attrs.backendData ?? 'null') as { VtepMAC: string }).VtepMAC;
}

/** A handle that counts list requests and records what each batch sends, by object. */
function observed(nl: NetlinkHandle): { nl: NetlinkHandle; lists: () => number; sent: string[] } {
  let lists = 0;
  const sent: string[] = [];
  const proxy = new Proxy(nl, {
    get(target, prop) {
      const v = Reflect.get(target, prop) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'neighList' || prop === 'routeList' || prop === 'addrList') {
        return (...args: unknown[]) => {
          lists++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop === 'batch') {
        return () => {
          const b = (v as () => NetlinkBatch).call(target);
          return new Proxy(b, {
            get(bt, bp, br) {
              const m = Reflect.get(bt, bp) as unknown;
              if (typeof m !== 'function' || bp === 'run') return typeof m === 'function' ? (m as () => unknown).bind(bt) : m;
              return (...args: unknown[]) => {
                const obj = args[0] as { dst?: string; ip?: string; mac?: string; family?: number };
                sent.push(`${String(bp)} ${obj.dst ?? (obj.family === 7 ? `fdb ${obj.mac} ${obj.ip}` : `${obj.ip} ${obj.mac ?? ''}`.trim())}`);
                (m as (...a: unknown[]) => unknown).apply(bt, args);
                return br;
              };
            },
          });
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { nl: proxy, lists: () => lists, sent };
}

/** A deterministic PRNG (mulberry32), so a failing burst sequence can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One burst of 1..maxEvents lease events over peers 0..peers-1, applied to `live` too: a known
 * peer is removed (40%) or changed, an unknown one added; a change is a new VtepMAC (version) or
 * a new public IP (ipShift), picked by the roll.
 */
function randomBurst(
  live: Map<number, Lease>,
  rand: () => number,
  burst: number,
  range: { readonly peers: number; readonly maxEvents: number },
  leaseOf: (k: number, version: number, ipShift: number) => Lease,
): LeaseEvent[] {
  const events: LeaseEvent[] = [];
  const size = 1 + Math.floor(rand() * range.maxEvents);
  for (let e = 0; e < size; e++) {
    const k = Math.floor(rand() * range.peers);
    const roll = rand();
    const current = live.get(k);
    if (current !== undefined && roll < 0.4) {
      live.delete(k);
      events.push({ type: 'removed', lease: current });
    } else {
      const next = leaseOf(k, roll < 0.7 ? burst % 3 : 0, roll >= 0.7 ? burst : 0);
      live.set(k, next);
      events.push({ type: 'added', lease: next });
    }
  }
  return events;
}

describe.skipIf(!isRoot)('per-peer reconcile in namespaces', () => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await Topology.create(2);
  });
  afterAll(() => topo?.destroy());

  async function start(i: number, config: BackendConfig): Promise<{ backend: Backend; own: Lease; watch: ReturnType<typeof observed> }> {
    const node = topo.node(i);
    const watch = observed(node.nl);
    const ext = await selectInterface(node.nl, { ifaces: ['eth0'] });
    const backend = createBackend(config, { nl: watch.nl, ext, network: NETWORK, stored: {}, log: silentLogger() });
    const attrs = await backend.prepare(signal);
    const own: Lease = { subnet: OWN, attrs, node: `node${i}` };
    await backend.configure(own, signal);
    return { backend, own, watch };
  }

  /** What the kernel of node i holds for flannel's peers, one line per object. */
  async function kernel(i: number, type: 'vxlan' | 'host-gw'): Promise<string[]> {
    const ns = topo.node(i).ns;
    if (type === 'host-gw') {
      return (await topo.ipJson<{ dst: string; gateway?: string }[]>(ns, 'route', 'show', 'dev', 'eth0'))
        .filter((r) => r.dst.startsWith('10.244.')).map((r) => `route ${r.dst} via ${r.gateway}`).sort();
    }
    const routes = (await topo.ipJson<{ dst: string; gateway?: string }[]>(ns, 'route', 'show', 'dev', 'flannel.1')).map((r) => `route ${r.dst} via ${r.gateway}`);
    const neigh = (await topo.ipJson<{ dst: string; lladdr: string; state: string[] }[]>(ns, 'neigh', 'show', 'dev', 'flannel.1')).map((n) => `neigh ${n.dst} ${n.lladdr} ${n.state.join(',')}`);
    const fdb = (await topo.fdbJson(ns, 'flannel.1')).filter((f) => f['dst'] !== undefined).map((f) => `fdb ${String(f['mac'])} ${String(f['dst'])}`);
    return [...routes, ...neigh, ...fdb].sort();
  }

  function expected(peers: Iterable<Lease>, type: 'vxlan' | 'host-gw'): string[] {
    const out: string[] = [];
    for (const l of peers) {
      const subnet = l.subnet!;
      const gw = formatIpv4(subnet.ip);
      if (type === 'host-gw') {
        out.push(`route ${formatCidr(subnet)} via ${l.attrs.publicIp}`);
        continue;
      }
      out.push(`route ${formatCidr(subnet)} via ${gw}`, `neigh ${gw} ${vtepMac(l)} PERMANENT`, `fdb ${vtepMac(l)} ${l.attrs.publicIp}`);
    }
    return out.sort();
  }

  for (const [i, type] of [[1, 'vxlan'], [2, 'host-gw']] as const) {
    it(`${type}: one peer's lease event lists nothing and touches that peer's objects alone`, async () => {
      const config: BackendConfig = type === 'vxlan' ? vxlanConfig() : { type: 'host-gw' };
      const { backend, own, watch } = await start(i, config);
      const peers = new PeerSet();
      peers.apply(Array.from({ length: 300 }, (_, k): LeaseEvent => ({ type: 'added', lease: peerLease(k, type) })));
      const desired = (full: boolean): Desired => {
        const changed = peers.takeChanged();
        return { generation: peers.generation, network: NETWORK, own, peers: peers.live, ...(full ? {} : { changed }) };
      };
      const first = await backend.reconcile(desired(true), signal);
      expect(first).toMatchObject({ created: type === 'vxlan' ? 900 : 300, failed: [] });

      // Peer 7 changes: a new VtepMAC (vxlan) or public IP (host-gw).
      const before = watch.lists();
      watch.sent.length = 0;
      const old = peerLease(7, type);
      peers.apply([{ type: 'added', lease: type === 'vxlan' ? peerLease(7, type, 1) : peerLease(7, type, 0, 100) }]);
      const r = await backend.reconcile(desired(false), signal);
      expect(watch.lists()).toBe(before);
      if (type === 'vxlan') {
        expect(r).toMatchObject({ created: 1, replaced: 1, deleted: 1, unchanged: 1, failed: [] });
        expect(watch.sent.sort()).toEqual([
          `neighDel fdb ${vtepMac(old)} 198.18.0.27`,
          'neighSet 10.244.0.56 0a:58:01:f4:00:07',
          'neighSet fdb 0a:58:01:f4:00:07 198.18.0.27',
        ]);
      } else {
        expect(r).toMatchObject({ created: 0, replaced: 1, deleted: 0, unchanged: 0, failed: [] });
        expect(watch.sent).toEqual(['routeReplace 10.244.0.56/29']);
      }

      // Peer 8 goes away.
      watch.sent.length = 0;
      peers.apply([{ type: 'removed', lease: peerLease(8, type) }]);
      await backend.reconcile(desired(false), signal);
      expect(watch.lists()).toBe(before);
      expect(watch.sent.sort()).toEqual(
        type === 'vxlan'
          ? ['neighDel 10.244.0.64 0a:58:00:f4:00:08', 'neighDel fdb 0a:58:00:f4:00:08 198.18.0.28', 'routeDel 10.244.0.64/29']
          : ['routeDel 10.244.0.64/29'],
      );
      expect(await kernel(i, type)).toEqual(expected(peers.live.values(), type));
      await backend.close();
    });

    it(`${type}: after bursts of adds, removals and changes, each one run, the kernel is exactly the final lease set`, async () => {
      const config: BackendConfig = type === 'vxlan' ? vxlanConfig() : { type: 'host-gw' };
      const { backend, own, watch } = await start(i, config);
      const peers = new PeerSet();
      const live = new Map<number, Lease>();
      for (let k = 0; k < 300; k++) live.set(k, peerLease(k, type));
      peers.apply([...live.values()].map((lease): LeaseEvent => ({ type: 'added', lease })));
      const desired = (full: boolean): Desired => {
        const changed = peers.takeChanged();
        return { generation: peers.generation, network: NETWORK, own, peers: peers.live, ...(full ? {} : { changed }) };
      };
      await backend.reconcile(desired(true), signal);
      const lists = watch.lists();
      const rand = prng(9);
      for (let burst = 0; burst < 40; burst++) {
        peers.apply(randomBurst(live, rand, burst, { peers: 400, maxEvents: 60 }, (k, version, ipShift) => peerLease(k, type, version, ipShift)));
        const r = await backend.reconcile(desired(false), signal);
        expect(r.failed).toEqual([]);
      }
      expect(watch.lists()).toBe(lists);
      expect(await kernel(i, type)).toEqual(expected(live.values(), type));
      const full = await backend.reconcile(desired(true), signal);
      expect(full).toMatchObject({ created: 0, replaced: 0, deleted: 0, failed: [] });
      await backend.teardown();
      await backend.close();
    });
  }

  it('vxlan: a peer skipped for another peer’s VtepMAC is programmed in the run that frees the MAC', async () => {
    const { backend, own, watch } = await start(1, vxlanConfig());
    const peers = new PeerSet();
    const desired = (full: boolean): Desired => {
      const changed = peers.takeChanged();
      return { generation: peers.generation, network: NETWORK, own, peers: peers.live, ...(full ? {} : { changed }) };
    };
    const a = peerLease(1, 'vxlan');
    const b: Lease = { ...peerLease(2, 'vxlan'), attrs: { ...peerLease(2, 'vxlan').attrs, backendData: a.attrs.backendData } };
    peers.apply([{ type: 'added', lease: a }]);
    await backend.reconcile(desired(true), signal);
    peers.apply([{ type: 'added', lease: b }]);
    const skipped = await backend.reconcile(desired(false), signal);
    expect(skipped).toMatchObject({ created: 0, failed: [] });
    const lists = watch.lists();
    peers.apply([{ type: 'removed', lease: a }]);
    await backend.reconcile(desired(false), signal);
    expect(watch.lists()).toBe(lists);
    expect(await kernel(1, 'vxlan')).toEqual(expected([b], 'vxlan'));
    await backend.teardown();
    await backend.close();
  });
});

/** Peer k of a dual-stack cluster: the IPv4 half as peerLease's, plus fd00:10:244:<k>::/64 with its own VtepMAC. */
function dualLease(k: number, version = 0, ipShift = 0): Lease {
  const v4 = peerLease(k, 'vxlan', version, ipShift);
  const mac6 = `0a:66:${version.toString(16).padStart(2, '0')}:f4:00:${k.toString(16).padStart(2, '0')}`;
  return {
    ...v4,
    ipv6Subnet: parseCidr6(`fd00:10:244:${k.toString(16)}::/64`)!,
    attrs: { ...v4.attrs, publicIpv6: `fd00:198:18::${(0x20 + ((k + ipShift) % 200)).toString(16)}`, backendV6Data: formatVxlanBackendData(1, mac6) },
  };
}

describe.skipIf(!isRoot)('per-peer reconcile in namespaces, dual-stack vxlan', () => {
  let topo: Topology;
  beforeAll(async () => {
    topo = await Topology.create(1, 24, 'ftpp', { ipv6: true });
  });
  afterAll(() => topo?.destroy());

  /** flannel.1 and flannel-v6.1 as `ip` and `bridge` show them, one line per object. */
  async function kernel(): Promise<string[]> {
    const ns = topo.node(1).ns;
    const out: string[] = [];
    for (const [dev, v] of [['flannel.1', '-4'], ['flannel-v6.1', '-6']] as const) {
      for (const r of await topo.ipJson<{ dst: string; gateway?: string }[]>(ns, v, 'route', 'show', 'dev', dev)) if (r.gateway !== undefined) out.push(`route ${r.dst} via ${r.gateway}`);
      for (const n of await topo.ipJson<{ dst: string; lladdr?: string; state: string[] }[]>(ns, v, 'neigh', 'show', 'dev', dev)) if (n.state.includes('PERMANENT')) out.push(`neigh ${n.dst} ${n.lladdr}`);
      for (const f of await topo.fdbJson(ns, dev)) if (f['dst'] !== undefined) out.push(`fdb ${String(f['mac'])} ${String(f['dst'])}`);
    }
    return out.sort();
  }

  function expected(peers: Iterable<Lease>): string[] {
    const out: string[] = [];
    for (const l of peers) {
      const gw = formatIpv4(l.subnet!.ip);
      out.push(`route ${formatCidr(l.subnet!)} via ${gw}`, `neigh ${gw} ${vtepMac(l)}`, `fdb ${vtepMac(l)} ${l.attrs.publicIp}`);
      const gw6 = formatIpv6(l.ipv6Subnet!.ip);
      const mac6 = (JSON.parse(l.attrs.backendV6Data!) as { VtepMAC: string }).VtepMAC;
      out.push(`route ${formatCidr6(l.ipv6Subnet!)} via ${gw6}`, `neigh ${gw6} ${mac6}`, `fdb ${mac6} ${l.attrs.publicIpv6}`);
    }
    return out.sort();
  }

  it('after bursts of adds, removals and changes, each one run, both families hold exactly the final lease set', async () => {
    const node = topo.node(1);
    const watch = observed(node.nl);
    const ext = await selectInterface(node.nl, { ifaces: ['eth0'], families: { ipv4: true, ipv6: true } });
    const backend = createBackend(vxlanConfig(), { nl: watch.nl, ext, network: NETWORK, ipv6Network: parseCidr6('fd00:10:244::/56')!, stored: {}, log: silentLogger() });
    const attrs = await backend.prepare(signal);
    const own: Lease = { subnet: OWN, ipv6Subnet: parseCidr6('fd00:10:244:ff::/64')!, attrs, node: 'node1' };
    await backend.configure(own, signal);
    const peers = new PeerSet();
    const live = new Map<number, Lease>();
    for (let k = 0; k < 150; k++) live.set(k, dualLease(k));
    peers.apply([...live.values()].map((lease): LeaseEvent => ({ type: 'added', lease })));
    const desired = (full: boolean): Desired => {
      const changed = peers.takeChanged();
      return { generation: peers.generation, network: NETWORK, ipv6Network: parseCidr6('fd00:10:244::/56')!, own, peers: peers.live, ...(full ? {} : { changed }) };
    };
    await backend.reconcile(desired(true), signal);
    const lists = watch.lists();
    const rand = prng(11);
    for (let burst = 0; burst < 25; burst++) {
      peers.apply(randomBurst(live, rand, burst, { peers: 200, maxEvents: 30 }, dualLease));
      expect((await backend.reconcile(desired(false), signal)).failed).toEqual([]);
    }
    expect(watch.lists()).toBe(lists);
    expect(await kernel()).toEqual(expected(live.values()));
    expect(await backend.reconcile(desired(true), signal)).toMatchObject({ created: 0, replaced: 0, deleted: 0, failed: [] });
    await backend.teardown();
    await backend.close();
  });
});
