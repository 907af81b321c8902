/**
 * A one-node udp forwarder for lab tests and benches, run inside a node namespace:
 *
 *   node test/udp/node-fixture.ts --iface veth0 --addr 198.18.0.2 --own 10.244.1.0/24 \
 *     --peer 10.244.2.0/24=198.18.0.3 [--network 10.244.0.0/16] [--port 8285] [--no-offload]
 *
 * Prints one JSON line {"ready":…} when forwarding. Reads commands on stdin, one per line:
 * "counters" prints the counters as JSON; "teardown" removes flannel0 and exits; EOF or
 * SIGTERM closes cleanly (device kept) and exits 0.
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { parseCidr } from '../../src/ip/ipv4.ts';
import type { Lease } from '../../src/subnet/lease.ts';
import type { NetlinkHandle } from '../../src/netlink/types.ts';
import { createUdpBackend } from '../../src/backend/udp/udp-backend.ts';
import { openIpNetlink } from './ip-netlink.ts';

const { values } = parseArgs({
  options: {
    iface: { type: 'string' }, addr: { type: 'string' }, own: { type: 'string' },
    peer: { type: 'string', multiple: true, default: [] }, network: { type: 'string', default: '10.244.0.0/16' },
    port: { type: 'string', default: '8285' }, 'no-offload': { type: 'boolean', default: false }, mtu: { type: 'string', default: '1500' },
  },
});

async function openNl(): Promise<NetlinkHandle> {
  // Prefer the real netlink layer once it exists; the ip-based shim keeps tests running before.
  const real = new URL('../../src/netlink/index.ts', import.meta.url);
  if (process.env.FTUDP_IP_SHIM !== '1' && existsSync(real)) {
    const m = (await import(real.href)) as { openNetlink?: () => NetlinkHandle | Promise<NetlinkHandle> };
    if (typeof m.openNetlink === 'function') return await m.openNetlink();
  }
  return openIpNetlink();
}

const cidr = (s: string) => { const c = parseCidr(s); if (c === undefined) throw new Error(`bad CIDR ${s}`); return c; };
const log = pino({ level: process.env.FTUDP_LOG ?? 'warn' }, pino.destination(2));
const nl = await openNl();
const backend = createUdpBackend({
  nl, log, network: cidr(values.network!), config: { type: 'udp', port: Number(values.port) },
  ext: { name: values.iface!, index: 0, mtu: Number(values.mtu), ifaceAddr: values.addr!, extAddr: values.addr! },
  offload: !values['no-offload'],
});
const ac = new AbortController();
const attrs = await backend.prepare(ac.signal);
const own: Lease = { subnet: cidr(values.own!), attrs };
await backend.configure(own, ac.signal);
const peers = new Map<string, Lease>();
for (const p of values.peer!) {
  const [subnet, pub] = p.split('=');
  peers.set(subnet!, { subnet: cidr(subnet!), attrs: { publicIp: pub!, backendType: '', backendData: 'null' } });
}
const report = await backend.reconcile({ generation: 1, network: cidr(values.network!), own, peers }, ac.signal);
process.stdout.write(JSON.stringify({ ready: { device: backend.deviceName, mtu: backend.mtu, attrs, report: { created: report.created, failed: report.failed.length } } }) + '\n');

let closing = false;
async function shutdown(teardown: boolean): Promise<void> {
  if (closing) return;
  closing = true;
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
