import type { Backend, Desired, ExternalInterface, Networks, PeerFailure } from '../backends/backend.ts';
import { createBackend, driftMonitorFor } from '../backends/registry.ts';
import { ReconcileLoop } from '../backends/reconcile/loop.ts';
import type { NetConf } from '../config/types.ts';
import type { NetlinkHandle } from '../netlink/types.ts';
import type { Logger } from '../observe/log.ts';
import { leaseSubnets, type Lease } from '../subnet/lease.ts';
import { formatAnyCidr } from '../ip/cidr.ts';
import type { StoredNodeInfo, SubnetManager } from '../subnet/manager.ts';
import type { PeerSet } from './peer-set.ts';
import { logLeaseAcquired } from '../observe/events.ts';

export interface NetworkRunnerOptions {
  readonly conf: NetConf;
  readonly nl: NetlinkHandle;
  readonly ext: ExternalInterface;
  readonly stored: StoredNodeInfo;
  readonly sm: SubnetManager;
  /** The desired peers; no desired state until their first complete list is in. */
  readonly peers: PeerSet;
  readonly log: Logger;
  /** Full resync period of the reconcile loop. */
  readonly resyncMs?: number;
  /** vxlan: tx checksum offload to keep on flannel.N (--vxlan-csum-offload resolved); absent = leave it. */
  readonly txChecksum?: 'on' | 'off';
  /** Called once per run (metrics, health heartbeat). */
  readonly onReport?: (loop: ReconcileLoop) => void;
  /** Whether a startup peer's failure holds readiness (readiness.ts). */
  readonly holdsReadiness?: (f: PeerFailure, failingRuns: number) => boolean;
}

/**
 * One backend's life: build it, publish its lease attributes, configure the device for the own
 * lease, and keep the kernel reconciled with the peer set. A backend switch stops one runner
 * (with teardown) and starts another; a restart stops it without teardown.
 */
export class NetworkRunner {
  readonly backend: Backend;
  private readonly opts: NetworkRunnerOptions;
  private readonly stop = new AbortController();
  private loop: ReconcileLoop | undefined;
  private own: Lease | undefined;

  constructor(opts: NetworkRunnerOptions) {
    this.opts = opts;
    const { conf, nl, ext, stored, log } = opts;
    const txChecksum = opts.txChecksum === undefined ? {} : { txChecksum: opts.txChecksum };
    this.backend = createBackend(conf.backend, { nl, ext, ...networksOf(conf), stored, log, openMonitor: driftMonitorFor(undefined), ...txChecksum });
  }

  get reconcileLoop(): ReconcileLoop | undefined {
    return this.loop;
  }

  /** The own lease once registered (for /debug/state). */
  get lease(): Lease | undefined {
    return this.own;
  }

  /** Upstream's RegisterNetwork (main.go): create or adopt the device, acquire the lease, address the device. */
  async register(signal: AbortSignal): Promise<Lease> {
    const both = AbortSignal.any([signal, this.stop.signal]);
    const attrs = await this.backend.prepare(both);
    this.opts.log.info({ backend: this.backend.type, publicIp: attrs.publicIp, backendData: attrs.backendData, publicIpv6: attrs.publicIpv6, backendV6Data: attrs.backendV6Data }, 'backend prepared');
    this.own = await this.opts.sm.acquireLease(attrs, both);
    logLeaseAcquired(this.opts.log, this.own);
    await this.backend.configure(this.own, both);
    return this.own;
  }

  /** Upstream's `bn.Run` (main.go): run the reconcile loop; kicks come from lease events, drift and the resync timer. */
  run(): ReconcileLoop {
    const own = this.own;
    if (own === undefined) throw new Error('NetworkRunner.run() before register()');
    const { conf, peers, log } = this.opts;
    const desired = (): Desired | undefined =>
      peers.listed ? { generation: peers.generation, ...networksOf(conf), own, peers: peers.snapshot() } : undefined;
    const loop = new ReconcileLoop({
      backend: this.backend,
      desired,
      log,
      ...(this.opts.resyncMs !== undefined ? { resyncMs: this.opts.resyncMs } : {}),
      onReport: () => this.opts.onReport?.(loop),
      ...(this.opts.holdsReadiness !== undefined ? { holdsReadiness: this.opts.holdsReadiness } : {}),
    });
    this.loop = loop;
    loop.start(this.stop.signal);
    this.backend.watchDrift((why) => loop.kick(why), this.stop.signal);
    return loop;
  }

  /** Stops reconciling and releases fds. `teardown` also removes the backend's kernel state. */
  async close(teardown: boolean): Promise<void> {
    this.stop.abort();
    if (this.loop !== undefined) await this.loop.idle();
    if (teardown) await this.backend.teardown();
    await this.backend.close();
  }
}

/** The enabled families' networks, IPv4 first: `10.244.0.0/16,fd00:10:244::/56` (a metrics label). */
export function networksText(conf: NetConf): string {
  return [conf.network, conf.ipv6Network].filter((n) => n !== undefined).map(formatAnyCidr).join(',');
}

/** The enabled families' networks of a config, as backends take them. */
export function networksOf(conf: NetConf): Networks {
  return { ...(conf.network !== undefined ? { network: conf.network } : {}), ...(conf.ipv6Network !== undefined ? { ipv6Network: conf.ipv6Network } : {}) };
}
