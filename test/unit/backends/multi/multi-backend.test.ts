import { describe, expect, it } from 'vitest';
import type { Backend, Desired, ReconcileReport } from '../../../../src/backends/backend.ts';
import type { BackendContext } from '../../../../src/backends/context.ts';
import { MultiBackend } from '../../../../src/backends/multi/multi-backend.ts';
import type { BackendConfig } from '../../../../src/config/types.ts';
import { parseCidr } from '../../../../src/ip/ipv4.ts';
import type { Link } from '../../../../src/netlink/types.ts';
import { silentLogger } from '../../../../src/observe/log.ts';
import type { Lease, LeaseAttrs } from '../../../../src/subnet/lease.ts';

/** What the composite did to each backend, in order. */
type Call = string;

class FakeBackend implements Backend {
  readonly type: string;
  readonly mtu: number;
  readonly calls: Call[];
  failPrepare: string | undefined;
  constructor(cfg: BackendConfig, calls: Call[], failPrepare?: string) {
    this.type = cfg.type;
    this.mtu = { vxlan: 1450, 'host-gw': 1500, udp: 1472 }[cfg.type];
    this.calls = calls;
    this.failPrepare = failPrepare;
  }
  async prepare(): Promise<LeaseAttrs> {
    this.calls.push(`${this.type} prepare`);
    if (this.failPrepare !== undefined) throw new Error(this.failPrepare);
    return { backendType: this.type === 'udp' ? '' : this.type, publicIp: '198.18.0.1', backendData: this.type === 'vxlan' ? '{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}' : 'null' };
  }
  async configure(own: Lease): Promise<void> {
    this.calls.push(`${this.type} configure ${own.node}`);
  }
  async reconcile(d: Desired): Promise<ReconcileReport> {
    const peers = [...d.peers.values()].map((l) => `${l.node}:${l.attrs.backendType || 'udp'}`).join(',');
    const changed = d.changed === undefined ? '' : ` changed [${[...d.changed].join(',')}]`;
    this.calls.push(`${this.type} reconcile [${peers}] foreign [${[...(d.foreignRoutes ?? [])].join(',')}] senders ${d.senders?.size ?? 'none'}${changed}`);
    return { generation: d.generation, created: d.peers.size, replaced: 0, deleted: 0, unchanged: 0, failed: [], ms: 0, owned: { route: d.peers.size } };
  }
  watchDrift(): void {}
  async teardown(foreign?: ReadonlySet<string>): Promise<void> {
    this.calls.push(`${this.type} teardown keeping [${[...(foreign ?? [])].join(',')}]`);
  }
  async close(): Promise<void> {
    this.calls.push(`${this.type} close`);
  }
}

const own: Lease = { subnet: parseCidr('10.244.1.0/24')!, attrs: { backendType: 'vxlan' }, node: 'me' };
const peer = (n: number, type: string): [string, Lease] => [
  `10.244.${n}.0/24`,
  { subnet: parseCidr(`10.244.${n}.0/24`)!, attrs: { backendType: type, publicIp: `198.18.0.${n}`, backendData: 'null' }, node: `node${n}` },
];
const VXLAN: BackendConfig = { type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false };
const HOSTGW: BackendConfig = { type: 'host-gw' };

function setup(opts: { configured?: BackendConfig; links?: Link[]; stored?: { backendType?: string }; failPrepare?: Partial<Record<string, string>> } = {}) {
  const calls: Call[] = [];
  let now = 1_000_000;
  const ctx = {
    nl: { linkList: async () => opts.links ?? [] },
    ext: { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '198.18.0.1', extAddr: '198.18.0.1' },
    network: parseCidr('10.244.0.0/16')!,
    stored: opts.stored ?? {},
    log: silentLogger(),
  } as unknown as BackendContext;
  const multi = new MultiBackend({
    ctx,
    configured: opts.configured ?? VXLAN,
    graceMs: 60_000,
    create: (cfg) => new FakeBackend(cfg, calls, opts.failPrepare?.[cfg.type]),
    now: () => now,
  });
  let gen = 0;
  const signal = new AbortController().signal;
  const run = (peers: [string, Lease][], changed?: string[]) =>
    multi.reconcile({ generation: ++gen, network: parseCidr('10.244.0.0/16')!, own, peers: new Map(peers), ...(changed === undefined ? {} : { changed: new Set(changed) }) }, signal);
  const drain = () => calls.splice(0);
  return { multi, calls, drain, run, signal, advance: (ms: number) => (now += ms) };
}

