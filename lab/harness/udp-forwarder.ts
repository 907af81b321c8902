/**
 * A one-node udp forwarder for lab tests and benches, run inside a node namespace:
 *
 *   node lab/harness/udp-forwarder.ts --iface veth0 --addr 198.18.0.2 --own 10.244.1.0/24 \
 *     --peer 10.244.2.0/24=198.18.0.3 [--network 10.244.0.0/16] [--port 8285] [--no-offload] [--no-yield]
 *
 * Prints one JSON line {"ready":…} when forwarding. Watches for drift with the real netlink
 * monitor and reconciles on every kick, printing {"repaired": why} after each such run (or
 * {"repairFailed": message}). Reads commands on stdin, one per line:
 * "counters" prints the counters as JSON; "teardown" removes flannel0 and exits; EOF or
 * SIGTERM closes cleanly (device kept) and exits 0.
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { parseCidr } from '../../src/ip/ipv4.ts';
import type { Lease } from '../../src/subnet/lease.ts';
import { openNetlink } from '../../src/netlink/index.ts';
import { driftMonitorFor } from '../../src/backends/registry.ts';
import { UdpBackend } from '../../src/backends/udp/backend.ts';
import { errorText } from '../../src/util/errors.ts';

const { values } = parseArgs({
  options: {
    iface: { type: 'string' }, addr: { type: 'string' }, own: { type: 'string' },
    peer: { type: 'string', multiple: true, default: [] }, network: { type: 'string', default: '10.244.0.0/16' },
    port: { type: 'string', default: '8285' }, 'no-offload': { type: 'boolean', default: false }, 'no-yield': { type: 'boolean', default: false }, mtu: { type: 'string', default: '1500' },
  },
});

const cidr = (s: string) => { const c = parseCidr(s); if (c === undefined) throw new Error(`bad CIDR ${s}`); return c; };
const log = pino({ level: process.env.FTUDP_LOG ?? 'warn' }, pino.destination(2));
const nl = openNetlink();
const backend = new UdpBackend(
  {
    nl, log, network: cidr(values.network!), stored: {},
    ext: { name: values.iface!, index: 0, mtu: Number(values.mtu), ifaceAddr: values.addr!, extAddr: values.addr! },
    openMonitor: driftMonitorFor(undefined, (e) => process.stderr.write(`monitor: ${e.message}\n`)),
  },
  { type: 'udp', port: Number(values.port) },
  { offload: !values['no-offload'], ...(values['no-yield'] ? { yieldAfter: 0 } : {}) },
);
const ac = new AbortController();
const attrs = await backend.prepare(ac.signal);
const own: Lease = { subnet: cidr(values.own!), attrs };
await backend.configure(own, ac.signal);
const peers = new Map<string, Lease>();
for (const p of values.peer!) {
  const [subnet, pub] = p.split('=');
  peers.set(subnet!, { subnet: cidr(subnet!), attrs: { publicIp: pub!, backendType: '', backendData: 'null' } });
}
const desired = { generation: 1, network: cidr(values.network!), own, peers };
const report = await backend.reconcile(desired, ac.signal);

// The daemon's coalescing loop in miniature: kicks during a run cause exactly one more run.
let running = false;
let again: string | undefined;
async function repair(why: string): Promise<void> {
  if (running) { again = why; return; }
  running = true;
  try {
    for (let w: string | undefined = why; w !== undefined && !ac.signal.aborted; w = again) {
      again = undefined;
      try {
        await backend.reconcile(desired, ac.signal);
        process.stdout.write(JSON.stringify({ repaired: w }) + '\n');
      } catch (e) {
        process.stdout.write(JSON.stringify({ repairFailed: errorText(e) }) + '\n');
      }
    }
  } finally { running = false; }
}
backend.watchDrift((why) => void repair(why), ac.signal);
process.stdout.write(JSON.stringify({ ready: { device: backend.deviceName, mtu: backend.mtu, attrs, report: { created: report.created, failed: report.failed.length } } }) + '\n');

let closing = false;
async function shutdown(teardown: boolean): Promise<void> {
  if (closing) return;
  closing = true;
  ac.abort();
  if (teardown) await backend.teardown(); else await backend.close();
  nl.close();
  process.stdout.write(JSON.stringify({ closed: teardown ? 'teardown' : 'close' }) + '\n');
  rl.close();
  process.stdin.destroy(); // nothing else holds the loop open: the process exits by itself
}
process.on('SIGTERM', () => void shutdown(false));
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line === 'counters') process.stdout.write(JSON.stringify({ counters: backend.counters }) + '\n');
  else if (line === 'teardown') void shutdown(true);
});
rl.on('close', () => void shutdown(false));
