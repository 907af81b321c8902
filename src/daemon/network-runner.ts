import type { Desired, ExternalInterface, Networks, PeerFailure } from '../backends/backend.ts';
import { MultiBackend } from '../backends/multi/multi-backend.ts';
import { createBackend, driftMonitorFor } from '../backends/registry.ts';
import { ReconcileLoop } from '../backends/reconcile/loop.ts';
import type { NetConf } from '../config/types.ts';
import type { NetlinkHandle } from '../netlink/types.ts';
import type { Logger } from '../observe/log.ts';
import type { UdpStats } from '../observe/metrics.ts';
import { type Lease } from '../subnet/lease.ts';
import { formatAnyCidr } from '../ip/cidr.ts';
import type { StoredNodeInfo, SubnetManager } from '../subnet/manager.ts';
import type { PeerSet } from './peer-set.ts';
import { logLeaseAcquired } from '../observe/events.ts';

/** --migration-grace's default: how long a node keeps receiving over its previous backend after a switch. */
export const MIGRATION_GRACE_SECONDS = 60;

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
  /** --migration-grace in ms (default 60 s). */
  readonly migrationGraceMs?: number;
  /** Called once per run (metrics, health heartbeat). */
  readonly onReport?: (loop: ReconcileLoop) => void;
  /** Whether a startup peer's failure holds readiness (readiness.ts). */
  readonly holdsReadiness?: (f: PeerFailure, failingRuns: number) => boolean;
  /** The udp datapath's counters appeared or went away (a udp backend started or retired). */
  readonly onUdpStats?: (read: (() => UdpStats) | undefined) => void;
}

/**
 * The node's datapath for the daemon's life: the backends (one per type in use, see
 * docs/migration.md), the own lease with the advertised backend's attributes, and the reconcile
 * loop that keeps the kernel matching the peer set. A backend switch brings the new backend up
 * and re-publishes the lease; a restart stops it without teardown.
 */
export class NetworkRunner {
  readonly backend: MultiBackend;
  private readonly opts: NetworkRunnerOptions;
  private readonly stop = new AbortController();
  private loop: ReconcileLoop | undefined;
  private own: Lease | undefined;

  constructor(opts: NetworkRunnerOptions) {
    this.opts = opts;
    const { conf, nl, ext, stored, log } = opts;
    const txChecksum = opts.txChecksum === undefined ? {} : { txChecksum: opts.txChecksum };
    this.backend = new MultiBackend({
      ctx: { nl, ext, ...networksOf(conf), stored, log, openMonitor: driftMonitorFor(undefined), ...txChecksum },
      configured: conf.backend,
      graceMs: opts.migrationGraceMs ?? MIGRATION_GRACE_SECONDS * 1000,
      create: createBackend,
      ...(opts.onUdpStats !== undefined ? { onUdpStats: opts.onUdpStats } : {}),
    });
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

  /**
   * A live backend switch: the new backend's receive side first, then its attributes in the
   * node's annotations; the previous backend stays until no peer may still send with it (the
   * runs after this retire it). Resolves with the re-published lease.
   */
  async switchTo(conf: NetConf, signal: AbortSignal): Promise<Lease> {
    const { log, sm } = this.opts;
    const both = AbortSignal.any([signal, this.stop.signal]);
    const from = this.backend.type;
    const to = conf.backend.type;
    const step = `backend switch ${from} → ${to}`;
    log.info(`${step}: bringing up ${to} before advertising it`);
    const attrs = await this.backend.switchTo(conf.backend, both);
    log.info({ publicIp: attrs.publicIp, backendData: attrs.backendData, publicIpv6: attrs.publicIpv6, backendV6Data: attrs.backendV6Data }, `${step}: ${to} is ready to receive; publishing it`);
    let own: Lease;
    try {
      own = await sm.acquireLease(attrs, both);
    } catch (e) {
      this.backend.abandon();
      throw e;
    }
    this.own = own;
    this.backend.advertised(conf.backend);
    const grace = (this.opts.migrationGraceMs ?? MIGRATION_GRACE_SECONDS * 1000) / 1000;
    log.info(
      from === to ? `${step}: published`
      : from === 'host-gw' ? `${step}: published; host-gw needs nothing to receive (peers' routes to this node still work), it stays while peers advertise it`
      : `${step}: published; ${from} stays to receive while peers advertise it, and for ${grace} s for peers that have not seen the new annotation`,
    );
    return own;
  }

  /** Upstream's `bn.Run` (main.go): run the reconcile loop; kicks come from lease events, drift and the resync timer. */
  run(): ReconcileLoop {
    if (this.own === undefined) throw new Error('NetworkRunner.run() before register()');
    const { conf, peers, log } = this.opts;
    const desired = ({ full }: { readonly full: boolean }): Desired | undefined => {
      if (!peers.listed || this.own === undefined) return undefined;
      // Taken on full runs too: a full run covers every change made so far.
      const changed = peers.takeChanged();
      return { generation: peers.generation, ...networksOf(conf), own: this.own, peers: peers.live, ...(full ? {} : { changed }) };
    };
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

  /** Stops reconciling and releases fds. `teardown` also removes every backend's kernel state. */
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
