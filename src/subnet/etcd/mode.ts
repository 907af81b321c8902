/**
 * flanneld without --kube-subnet-mgr: one etcd client for the config (`<prefix>/config`) and the
 * subnet manager. Built before the daemon starts, so an unusable flag (a TLS file that cannot be
 * read, an endpoint that is no URL) is one fatal line, as upstream's `Failed to create SubnetManager`.
 */
import type { NetConf } from '../../config/types.ts';
import type { Logger } from '../../observe/log.ts';
import type { SubnetStats } from '../../observe/metrics.ts';
import { readSubnetEnv } from '../subnet-env.ts';
import type { SubnetManager } from '../manager.ts';
import { subnetRangeOf } from './allocate.ts';
import { EtcdClient } from './client.ts';
import { loadEtcdNetConf } from './config.ts';
import { EtcdSubnetManager } from './manager.ts';
import { loadTls } from './tls.ts';

export interface EtcdModeFlags {
  /** --etcd-endpoints, comma-separated. */
  readonly endpoints: string;
  readonly prefix: string;
  readonly keyfile: string;
  readonly certfile: string;
  readonly cafile: string;
  readonly username: string;
  readonly password: string;
  /** --subnet-lease-renew-margin, minutes. */
  readonly renewMarginMinutes: number;
  /** --subnet-file: its FLANNEL_SUBNET is the previous subnet, tried first after a same-IP lease. */
  readonly subnetFile: string;
}

export interface EtcdMode {
  readonly client: EtcdClient;
  /** For DaemonDeps.loadNetConf: `<prefix>/config`, retried until valid. */
  loadNetConf(signal: AbortSignal): Promise<{ conf: NetConf; source: string }>;
  /** For DaemonDeps.createSubnetManager. */
  createSubnetManager(conf: NetConf): Promise<{
    manager: SubnetManager;
    stats: () => Omit<SubnetStats, 'peersByBackend'>;
    waitingFor: () => string | undefined;
  }>;
}

/** The flags that say how to reach etcd. */
export type EtcdClientFlags = Pick<EtcdModeFlags, 'endpoints' | 'keyfile' | 'certfile' | 'cafile' | 'username' | 'password'>;

/**
 * The client the --etcd-* flags describe (the daemon's, and the doctor's in etcd mode); throws
 * (one line) when a TLS file cannot be used.
 */
export function etcdClientFrom(flags: EtcdClientFlags, requestTimeoutMs?: number): EtcdClient {
  return new EtcdClient({
    endpoints: flags.endpoints.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    tls: loadTls({ certFile: flags.certfile, keyFile: flags.keyfile, caFile: flags.cafile }),
    ...(flags.username !== '' ? { username: flags.username, password: flags.password } : {}),
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
  });
}

/** Throws (one line) when a flag cannot be used. `onLeaseRevoked` should stop the daemon. */
export function createEtcdMode(flags: EtcdModeFlags, log: Logger, onLeaseRevoked: () => void): EtcdMode {
  const client = etcdClientFrom(flags);
  if (flags.endpoints.split(',').some((e) => e.trim().startsWith('http://'))) {
    if (flags.certfile === '') log.warn('no certificate provided: connecting to etcd with http. This is insecure');
    else log.warn(`--etcd-certfile is set but --etcd-endpoints has http:// endpoints (${flags.endpoints}); those are used without TLS`);
  }
  if (flags.username === '' && flags.password !== '') {
    log.warn('--etcd-password is set without --etcd-username; not authenticating');
  }
  return {
    client,
    loadNetConf: (signal) => loadEtcdNetConf(client, flags.prefix, log, signal),
    async createSubnetManager(conf) {
      // Upstream keys every etcd lease by its IPv4 subnet (`<ip>-<len>`, `&<ip6>-<len>` appended in
      // dual-stack) and always allocates one: an IPv6-only network has no key upstream could read.
      if (!conf.enableIPv4) {
        throw new Error(`${flags.prefix}/config: "EnableIPv4": false (IPv6-only) does not work in etcd mode, as upstream keys every lease by its IPv4 subnet; use dual-stack ("EnableIPv6": true with a Network), or the kube subnet manager for IPv6-only`);
      }
      const prev = await readSubnetEnv(flags.subnetFile);
      const manager = new EtcdSubnetManager({
        client,
        prefix: flags.prefix,
        range: subnetRangeOf(conf),
        ...(prev?.subnet !== undefined ? { previousSubnet: prev.subnet } : {}),
        ...(prev?.ipv6Subnet !== undefined ? { previousIpv6Subnet: prev.ipv6Subnet } : {}),
        renewMarginMs: flags.renewMarginMinutes * 60_000,
        onLeaseRevoked,
        log,
      });
      return {
        manager,
        stats: () => {
          const s = manager.stats;
          // An etcd watch ends on errors and compactions, never on a timeout: every restart counts as an error.
          return { watchRestarts: { expiry: 0, error: s.watchRestarts }, relists: s.relists, peersSkipped: { malformed: s.malformedSkipped } };
        },
        waitingFor: () => manager.waitingFor,
      };
    },
  };
}
