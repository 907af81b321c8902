/**
 * Where does a 64-byte UDP flood go? udp backend vs kernel VXLAN, flood only, alternating rounds:
 *   node bench/udp-flood.ts [seconds=5] [rounds=5] [variants=udp,vxlan]
 * Variants run in turn each round: `vxlan`, `udp`, or `udp:K=V:…` (environment for that round's
 * forwarders and this script, e.g. `udp:FLOOD_TXQ=5000` sets flannel0's txqueuelen,
 * `udp:FTUDP_EXTRA=--no-yield` turns the receive loop's yield off). Extra
 * fixture flags for the udp rounds come from FTUDP_EXTRA (as for the lab). Per round it
 * prints the iperf3 sent and received rates and where the difference was dropped — flannel0's tx
 * drops (the TUN ring), the forwarders' socket drops and counters, the receiving pod's UDP
 * RcvbufErrors — and the CPU seconds of each process (iperf3 client and server, both
 * forwarders), sampled from /proc while they run. FLOOD_MODE=tcp runs a TCP stream instead
 * (received Mbit/s), to check that a change for the flood does not cost TCP. It is the diagnostic twin of
 * udp-throughput.ts; the medians at the end compare received rates of the same run.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { outputIn, runIn } from '../lab/harness/exec.ts';
import { UdpLab, type Fixture, type UdpNode } from '../lab/harness/udp-lab.ts';

const SECS = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 5);
const WHICH = process.argv[4] ?? 'both';
const lab = new UdpLab('ftudpf');
const HZ = 100;

function procJiffies(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return NaN;
  }
}

/** Time spent runnable but waiting for a CPU (schedstat field 2), seconds. */
function runDelay(pid: number): number {
  try { return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9; } catch { return NaN; }
}

