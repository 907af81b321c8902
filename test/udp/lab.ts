/**
 * Two-node lab for udp backend tests and benches: namespaces <prefix>a and <prefix>b joined
 * by a veth on 198.18.0.0/24, each with a "pod" address on a dummy cni0 (10.244.<n>.1/24),
 * and a udp forwarder fixture per node. Everything is removed by destroy(), also on failure.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export const NODE_BIN = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const FIXTURE = new URL('./node-fixture.ts', import.meta.url).pathname;

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; timeout?: number } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeout ?? 60_000 });
  } catch (e) {
    if (opts.allowFail) return `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
    throw e;
  }
}

export function inNs(ns: string, cmd: string, args: string[], opts: { allowFail?: boolean; timeout?: number } = {}): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export interface LabNode {
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
      const t = setTimeout(() => reject(new Error(`fixture: no "${key}" within ${ms} ms; stderr: ${this.stderr}`)), ms);
      this.proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`fixture exited ${code}: ${this.stderr}`)); });
      this.waiters.push((o) => { if (!(key in o)) return false; clearTimeout(t); resolve(o as Record<K, unknown>); return true; });
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

export class Lab {
  readonly prefix: string;
  readonly a: LabNode;
  readonly b: LabNode;
  private readonly fixtures: Fixture[] = [];

  constructor(tag: string) {
    this.prefix = `${tag}-${process.pid}-`;
    this.a = { ns: `${this.prefix}a`, podNs: `${this.prefix}pa`, underlay: '198.18.0.2', subnet: '10.244.1.0/24', pod: '10.244.1.2', gw: '10.244.1.1' };
    this.b = { ns: `${this.prefix}b`, podNs: `${this.prefix}pb`, underlay: '198.18.0.3', subnet: '10.244.2.0/24', pod: '10.244.2.2', gw: '10.244.2.1' };
  }

  create(): void {
    for (const n of [this.a, this.b]) {
      for (const ns of [n.ns, n.podNs]) {
        sh('ip', ['netns', 'add', ns]);
        inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
        for (const k of ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) inNs(ns, 'sysctl', ['-qw', k]);
      }
      inNs(n.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    }
    sh('ip', ['link', 'add', 'ula', 'netns', this.a.ns, 'type', 'veth', 'peer', 'name', 'ulb', 'netns', this.b.ns]);
    for (const [n, dev] of [[this.a, 'ula'], [this.b, 'ulb']] as const) {
      inNs(n.ns, 'ip', ['addr', 'add', `${n.underlay}/24`, 'dev', dev]);
      inNs(n.ns, 'ip', ['link', 'set', dev, 'up']);
      sh('ip', ['link', 'add', 'cni0', 'netns', n.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.podNs]);
      inNs(n.ns, 'ip', ['addr', 'add', `${n.gw}/24`, 'dev', 'cni0']);
      inNs(n.ns, 'ip', ['link', 'set', 'cni0', 'up']);
      inNs(n.podNs, 'ip', ['addr', 'add', `${n.pod}/24`, 'dev', 'eth0']);
      inNs(n.podNs, 'ip', ['link', 'set', 'eth0', 'up']);
      inNs(n.podNs, 'ip', ['route', 'add', 'default', 'via', n.gw]);
    }
  }

  dev(n: LabNode): string {
    return n === this.a ? 'ula' : 'ulb';
  }

  /** Both pods' MTU, as flannel's CNI plugin sets it from subnet.env for the backend in use. */
  podMtu(mtu: number): void {
    for (const n of [this.a, this.b]) inNs(n.podNs, 'ip', ['link', 'set', 'eth0', 'mtu', String(mtu)]);
  }

  /**
   * The benches' reference: kernel VXLAN between the same two nodes (vx0, 10.244.200.0/24 for
   * the VTEPs, each pod subnet routed via the other VTEP), pods at VXLAN's MTU.
   */
  kernelVxlanUp(): void {
    for (const [n, other, vip, ovip] of [[this.a, this.b, '10.244.200.1', '10.244.200.2'], [this.b, this.a, '10.244.200.2', '10.244.200.1']] as const) {
      inNs(n.ns, 'ip', ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'local', n.underlay, 'remote', other.underlay, 'dev', this.dev(n), 'dstport', '8472']);
      inNs(n.ns, 'ip', ['link', 'set', 'vx0', 'mtu', '1450', 'up']);
      inNs(n.ns, 'ip', ['addr', 'add', `${vip}/24`, 'dev', 'vx0']);
      inNs(n.ns, 'ip', ['route', 'add', other.subnet, 'via', ovip, 'dev', 'vx0']);
    }
    this.podMtu(1450);
  }

  kernelVxlanDown(): void {
    for (const n of [this.a, this.b]) inNs(n.ns, 'ip', ['link', 'del', 'vx0']);
  }

  async startForwarder(n: LabNode, extra: string[] = []): Promise<Fixture> {
    const other = n === this.a ? this.b : this.a;
    const proc = spawn('ip', ['netns', 'exec', n.ns, NODE_BIN, FIXTURE, '--iface', this.dev(n), '--addr', n.underlay, '--own', n.subnet,
      '--peer', `${other.subnet}=${other.underlay}`, ...extra, ...(process.env.FTUDP_EXTRA ?? '').split(' ').filter(Boolean)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const f = new Fixture(proc);
    this.fixtures.push(f);
    await f.next('ready');
    return f;
  }

  destroy(): void {
    for (const f of this.fixtures) if (f.proc.exitCode === null) f.proc.kill('SIGKILL');
    for (const n of [this.a, this.b]) for (const ns of [n.podNs, n.ns]) sh('ip', ['netns', 'del', ns], { allowFail: true });
  }
}
