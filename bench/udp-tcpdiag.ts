/**
 * Why does TCP through the udp backend swing? TCP-only diagnostic, alternating rounds:
 *   node bench/udp-tcpdiag.ts [seconds=5] [rounds=3] [variants=udp,vxlan]
 * Variants: `vxlan`, `udp`, or `udp:K=V:…` (environment for that round, e.g. FTUDP_EXTRA=--no-yield).
 * Per round: received Gbit/s, retransmits, per-second rates (min/max), forwarder counter deltas
 * (TSO sizes = txPackets/tunReads, coalesced run length = rxPackets/tunWrites), CPU and
 * run-queue wait per process, forwarder user/sys split and sleeps, system-wide /proc/stat deltas
 * (idle per CPU, softirq, and steal: the hypervisor's share), ss -ti of the sender (SS=1), and
 * the pods' TcpExt reordering/OFO/loss counters. Variant knobs: PIN=1 pins forwarder a/b to
 * CPU 0/1, PIN=2 also the iperf3 server/client to CPU 0/1; HOG=1 runs a busy loop on CPU 1
 * (a stand-in for lost CPU); IPERF_EXTRA adds iperf3 flags (e.g. `-C cubic`);
 * FLANNEL_NATIVE_ADDON=<path> runs the forwarders on another build of the addon (A/B).
 * Finding (2 vCPUs): the udp figure tracks the CPU the forwarders get; its run-to-run swing
 * follows /proc/stat steal (steal 2.2 s of 10 CPU-s → 2.6 Gbit/s, ~0 → 4.6–5.2).
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { outputIn, run } from '../lab/harness/exec.ts';
import { UdpLab, type Fixture } from '../lab/harness/udp-lab.ts';

const SECS = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 3);
const variants = (process.argv[4] ?? 'udp,vxlan').split(',');
const lab = new UdpLab('ftudpd');
const HZ = 100;

const ust = (pid: number): number[] => { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return [Number(f[11]), Number(f[12])]; } catch { return [NaN, NaN]; } };
const jif = (pid: number) => { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); } catch { return NaN; } };
const wait = (pid: number) => { try { return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9; } catch { return NaN; } };
async function snmp(ns: string, prefix: string): Promise<Record<string, number>> {
  const lines = (await outputIn(ns, ['cat', '/proc/net/netstat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith(prefix + ':'));
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const k = lines[i]!.split(/\s+/).slice(1), v = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
    k.forEach((x, j) => { out[x] = v[j]!; });
  }
  return out;
}
const statCpu = () => readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
/** Idle jiffies per CPU. */
const cpuIdle = (): number[] => readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => Number(l.split(/\s+/)[4]));
/** Voluntary context switches (sleeps) of a process, all threads. */
const vcsw = (pid: number): number => { try { return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]); } catch { return NaN; } };
const ksoft = (): number[] => [0, 1].map((c) => { try { const pid = readFileSync(`/proc/${ksoftPids[c]}/stat`, 'utf8'); const f = pid.split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); } catch { return 0; } });
const ksoftPids: number[] = [];
for (const c of [0, 1]) ksoftPids.push(Number((await run(['pgrep', '-x', `ksoftirqd/${c}`], { allowFailure: true })).stdout.trim()));
const KEYS = ['TCPOFOQueue', 'TCPSACKReorder', 'TCPTSReorder', 'TCPRenoReorder', 'TCPLossProbes', 'TCPFastRetrans', 'TCPSlowStartRetrans', 'TCPTimeouts', 'TCPDSACKRecv', 'TCPSpuriousRTOs', 'TCPRcvQDrop', 'TCPBacklogDrop', 'TCPOFODrop', 'PruneCalled', 'TCPRcvCollapsed', 'TCPDelivered'];