describe('MultiBackend', () => {
  it('reaches every peer with the backend it advertises, one instance per type, each told what the others route', async () => {
    const t = setup();
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    t.drain();
    const r = await t.run([peer(2, 'vxlan'), peer(3, 'host-gw'), peer(4, '')]);
    expect(t.drain()).toEqual([
      'host-gw prepare',
      'host-gw configure me',
      'udp prepare',
      'udp configure me',
      'host-gw reconcile [node3:host-gw] foreign [10.244.2.0/24] senders 3',
      'udp reconcile [node4:udp] foreign [10.244.2.0/24,10.244.3.0/24] senders 3',
      'vxlan reconcile [node2:vxlan] foreign [10.244.3.0/24] senders 3',
    ]);
    expect(r).toMatchObject({ created: 3, failed: [], owned: { route: 3 } });
    expect(t.multi.view()).toEqual({
      advertised: 'vxlan',
      backends: [
        { type: 'vxlan', roles: ['advertised', 'peers'], peers: 1 },
        { type: 'host-gw', roles: ['peers'], peers: 1 },
        { type: 'udp', roles: ['peers'], peers: 1 },
      ],
    });
  });

  it('passes lease events on a settled node to its one backend as changed peers; a peer changing backend makes a full run', async () => {
    const t = setup();
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    await t.run([peer(2, 'vxlan'), peer(3, 'vxlan')]);
    t.drain();
    await t.run([peer(2, 'vxlan'), peer(3, 'vxlan'), peer(5, 'vxlan')], ['10.244.5.0/24']);
    await t.run([peer(2, 'vxlan'), peer(5, 'vxlan')], ['10.244.3.0/24']);
    expect(t.drain()).toEqual([
      'vxlan reconcile [node2:vxlan,node3:vxlan,node5:vxlan] foreign [] senders 3 changed [10.244.5.0/24]',
      'vxlan reconcile [node2:vxlan,node5:vxlan] foreign [] senders 2 changed [10.244.3.0/24]',
    ]);
    expect(t.multi.view().backends).toEqual([{ type: 'vxlan', roles: ['advertised', 'peers'], peers: 2 }]);
    await t.run([peer(2, 'vxlan'), peer(5, 'host-gw')], ['10.244.5.0/24']);
    expect(t.drain()).toEqual([
      'host-gw prepare',
      'host-gw configure me',
      'host-gw reconcile [node5:host-gw] foreign [10.244.2.0/24] senders 2',
      'vxlan reconcile [node2:vxlan,node5:vxlan] foreign [10.244.5.0/24] senders 2',
    ]);
  });

  it('makes before it breaks: a peer moving to another backend is added there; the old one lets it go a moment later', async () => {
    const t = setup();
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    await t.run([peer(2, 'vxlan'), peer(3, 'host-gw')]);
    t.drain();
    await t.run([peer(2, 'host-gw'), peer(3, 'host-gw')]);
    // vxlan still holds node2's old lease (its neighbour and fdb entry stay), not its route.
    expect(t.drain()).toEqual([
      'host-gw reconcile [node2:host-gw,node3:host-gw] foreign [] senders 2',
      'vxlan reconcile [node2:vxlan] foreign [10.244.2.0/24,10.244.3.0/24] senders 2',
    ]);
    const vxlanRun = () => t.drain().find((c) => c.startsWith('vxlan'));
    t.advance(999);
    await t.run([peer(2, 'host-gw'), peer(3, 'host-gw')]);
    expect(vxlanRun()).toBe('vxlan reconcile [node2:vxlan] foreign [10.244.2.0/24,10.244.3.0/24] senders 2');
    t.advance(1);
    await t.run([peer(2, 'host-gw'), peer(3, 'host-gw')]);
    expect(vxlanRun()).toBe('vxlan reconcile [] foreign [10.244.2.0/24,10.244.3.0/24] senders 2');
    await t.run([peer(2, 'host-gw'), peer(3, 'host-gw')]);
    expect(vxlanRun()).toBe('vxlan reconcile [] foreign [10.244.2.0/24,10.244.3.0/24] senders 2');
  });

  it('retires a backend no peer advertises any more, keeping the routes the remaining backends program', async () => {
    const t = setup({ configured: HOSTGW });
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    await t.run([peer(2, 'vxlan'), peer(3, 'host-gw')]);
    t.drain();
    await t.run([peer(2, 'host-gw'), peer(3, 'host-gw')]);
    // The last vxlan peer moved: vxlan stays for it a moment (make before break), then goes.
    expect(t.drain()).toEqual([
      'host-gw reconcile [node2:host-gw,node3:host-gw] foreign [] senders 2',
      'vxlan reconcile [node2:vxlan] foreign [10.244.2.0/24,10.244.3.0/24] senders 2',
    ]);
    t.advance(1000);
    await t.run([peer(2, 'host-gw'), peer(3, 'host-gw')]);
    expect(t.drain()).toEqual([
      'host-gw reconcile [node2:host-gw,node3:host-gw] foreign [] senders 2',
      'vxlan teardown keeping [10.244.2.0/24,10.244.3.0/24]',
      'vxlan close',
    ]);
    expect(t.multi.view().backends.map((b) => b.type)).toEqual(['host-gw']);
  });

  it('switches: the new backend up first, then published; the old one receives until no peer may still send with it', async () => {
    const t = setup();
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    await t.run([peer(2, 'vxlan')]);
    t.drain();

    const attrs = await t.multi.switchTo({ type: 'udp', port: 8285 }, t.signal);
    expect(attrs.backendType).toBe('');
    expect(t.drain()).toEqual(['udp prepare', 'udp configure me']);
    // Before the annotation is published, a run keeps the new backend (it is about to be advertised).
    await t.run([peer(2, 'vxlan')]);
    expect(t.multi.view().backends.map((b) => [b.type, b.roles])).toEqual([['vxlan', ['advertised', 'peers']], ['udp', ['advertised']]]);
    t.multi.advertised({ type: 'udp', port: 8285 });
    expect(t.multi.type).toBe('udp');
    expect(t.multi.mtu).toBe(1472);
    t.drain();

    // The peer still advertises vxlan: vxlan stays long after the grace period.
    t.advance(120_000);
    await t.run([peer(2, 'vxlan')]);
    expect(t.multi.view().backends.map((b) => [b.type, b.roles])).toEqual([['vxlan', ['peers']], ['udp', ['advertised']]]);

    // The peer switches too: vxlan keeps draining until this node's grace period is over.
    t.multi.advertised(VXLAN);
    t.multi.advertised({ type: 'udp', port: 8285 });
    await t.run([peer(2, '')]);
    expect(t.multi.view().backends.find((b) => b.type === 'vxlan')).toEqual({ type: 'vxlan', roles: ['draining'], peers: 0, drainEndsAt: 1_000_000 + 120_000 + 60_000 });
    t.drain();
    t.advance(59_999);
    await t.run([peer(2, '')]);
    expect(t.drain().some((c) => c.startsWith('vxlan teardown'))).toBe(false);
    t.advance(1);
    await t.run([peer(2, '')]);
    expect(t.drain()).toEqual(['udp reconcile [node2:udp] foreign [] senders 1', 'vxlan teardown keeping []', 'vxlan close']);
  });

  it('a switch whose backend cannot come up keeps the running one advertised and removes nothing of it', async () => {
    const t = setup({ failPrepare: { udp: 'cannot bind UDP 198.18.0.1:8285: EADDRINUSE' } });
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    t.drain();
    await expect(t.multi.switchTo({ type: 'udp', port: 8285 }, t.signal)).rejects.toThrow('EADDRINUSE');
    expect(t.drain()).toEqual(['udp prepare', 'udp teardown keeping []', 'udp close']);
    expect(t.multi.type).toBe('vxlan');
  });

  it('leaves the peers of a backend that cannot run here unprogrammed, says so, and tries again on later runs', async () => {
    const t = setup({ failPrepare: { udp: 'udp backend: carries IPv4 only' } });
    await t.multi.prepare(t.signal);
    await t.multi.configure(own, t.signal);
    t.drain();
    const r = await t.run([peer(2, 'vxlan'), peer(4, '')]);
    expect(r.failed).toEqual([]);
    expect(t.drain()).toEqual(['udp prepare', 'udp teardown keeping [10.244.2.0/24]', 'udp close', 'vxlan reconcile [node2:vxlan] foreign [] senders 2']);
    await t.run([peer(2, 'vxlan'), peer(4, '')]);
    expect(t.drain()[0]).toBe('udp prepare');
    expect(t.multi.view().backends.map((b) => b.type)).toEqual(['vxlan']);
  });

  it('after a restart keeps receiving the way its own annotation and a leftover flannel.1 say peers may still send, then lets them go', async () => {
    const flannel1: Link = { index: 5, name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: true, lowerUp: true, mac: '02:00:00:00:00:01', vxlan: { vni: 1, port: 8472, learning: false, gbp: false } };
    const t = setup({ configured: HOSTGW, links: [flannel1], stored: { backendType: '' } });
    await t.multi.prepare(t.signal);
    expect(t.drain()).toEqual(['host-gw prepare', 'udp prepare', 'vxlan prepare']);
    await t.multi.configure(own, t.signal);
    await t.run([peer(2, 'host-gw')]);
    expect(t.multi.view().backends.map((b) => [b.type, b.roles])).toEqual([['vxlan', ['draining']], ['host-gw', ['advertised', 'peers']], ['udp', ['draining']]]);
    t.drain();
    t.advance(60_000);
    await t.run([peer(2, 'host-gw')]);
    expect(t.drain().filter((c) => c.includes('teardown'))).toEqual(['vxlan teardown keeping [10.244.2.0/24]', 'udp teardown keeping [10.244.2.0/24]']);
  });
});
