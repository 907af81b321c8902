/**
 * Two-node lab for udp backend tests and benches: namespaces <prefix>-a and <prefix>-b joined
 * by a veth on 198.18.0.0/24, each with a pod namespace (<prefix>-pa, -pb) behind a veth whose
 * node end is cni0 (10.244.<n>.1/24), and a udp forwarder fixture (udp-forwarder.ts) per node.
 * Everything is removed by destroy(), also on failure.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { runIn } from './exec.ts';
import { addVeth, NetnsSet, sysctlIn } from './netns.ts';

export const NODE_BIN = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const FIXTURE = new URL('./udp-forwarder.ts', import.meta.url).pathname;

export interface UdpNode {
  readonly ns: string;
  readonly underlay: string; // 198.18.0.x
  readonly subnet: string; // 10.244.n.0/24
  /** The pod namespace, attached to the node by a veth (node end cni0 = 10.244.n.1). */
  readonly podNs: string;
  readonly pod: string; // 10.244.n.2
  readonly gw: string; // 10.244.n.1
}

export class Fixture {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiters: ((o: Record<string, unknown>) => boolean)[] = [];
  stderr = '';
  constructor(proc: ChildProcessWithoutNullStreams) {
    this.proc = proc;
    proc.stderr.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let o: Record<string, unknown>;
      try { o = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      const i = this.waiters.findIndex((w) => w(o));
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }
  next<K extends string>(key: K, ms = 20_000): Promise<Record<K, unknown>> {
    return new Promise((resolve, reject) => {
      // Removed once answered: a fixture asked for counters many times must not pile up listeners.
      const onExit = (code: number | null) => { clearTimeout(t); reject(new Error(`fixture exited ${code}: ${this.stderr}`)); };
      const t = setTimeout(() => { this.proc.off('exit', onExit); reject(new Error(`fixture: no "${key}" within ${ms} ms; stderr: ${this.stderr}`)); }, ms);
      this.proc.once('exit', onExit);
      this.waiters.push((o) => { if (!(key in o)) return false; clearTimeout(t); this.proc.off('exit', onExit); resolve(o as Record<K, unknown>); return true; });
    });
  }
  async counters(): Promise<Record<string, number>> {
    const p = this.next('counters');
    this.proc.stdin.write('counters\n');
    return (await p).counters as Record<string, number>;
  }
  exited(): Promise<number | null> {
    return this.proc.exitCode !== null ? Promise.resolve(this.proc.exitCode) : new Promise((r) => this.proc.once('exit', (c) => r(c)));
  }
}

export class UdpLab {
  readonly netns: NetnsSet;
  readonly a: UdpNode;
  readonly b: UdpNode;
  private readonly fixtures: Fixture[] = [];

  constructor(tag: string) {
    this.netns = new NetnsSet(tag);
    const ns = (n: string) => this.netns.name(n);
    this.a = { ns: ns('a'), podNs: ns('pa'), underlay: '198.18.0.2', subnet: '10.244.1.0/24', pod: '10.244.1.2', gw: '10.244.1.1' };
    this.b = { ns: ns('b'), podNs: ns('pb'), underlay: '198.18.0.3', subnet: '10.244.2.0/24', pod: '10.244.2.2', gw: '10.244.2.1' };
  }

  get prefix(): string {
    return this.netns.prefix;
  }

  async create(): Promise<void> {
    for (const name of ['a', 'pa', 'b', 'pb']) {
      const ns = await this.netns.add(name);
      for (const k of ['net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.default.rp_filter']) await sysctlIn(ns, k, '0');
    }
    for (const n of [this.a, this.b]) await sysctlIn(n.ns, 'net.ipv4.ip_forward', '1');
    await addVeth({ netns: this.a.ns, name: 'ula', address: `${this.a.underlay}/24` }, { netns: this.b.ns, name: 'ulb', address: `${this.b.underlay}/24` });
    for (const n of [this.a, this.b]) {
      await addVeth({ netns: n.ns, name: 'cni0', address: `${n.gw}/24` }, { netns: n.podNs, name: 'eth0', address: `${n.pod}/24` });
      await runIn(n.podNs, ['ip', 'route', 'add', 'default', 'via', n.gw]);
    }
  }

  dev(n: UdpNode): string {
    return n === this.a ? 'ula' : 'ulb';
  }

  /** Both pods' MTU, as flannel's CNI plugin sets it from subnet.env for the backend in use. */
  async podMtu(mtu: number): Promise<void> {
    for (const n of [this.a, this.b]) await runIn(n.podNs, ['ip', 'link', 'set', 'eth0', 'mtu', String(mtu)]);
  }

  /**
   * The benches' reference: kernel VXLAN between the same two nodes (vx0, 10.244.200.0/24 for
   * the VTEPs, each pod subnet routed via the other VTEP), pods at VXLAN's MTU.
   */
  async kernelVxlanUp(): Promise<void> {
    for (const [n, other, vip, ovip] of [[this.a, this.b, '10.244.200.1', '10.244.200.2'], [this.b, this.a, '10.244.200.2', '10.244.200.1']] as const) {
      await runIn(n.ns, ['ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'local', n.underlay, 'remote', other.underlay, 'dev', this.dev(n), 'dstport', '8472']);
      await runIn(n.ns, ['ip', 'link', 'set', 'vx0', 'mtu', '1450', 'up']);
      await runIn(n.ns, ['ip', 'addr', 'add', `${vip}/24`, 'dev', 'vx0']);
      await runIn(n.ns, ['ip', 'route', 'add', other.subnet, 'via', ovip, 'dev', 'vx0']);
    }
    await this.podMtu(1450);
  }

  async kernelVxlanDown(): Promise<void> {
    for (const n of [this.a, this.b]) await runIn(n.ns, ['ip', 'link', 'del', 'vx0']);
  }

  async startForwarder(n: UdpNode, extra: string[] = []): Promise<Fixture> {
    const other = n === this.a ? this.b : this.a;
    const proc = spawn('ip', ['netns', 'exec', n.ns, NODE_BIN, FIXTURE, '--iface', this.dev(n), '--addr', n.underlay, '--own', n.subnet,
      '--peer', `${other.subnet}=${other.underlay}`, ...extra, ...(process.env.FTUDP_EXTRA ?? '').split(' ').filter(Boolean)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const f = new Fixture(proc);
    this.fixtures.push(f);
    await f.next('ready');
    return f;
  }

  async destroy(): Promise<void> {
    for (const f of this.fixtures) if (f.proc.exitCode === null) f.proc.kill('SIGKILL');
    await this.netns.removeAll();
  }
}
