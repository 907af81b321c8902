/** Managers and fixtures for the tests against a real etcd. */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseNetConf } from '../../src/config/netconf.ts';
import { createLogger, type Logger } from '../../src/observe/log.ts';
import type { LeaseAttrs, LeaseEvent } from '../../src/subnet/lease.ts';
import { subnetRangeOf, type SubnetRange } from '../../src/subnet/etcd/allocate.ts';
import { EtcdClient, type EtcdClientOptions } from '../../src/subnet/etcd/client.ts';
import { EtcdSubnetManager, type EtcdSubnetManagerOptions } from '../../src/subnet/etcd/manager.ts';
import { parseCidr, formatCidr } from '../../src/ip/ipv4.ts';

export const vxlanAttrs = (ip: string, mac = 'aa:bb:cc:dd:ee:01'): LeaseAttrs => ({ publicIp: ip, backendType: 'vxlan', backendData: `{"VNI":1,"VtepMAC":"${mac}"}` });
export const hostGwAttrs = (ip: string): LeaseAttrs => ({ publicIp: ip, backendType: 'host-gw', backendData: 'null' });
export const udpAttrs = (ip: string): LeaseAttrs => ({ publicIp: ip, backendType: '', backendData: 'null' });

/** A logger whose lines (the `msg` of each) the test can read. */
export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(String((JSON.parse(l) as { msg?: string }).msg ?? ''));
      cb();
    },
  });
  return { log: createLogger({ level: 'debug', format: 'json', destination: sink }), lines };
}

/** The allocation range of a net-conf document, as the daemon derives it. */
export function rangeOf(json: string): SubnetRange {
  return subnetRangeOf(parseNetConf(json, 'test'));
}

export const cidr = (s: string) => parseCidr(s)!;

/**
 * Where the factory's managers draw subnets unless a test gives a range: 10.5.128.0–10.5.255.0.
 * The peer leases tests write by hand lie below it (10.5.1.0–10.5.127.0), so an acquired subnet
 * never lands on one of them (a random draw did, now and then, and the test's put overwrote the
 * manager's own lease).
 */
const DEFAULT_RANGE = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.128.0"}');

export interface TestManager {
  readonly manager: EtcdSubnetManager;
  readonly lines: string[];
  revoked: number;
}

/** Builds managers on one etcd and closes them all in `closeAll`. */
export function managerFactory(endpoint: () => string, clientOpts: Partial<EtcdClientOptions> = {}) {
  const made: EtcdSubnetManager[] = [];
  return {
    make(prefix: string, opts: Partial<Omit<EtcdSubnetManagerOptions, 'client' | 'prefix' | 'log' | 'onLeaseRevoked'>> & { endpoint?: string } = {}): TestManager {
      const { log, lines } = captureLog();
      const client = new EtcdClient({ endpoints: [opts.endpoint ?? endpoint()], ...clientOpts });
      const t: TestManager = {
        lines,
        revoked: 0,
        manager: new EtcdSubnetManager({
          client,
          prefix,
          range: opts.range ?? DEFAULT_RANGE,
          renewMarginMs: opts.renewMarginMs ?? 60 * 60_000,
          onLeaseRevoked: () => t.revoked++,
          log,
          watchBackoff: { initialMs: 20, maxMs: 200 },
          acquireBackoff: { initialMs: 50, maxMs: 200 },
          ...opts,
        }),
      };
      made.push(t.manager);
      return t;
    },
    closeAll(): void {
      for (const m of made.splice(0)) m.close();
    },
  };
}

/** Collects lease events and keeps the resulting peer view (subnet → public IP). */
export function eventSink(): { batches: LeaseEvent[][]; view: Map<string, string>; listed: () => boolean; onEvents: (e: readonly LeaseEvent[]) => void } {
  const batches: LeaseEvent[][] = [];
  const view = new Map<string, string>();
  return {
    batches,
    view,
    listed: () => batches.length > 0,
    onEvents: (events) => {
      batches.push([...events]);
      for (const e of events) {
        if (e.type === 'added') view.set(formatCidr(e.lease.subnet!), e.lease.attrs.publicIp!);
        else view.delete(formatCidr(e.lease.subnet!));
      }
    },
  };
}

/** Polls until `probe` returns true; throws `what` on timeout. */
export async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface EtcdctlKv {
  readonly value: string;
  /** The etcd lease in decimal, '0' for none. */
  readonly lease: string;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** `etcdctl get … -w json` output → key → value and metadata (lease IDs kept exact as text). */
export function parseEtcdctlJson(stdout: string): Map<string, EtcdctlKv> {
  // Lease IDs exceed 2^53: keep them as digits before JSON.parse rounds them.
  const doc = JSON.parse(stdout.replace(/"lease":(\d+)/g, '"lease":"$1"')) as { kvs?: { key: string; value: string; lease?: string; create_revision: number; mod_revision: number }[] };
  const out = new Map<string, EtcdctlKv>();
  for (const kv of doc.kvs ?? []) {
    out.set(Buffer.from(kv.key, 'base64').toString('utf8'), {
      value: Buffer.from(kv.value, 'base64').toString('utf8'),
      lease: kv.lease ?? '0',
      createRevision: kv.create_revision,
      modRevision: kv.mod_revision,
    });
  }
  return out;
}

/** The lab's lease directory (the default --etcd-prefix) and a pod subnet's key in it. */
export const LAB_SUBNETS = '/coreos.com/network/subnets/';
export const labKeyOf = (podCidr: string): string => LAB_SUBNETS + podCidr.replace('/', '-');

/**
 * The first of `candidates` that no node holds, for a hand-made lease in a lab: in etcd mode the
 * nodes draw their subnets at random, and a fixed one would now and then be a node's own.
 */
export function subnetNoNodeHolds(nodes: readonly { readonly podCidr: string }[], candidates: readonly string[]): string {
  const free = candidates.find((c) => nodes.every((n) => n.podCidr !== c));
  if (free === undefined) throw new Error(`every one of ${candidates.join(', ')} is a node's subnet`);
  return free;
}