/** PIN=2: also the iperf3 server on CPU 0 (with forwarder a) and the client on CPU 1 (with b). */
function sampled(args: string[], cpu?: number) {
  const pin = process.env.PIN === '2' && cpu !== undefined;
  const p = spawn(pin ? 'taskset' : 'ip', pin ? ['-c', String(cpu), 'ip', ...args] : args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', j = 0, w = 0;
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const t = setInterval(() => { const v = jif(p.pid!); if (!Number.isNaN(v)) j = v; const d = wait(p.pid!); if (!Number.isNaN(d)) w = d; }, 100);
  const done = new Promise<string>((r) => p.once('exit', () => { clearInterval(t); r(out); }));
  return { done, j: () => j, w: () => w };
}

async function tcp(fwd: Fixture[]): Promise<string> {
  const pa0 = await snmp(lab.a.podNs, 'TcpExt'), pb0 = await snmp(lab.b.podNs, 'TcpExt');
  const f0 = fwd.map((f) => jif(f.proc.pid!)), w0 = fwd.map((f) => wait(f.proc.pid!));
  const c0 = await Promise.all(fwd.map((f) => f.counters()));
  const st0 = statCpu(), k0 = ksoft(), i0 = cpuIdle(), v0 = fwd.map((f) => vcsw(f.proc.pid!)), u0 = fwd.map((f) => ust(f.proc.pid!));
  const srv = sampled(['netns', 'exec', lab.b.podNs, 'iperf3', '-s', '-1', '-B', lab.b.pod], 0);
  await new Promise((r) => setTimeout(r, 400));
  const cli = sampled(['netns', 'exec', lab.a.podNs, 'iperf3', '-c', lab.b.pod, '-t', String(SECS), '-J', ...(process.env.IPERF_EXTRA ?? '').split(' ').filter(Boolean)], 1);
  let ssOut = '';
  if (process.env.SS === '1') setTimeout(async () => { ssOut = (await outputIn(lab.a.podNs, ['ss', '-tinm', 'dst', lab.b.pod])).split('\n').filter((l) => l.includes('limited') || l.includes('skmem')).join(' | '); }, SECS * 500);
  const out = await cli.done;
  const st1 = statCpu(), k1 = ksoft(), i1 = cpuIdle(), v1 = fwd.map((f) => vcsw(f.proc.pid!)), u1 = fwd.map((f) => ust(f.proc.pid!));
  await Promise.race([srv.done, new Promise((r) => setTimeout(r, 3000))]);
  const f1 = fwd.map((f) => jif(f.proc.pid!)), w1 = fwd.map((f) => wait(f.proc.pid!));
  const c1 = await Promise.all(fwd.map((f) => f.counters()));
  const pa1 = await snmp(lab.a.podNs, 'TcpExt'), pb1 = await snmp(lab.b.podNs, 'TcpExt');
  const r = JSON.parse(out) as any;
  const ivs = (r.intervals as any[]).map((i) => (i.sum.bits_per_second / 1e9).toFixed(1)).join(' ');
  let s = `${(r.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gb/s retr ${r.end.sum_sent.retransmits} per-s [${ivs}] cwnd@end ${r.intervals.at(-1).streams[0].snd_cwnd} rtt ${r.end.streams[0].sender.mean_rtt}us\n`;
  s += `   cpu client ${(cli.j() / HZ).toFixed(2)} (wait ${cli.w().toFixed(2)}) server ${(srv.j() / HZ).toFixed(2)} (wait ${srv.w().toFixed(2)})`;
  if (fwd.length === 2) {
    s += ` fwdA ${((f1[0]! - f0[0]!) / HZ).toFixed(2)} (wait ${(w1[0]! - w0[0]!).toFixed(2)}) fwdB ${((f1[1]! - f0[1]!) / HZ).toFixed(2)} (wait ${(w1[1]! - w0[1]!).toFixed(2)})\n`;
    const d = (i: number) => Object.fromEntries(Object.keys(c1[i]!).map((k) => [k, c1[i]![k]! - c0[i]![k]!]).filter(([, v]) => v !== 0));
    const A = d(0), B = d(1);
    s += `   A: segs/tunRead ${(A.txPackets! / A.tunReads!).toFixed(1)} ${JSON.stringify(A)}\n`;
    s += `   B: pkts/tunWrite ${(B.rxPackets! / B.tunWrites!).toFixed(1)} ${JSON.stringify(B)}\n`;
  } else s += '\n';
  const dd = (x: Record<string, number>, y: Record<string, number>) => KEYS.filter((k) => (y[k] ?? 0) - (x[k] ?? 0) !== 0).map((k) => `${k}=${y[k]! - x[k]!}`).join(' ');
  const sd = st1.map((v, i) => (v - st0[i]!) / HZ);
  s += `   sys(s): user ${sd[0]!.toFixed(2)} sys ${sd[2]!.toFixed(2)} idle ${sd[3]!.toFixed(2)} softirq ${sd[6]!.toFixed(2)} steal ${sd[7]!.toFixed(2)} ksoftirqd ${k1.map((v, i) => ((v - k0[i]!) / HZ).toFixed(2)).join('/')}\n`;
  s += `   idle per cpu (s) ${i1.map((v, i) => ((v - i0[i]!) / HZ).toFixed(2)).join('/')}; forwarder sleeps ${v1.map((v, i) => v - v0[i]!).join('/')}; forwarder user/sys (s) ${u1.map((u, i) => `${((u[0]! - u0[i]![0]!) / HZ).toFixed(2)}/${((u[1]! - u0[i]![1]!) / HZ).toFixed(2)}`).join(' ')}\n`;
  if (ssOut) s += `   ss: ${ssOut}\n`;
  s += `   podA ${dd(pa0, pa1)}\n   podB ${dd(pb0, pb1)}`;
  return s;
}


/** HOG=1 (in the variant): a busy loop on CPU 1 for the round — a stand-in for steal time, to test sensitivity to lost CPU. */
async function round(v: string): Promise<string> {
  const hog = v.includes('HOG=1') ? spawn('taskset', ['-c', '1', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }) : undefined;
  try { return await round1(v.replace(':HOG=1', '')); } finally { hog?.kill('SIGKILL'); }
}
async function round1(v: string): Promise<string> {
  if (v === 'vxlan') {
    await lab.kernelVxlanUp();
    try { return await tcp([]); } finally { await lab.kernelVxlanDown(); }
  }
  const saved = { ...process.env };
  for (const kv of v.split(':').slice(1)) { const i = kv.indexOf('='); process.env[kv.slice(0, i)] = kv.slice(i + 1); }
  try {
    const fs = [await lab.startForwarder(lab.a), await lab.startForwarder(lab.b)];
    await lab.podMtu(1472);
    // PIN=1: forwarder a on CPU 0, b on CPU 1 (all threads), to test scheduler placement.
    if (process.env.PIN === '1' || process.env.PIN === '2') for (const [i, f] of fs.entries()) await run(['taskset', '-a', '-p', '-c', String(i), String(f.proc.pid)]);
    try { return await tcp(fs); } finally { for (const f of fs) { const d = f.next('closed'); f.proc.stdin.write('teardown\n'); await d; await f.exited(); } }
  } finally { process.env = saved; }
}

try {
  await lab.create();
  for (let r = 0; r < ROUNDS; r++) for (const v of variants) console.log(`r${r + 1} ${v}: ${await round(v)}`);
} finally { await lab.destroy(); }
