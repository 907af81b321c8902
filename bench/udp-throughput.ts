/**
 * udp backend vs kernel VXLAN between the same two lab namespaces, in the same run:
 *   node bench/udp-throughput.ts [seconds=10] [rounds=3]
 * The three set-ups are measured in turn, `rounds` times, and each figure is the median over
 * the rounds: the machine is shared, and interleaving spreads other load over all three.
 * 1. TCP: iperf3 pod a → pod b for N s (udp with offloads, udp without, VXLAN).
 * 2. UDP flood of 64-byte datagrams, received packet rate.
 * 3. CPU per forwarded packet at a fixed 20 kpps: the process time of the iperf3 pair (their
 *    softirq work runs in their syscalls: veth, VXLAN encap/decap, delivery) plus, for udp,
 *    the two forwarders, divided by packets. /proc/stat's system-wide busy time is not used:
 *    on this VM it is tick-sampled and misses most of a 20 kpps load of short wake-ups
 *    (measured: 11 jiffies "busy" while the forwarders alone used 80).
 * Pod MTU is set to each backend's MTU, as flannel's CNI plugin would.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { outputIn } from '../lab/harness/exec.ts';
import { UdpLab, type Fixture } from '../lab/harness/udp-lab.ts';

const SECS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 3);
const lab = new UdpLab('ftudpb');

/** utime+stime of this process's reaped children: the iperf3 processes once they exited. */
function childJiffies(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return Number(f[13]) + Number(f[14]);
}
function procJiffies(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}
const HZ = 100;

async function iperf(args: string[], secs: number): Promise<Record<string, any>> {
  const srv = spawn('ip', ['netns', 'exec', lab.b.podNs, 'iperf3', '-s', '-1', '-B', lab.b.pod]);
  await new Promise((r) => setTimeout(r, 400));
  const out = await outputIn(lab.a.podNs, ['iperf3', '-c', lab.b.pod, '-t', String(secs), '-J', ...args], { timeoutMs: (secs + 30) * 1000, allowFailure: true });
  await new Promise((r) => { if (srv.exitCode !== null) r(null); else srv.once('exit', r); setTimeout(() => { srv.kill(); r(null); }, 3000); });
  return JSON.parse(out) as Record<string, any>;
}

interface Row { tcpGbps: number; tcpSteal: number; floodKpps: number; floodSentKpps: number; sysUsPerPkt: number; fwdUsPerPkt?: number }

/**
 * CPU seconds the hypervisor took from this VM (/proc/stat "steal", all CPUs). The udp backend's
 * TCP figure follows it: its sending forwarder is nearly always runnable, so stolen time comes
 * straight out of throughput, while kernel VXLAN loses idle time instead (bench/udp-tcpdiag.ts).
 */
function stealSeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  return Number(cpu[8] ?? 0) / HZ;
}

async function measure(fwdPids: number[]): Promise<Row> {
  const steal0 = stealSeconds();
  const tcp = await iperf([], SECS);
  const tcpSteal = stealSeconds() - steal0;
  const tcpGbps = tcp.end.sum_received.bits_per_second / 1e9;
  const flood = await iperf(['-u', '-b', '0', '-l', '64'], Math.min(SECS, 5));
  const s = flood.end.sum;
  const floodKpps = (s.packets - s.lost_packets) / s.seconds / 1000;
  const floodSentKpps = s.packets / s.seconds / 1000;
  const j0 = childJiffies(), p0 = fwdPids.map(procJiffies);
  const fixed = await iperf(['-u', '-b', String(20_000 * 64 * 8), '-l', '64'], 5);
  const j1 = childJiffies(), p1 = fwdPids.map(procJiffies);
  const pk = fixed.end.sum.packets - fixed.end.sum.lost_packets;
  const fwd = p1.reduce((a, b) => a + b, 0) - p0.reduce((a, b) => a + b, 0);
  const row: Row = { tcpGbps, tcpSteal, floodKpps, floodSentKpps, sysUsPerPkt: ((j1 - j0 + fwd) / HZ / pk) * 1e6 };
  if (fwdPids.length > 0) row.fwdUsPerPkt = (fwd / HZ / pk) * 1e6;
  return row;
}

