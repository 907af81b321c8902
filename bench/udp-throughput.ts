/**
 * udp backend vs kernel VXLAN between the same two lab namespaces, in the same run:
 *   node bench/udp-throughput.ts [seconds=10]
 * 1. TCP: iperf3 pod a → pod b for N s (udp with offloads, udp without, VXLAN).
 * 2. UDP flood of 64-byte datagrams, received packet rate.
 * 3. CPU per forwarded packet at a fixed 20 kpps (whole-system busy time / packets, plus
 *    the two forwarder processes' own time for udp).
 * Pod MTU is set to each backend's MTU, as flannel's CNI plugin would.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Lab, inNs, type Fixture } from '../test/udp/lab.ts';

const SECS = Number(process.argv[2] ?? 10);
const lab = new Lab('ftudpb');

function busyJiffies(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!; // minus idle and iowait
}
function procJiffies(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}
const HZ = 100;

async function iperf(args: string[], secs: number): Promise<Record<string, any>> {
  const srv = spawn('ip', ['netns', 'exec', lab.b.podNs, 'iperf3', '-s', '-1', '-B', lab.b.pod]);
  await new Promise((r) => setTimeout(r, 400));
  const out = inNs(lab.a.podNs, 'iperf3', ['-c', lab.b.pod, '-t', String(secs), '-J', ...args], { timeout: (secs + 30) * 1000, allowFail: true });
  await new Promise((r) => { if (srv.exitCode !== null) r(null); else srv.once('exit', r); setTimeout(() => { srv.kill(); r(null); }, 3000); });
  return JSON.parse(out) as Record<string, any>;
}

interface Row { tcpGbps: number; floodKpps: number; sysUsPerPkt: number; fwdUsPerPkt?: number }

async function measure(fwdPids: number[]): Promise<Row> {
  const tcp = await iperf([], SECS);
  const tcpGbps = tcp.end.sum_received.bits_per_second / 1e9;
  const flood = await iperf(['-u', '-b', '0', '-l', '64'], Math.min(SECS, 5));
  const s = flood.end.sum;
  const floodKpps = (s.packets - s.lost_packets) / s.seconds / 1000;
  const j0 = busyJiffies(), p0 = fwdPids.map(procJiffies);
  const fixed = await iperf(['-u', '-b', String(20_000 * 64 * 8), '-l', '64'], 5);
  const j1 = busyJiffies(), p1 = fwdPids.map(procJiffies);
  const pk = fixed.end.sum.packets - fixed.end.sum.lost_packets;
  const row: Row = { tcpGbps, floodKpps, sysUsPerPkt: ((j1 - j0) / HZ / pk) * 1e6 };
  if (fwdPids.length > 0) row.fwdUsPerPkt = ((p1.reduce((a, b) => a + b, 0) - p0.reduce((a, b) => a + b, 0)) / HZ / pk) * 1e6;
  return row;
}

function podMtu(mtu: number): void {
  for (const n of [lab.a, lab.b]) inNs(n.podNs, 'ip', ['link', 'set', 'eth0', 'mtu', String(mtu)]);
}

async function udpRun(extra: string[]): Promise<Row> {
  const fs: Fixture[] = [await lab.startForwarder(lab.a, extra), await lab.startForwarder(lab.b, extra)];
  podMtu(1472);
  const row = await measure(fs.map((f) => f.proc.pid!));
  for (const f of fs) { const d = f.next('closed'); f.proc.stdin.write('teardown\n'); await d; await f.exited(); }
  return row;
}

function vxlanUp(): void {
  for (const [n, other, dev, vip, ovip] of [[lab.a, lab.b, 'ula', '10.244.200.1', '10.244.200.2'], [lab.b, lab.a, 'ulb', '10.244.200.2', '10.244.200.1']] as const) {
    inNs(n.ns, 'ip', ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'local', n.underlay, 'remote', other.underlay, 'dev', dev, 'dstport', '8472']);
    inNs(n.ns, 'ip', ['link', 'set', 'vx0', 'mtu', '1450', 'up']);
    inNs(n.ns, 'ip', ['addr', 'add', `${vip}/24`, 'dev', 'vx0']);
    inNs(n.ns, 'ip', ['route', 'add', other.subnet, 'via', ovip, 'dev', 'vx0']);
  }
  podMtu(1450);
}

try {
  lab.create();
  const offload = await udpRun([]);
  const plain = await udpRun(['--no-offload']);
  vxlanUp();
  const vx = await measure([]);
  const f = (x: number, d = 2) => x.toFixed(d);
  const pct = (x: number, y: number) => `${((x / y) * 100).toFixed(0)}%`;
  console.log(`udp backend vs kernel VXLAN, same namespaces, same run (${SECS} s TCP; 5 s floods)`);
  console.log('| measure | udp (offloads) | udp (batched, no offloads) | kernel VXLAN | udp/VXLAN |');
  console.log('|---|---|---|---|---|');
  console.log(`| TCP iperf3 Gbit/s | ${f(offload.tcpGbps)} | ${f(plain.tcpGbps)} | ${f(vx.tcpGbps)} | ${pct(offload.tcpGbps, vx.tcpGbps)} |`);
  console.log(`| UDP 64 B flood, received kpps | ${f(offload.floodKpps, 0)} | ${f(plain.floodKpps, 0)} | ${f(vx.floodKpps, 0)} | ${pct(offload.floodKpps, vx.floodKpps)} |`);
  console.log(`| CPU µs/packet at 20 kpps, whole system | ${f(offload.sysUsPerPkt)} | ${f(plain.sysUsPerPkt)} | ${f(vx.sysUsPerPkt)} | ${f(offload.sysUsPerPkt / vx.sysUsPerPkt, 1)}× |`);
  console.log(`| CPU µs/packet at 20 kpps, both forwarders | ${f(offload.fwdUsPerPkt!)} | ${f(plain.fwdUsPerPkt!)} | – | |`);
} finally {
  lab.destroy();
}