async function snmpUdp(ns: string): Promise<Record<string, number>> {
  const lines = (await outputIn(ns, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Udp:'));
  const k = lines[0]!.split(/\s+/).slice(1), v = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(k.map((x, i) => [x, v[i]!]));
}

async function devStat(ns: string, dev: string, stat: string): Promise<number> {
  return Number((await outputIn(ns, ['cat', `/sys/class/net/${dev}/statistics/${stat}`], { allowFailure: true })).trim()) || 0;
}

/** Sum of the "dropped" column of /proc/net/softnet_stat (backlog overflow), all CPUs. */
function softnetDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((a, l) => a + parseInt(l.split(' ')[1]!, 16), 0);
}

/** Runs a process to completion, sampling its CPU jiffies every 100 ms (the last sample before exit). */
function runSampled(args: string[]): { done: Promise<string>; pid: () => number; jiffies: () => number; wait: () => number } {
  const p = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let j = 0, w = 0;
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const t = setInterval(() => { const v = procJiffies(p.pid!); if (!Number.isNaN(v)) j = v; const d = runDelay(p.pid!); if (!Number.isNaN(d)) w = d; }, 100);
  const done = new Promise<string>((r) => p.once('exit', () => { clearInterval(t); r(out); }));
  return { done, pid: () => p.pid!, jiffies: () => j, wait: () => w };
}

interface Flood { sent: number; recv: number; cpu: Record<string, number>; drops: Record<string, number> }

async function flood(fwd: Fixture[]): Promise<Flood> {
  const a: UdpNode = lab.a, b: UdpNode = lab.b;
  const s0 = await snmpUdp(b.podNs), n0 = await snmpUdp(b.ns), sd0 = softnetDrops();
  const tx0 = await devStat(a.ns, 'flannel0', 'tx_dropped');
  const f0 = fwd.map((f) => procJiffies(f.proc.pid!)), w0 = fwd.map((f) => runDelay(f.proc.pid!));
  const c0 = await Promise.all(fwd.map((f) => f.counters()));
  const srv = runSampled(['netns', 'exec', b.podNs, 'iperf3', '-s', '-1', '-B', b.pod]);
  await new Promise((r) => setTimeout(r, 400));
  const tcp = process.env.FLOOD_MODE === 'tcp';
  const cli = runSampled(['netns', 'exec', a.podNs, 'iperf3', '-c', b.pod, '-t', String(SECS), '-J', ...(tcp ? [] : ['-u', '-b', '0', '-l', '64'])]);
  const out = await cli.done;
  await Promise.race([srv.done, new Promise((r) => setTimeout(r, 3000))]);
  const f1 = fwd.map((f) => procJiffies(f.proc.pid!)), w1 = fwd.map((f) => runDelay(f.proc.pid!));
  const c1 = await Promise.all(fwd.map((f) => f.counters()));
  const s1 = await snmpUdp(b.podNs), n1 = await snmpUdp(b.ns), sd1 = softnetDrops();
  const tx1 = await devStat(a.ns, 'flannel0', 'tx_dropped');
  const end = (JSON.parse(out) as { end: { sum: { packets: number; lost_packets: number; seconds: number }; sum_received?: { bits_per_second: number } } }).end;
  const sum = end.sum;
  const cpu: Record<string, number> = { client: cli.jiffies() / HZ, server: srv.jiffies() / HZ };
  if (fwd.length === 2) { cpu.fwdA = (f1[0]! - f0[0]!) / HZ; cpu.fwdB = (f1[1]! - f0[1]!) / HZ; }
  // Seconds runnable but not running: who starves whom.
  cpu.waitClient = cli.wait();
  cpu.waitServer = srv.wait();
  if (fwd.length === 2) { cpu.waitA = w1[0]! - w0[0]!; cpu.waitB = w1[1]! - w0[1]!; }
  const drops: Record<string, number> = {
    podRcvbuf: s1.RcvbufErrors! - s0.RcvbufErrors!,
    podInDgrams: s1.InDatagrams! - s0.InDatagrams!,
    nodeBRcvbuf: n1.RcvbufErrors! - n0.RcvbufErrors!,
    softnet: sd1 - sd0,
  };
  if (fwd.length === 2) {
    drops.tunTxDrop = tx1 - tx0;
    for (const k of ['tunReads', 'txPackets', 'dropSend']) drops[`A.${k}`] = c1[0]![k]! - c0[0]![k]!;
    for (const k of ['rxPackets', 'tunWrites', 'dropTunWrite']) drops[`B.${k}`] = c1[1]![k]! - c0[1]![k]!;
  }
  // FLOOD_MODE=tcp: a TCP stream instead, `recv` in Mbit/s received (to check that a flood change costs TCP nothing).
  if (tcp) return { sent: 0, recv: end.sum_received!.bits_per_second / 1e6, cpu, drops };
  return { sent: sum.packets / sum.seconds / 1000, recv: (sum.packets - sum.lost_packets) / sum.seconds / 1000, cpu, drops };
}

async function udpRound(): Promise<Flood> {
  const fs: Fixture[] = [await lab.startForwarder(lab.a), await lab.startForwarder(lab.b)];
  await lab.podMtu(1472);
  if (process.env.FLOOD_TXQ) for (const n of [lab.a, lab.b]) await runIn(n.ns, ['ip', 'link', 'set', 'flannel0', 'txqueuelen', process.env.FLOOD_TXQ]);
  try {
    return await flood(fs);
  } finally {
    for (const f of fs) { const d = f.next('closed'); f.proc.stdin.write('teardown\n'); await d; await f.exited(); }
  }
}

async function vxlanRound(): Promise<Flood> {
  await lab.kernelVxlanUp();
  try {
    return await flood([]);
  } finally {
    await lab.kernelVxlanDown();
  }
}

const med = (v: number[]) => { const s = [...v].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const fmt = (r: Flood) => `sent ${r.sent.toFixed(0)} recv ${r.recv.toFixed(0)} kpps | cpu ${Object.entries(r.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' ')} | ${Object.entries(r.drops).map(([k, v]) => `${k} ${v}`).join(' ')}`;

/** `udp`, `vxlan`, or `udp:K=V:K=V` (environment for the forwarders of that variant). */
const variants = (WHICH === 'both' ? 'udp,vxlan' : WHICH).split(',');

async function runVariant(v: string): Promise<Flood> {
  if (v === 'vxlan') return vxlanRound();
  const saved = { ...process.env };
  for (const kv of v.split(':').slice(1)) { const [k, val] = kv.split('='); process.env[k!] = val!; }
  try { return await udpRound(); } finally { process.env = saved; }
}

try {
  await lab.create();
  const res = new Map<string, Flood[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) { const x = await runVariant(v); res.get(v)!.push(x); console.log(`r${r + 1} ${v.padEnd(10)} ${fmt(x)}`); }
  }
  const ref = res.get('vxlan');
  for (const [v, xs] of res) {
    const m = med(xs.map((x) => x.recv));
    const ratio = ref && v !== 'vxlan' ? ` = ${((m / med(ref.map((x) => x.recv))) * 100).toFixed(0)}% of vxlan; per round ${xs.map((x, i) => ((x.recv / ref[i]!.recv) * 100).toFixed(0) + '%').join(' ')}` : '';
    console.log(`median ${v}: received ${m.toFixed(0)} kpps (sent ${med(xs.map((x) => x.sent)).toFixed(0)})${ratio}`);
  }
} finally {
  await lab.destroy();
}