async function udpRun(extra: string[]): Promise<Row> {
  const fs: Fixture[] = [await lab.startForwarder(lab.a, extra), await lab.startForwarder(lab.b, extra)];
  await lab.podMtu(1472);
  const row = await measure(fs.map((f) => f.proc.pid!));
  for (const f of fs) { const d = f.next('closed'); f.proc.stdin.write('teardown\n'); await d; await f.exited(); }
  return row;
}

function median(rows: Row[], k: keyof Row): number {
  const v = rows.map((r) => r[k] ?? 0).sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

function summary(rows: Row[]): Row {
  return { tcpGbps: median(rows, 'tcpGbps'), tcpSteal: median(rows, 'tcpSteal'), floodKpps: median(rows, 'floodKpps'), floodSentKpps: median(rows, 'floodSentKpps'), sysUsPerPkt: median(rows, 'sysUsPerPkt'), fwdUsPerPkt: median(rows, 'fwdUsPerPkt') };
}

try {
  await lab.create();
  const runs = { offload: [] as Row[], plain: [] as Row[], vx: [] as Row[] };
  for (let r = 0; r < ROUNDS; r++) {
    runs.offload.push(await udpRun([]));
    runs.plain.push(await udpRun(['--no-offload']));
    await lab.kernelVxlanUp();
    runs.vx.push(await measure([]));
    await lab.kernelVxlanDown();
    const [o, p, v] = [runs.offload[r]!, runs.plain[r]!, runs.vx[r]!];
    process.stderr.write(
      `round ${r + 1}/${ROUNDS}: TCP Gbit/s udp ${o.tcpGbps.toFixed(2)} / plain ${p.tcpGbps.toFixed(2)} / vxlan ${v.tcpGbps.toFixed(2)} ` +
        `(steal s ${o.tcpSteal.toFixed(2)} / ${p.tcpSteal.toFixed(2)} / ${v.tcpSteal.toFixed(2)}); ` +
        `flood kpps udp ${o.floodKpps.toFixed(0)} / plain ${p.floodKpps.toFixed(0)} / vxlan ${v.floodKpps.toFixed(0)}\n`,
    );
  }
  const [offload, plain, vx] = [summary(runs.offload), summary(runs.plain), summary(runs.vx)];
  const f = (x: number, d = 2) => x.toFixed(d);
  const pct = (x: number, y: number) => `${((x / y) * 100).toFixed(0)}%`;
  console.log(`udp backend vs kernel VXLAN, same namespaces, same run; medians of ${ROUNDS} interleaved rounds (${SECS} s TCP; 5 s floods)`);
  console.log('| measure | udp (offloads) | udp (batched, no offloads) | kernel VXLAN | udp/VXLAN |');
  console.log('|---|---|---|---|---|');
  console.log(`| TCP iperf3 Gbit/s | ${f(offload.tcpGbps)} | ${f(plain.tcpGbps)} | ${f(vx.tcpGbps)} | ${pct(offload.tcpGbps, vx.tcpGbps)} |`);
  console.log(`| UDP 64 B flood, received kpps | ${f(offload.floodKpps, 0)} | ${f(plain.floodKpps, 0)} | ${f(vx.floodKpps, 0)} | ${pct(offload.floodKpps, vx.floodKpps)} |`);
  console.log(`| UDP 64 B flood, sent kpps (iperf3 -b 0) | ${f(offload.floodSentKpps, 0)} | ${f(plain.floodSentKpps, 0)} | ${f(vx.floodSentKpps, 0)} | |`);
  console.log(`| CPU µs/packet at 20 kpps, iperf3 pair + forwarders | ${f(offload.sysUsPerPkt)} | ${f(plain.sysUsPerPkt)} | ${f(vx.sysUsPerPkt)} | ${f(offload.sysUsPerPkt / vx.sysUsPerPkt, 1)}× |`);
  console.log(`| CPU µs/packet at 20 kpps, both forwarders | ${f(offload.fwdUsPerPkt!)} | ${f(plain.fwdUsPerPkt!)} | – | |`);
} finally {
  await lab.destroy();
}
