import type { NetConf } from '../config/types.ts';
import { IP_FAMILIES, type IpCidr, type IpFamily } from '../ip/cidr.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { openNftGeneration } from '../netlink/nft-generation.ts';
import { leaseHalf, type Lease } from '../subnet/lease.ts';
import type { readSubnetEnv } from '../subnet/subnet-env.ts';
import { createTrafficManager, readIptablesDumps, runCommand, type TrafficManager } from '../traffic/index.ts';
import { errorText } from '../util/errors.ts';
import type { DaemonConfig } from './config.ts';
import { FatalError } from './fatal.ts';

/**
 * Masquerade and forward rules per enabled family (iptables and ip6tables, or tables ip
 * flannel-ipv4 and ip6 flannel-ipv6), each with its own checks and repairs. As upstream's
 * CleanUp, the other mode's rules are removed for both families.
 */
export async function setUpTraffic(opts: {
  readonly conf: NetConf;
  readonly lease: Lease;
  /** The previous run's subnet.env, whose network and subnet the masquerade rules replace. */
  readonly prev: Awaited<ReturnType<typeof readSubnetEnv>>;
  readonly config: DaemonConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Ends the rules' periodic resync. */
  readonly signal: AbortSignal;
}): Promise<void> {
  const { conf, lease, prev, config, log, metrics, signal } = opts;
  // One read of both iptables backends decides for both families (it holds both).
  const iptablesDumps = readIptablesDumps(runCommand);
  // Only the periodic checks ask for it, and they run only with rules to keep.
  const nftGeneration = config.ipMasq || config.forwardRules ? openGeneration(log, signal) : undefined;
  const make = (family: IpFamily): TrafficManager =>
    createTrafficManager({
      mode: conf.enableNFTables ? 'nftables' : 'iptables',
      family,
      log,
      resyncSeconds: config.resyncSeconds,
      fullyRandom: config.masqFullyRandom,
      iptablesMode: config.iptablesMode,
      iptablesDumps,
      ...(nftGeneration !== undefined ? { nftGeneration } : {}),
    });
  const managers = new Map<IpFamily, TrafficManager>();
  for (const family of IP_FAMILIES) {
    const m = make(family);
    await m.cleanupOtherMode();
    const network: IpCidr | undefined = family === 'ipv4' ? conf.network : conf.ipv6Network;
    if (network !== undefined) managers.set(family, m);
  }
  // One backend for both families (the detection reads both); the IPv4 manager's choice when there is one.
  const first = managers.get('ipv4') ?? managers.get('ipv6');
  metrics.setIptablesBackend(first?.iptablesBackend ?? '');
  for (const [family, traffic] of managers) {
    const network = (family === 'ipv4' ? conf.network : conf.ipv6Network)!;
    const own = leaseHalf(lease, family)?.subnet;
    const before = family === 'ipv4' ? { network: prev?.network, subnet: prev?.subnet } : { network: prev?.ipv6Network, subnet: prev?.ipv6Subnet };
    if (config.ipMasq && own !== undefined) {
      try {
        await traffic.ensureMasq(network, own, { ...(before.network ? { network: before.network } : {}), ...(before.subnet ? { subnet: before.subnet } : {}) });
      } catch (e) {
        throw new FatalError(`Failed to setup masq rules, ${errorText(e)}`);
      }
    }
    if (config.forwardRules) {
      try {
        await traffic.ensureForward(network);
      } catch (e) {
        throw new FatalError(`Failed to setup forward rules, ${errorText(e)}`);
      }
    }
  }
  if (config.ipMasq || config.forwardRules) {
    for (const traffic of managers.values()) void traffic.runResync(signal);
    metrics.addSource('traffic', () => sumTrafficStats([...managers.values()].map((m) => m.stats())));
  }
}

/**
 * The nf_tables generation for the periodic checks, read over one netlink socket for both
 * families and closed with the resync; undefined (every check reads the rules) when no socket.
 */
function openGeneration(log: Logger, signal: AbortSignal): (() => Promise<number>) | undefined {
  try {
    const reader = openNftGeneration();
    signal.addEventListener('abort', () => reader.close(), { once: true });
    return () => reader.read();
  } catch (e) {
    log.info(`cannot ask nf_tables for its generation (${errorText(e)}); the rules are read at every check instead`);
    return undefined;
  }
}

/** One family's rule stats, or the two families' added up (one metrics source). */
function sumTrafficStats(all: readonly ReturnType<TrafficManager['stats']>[]): ReturnType<TrafficManager['stats']> {
  const [first, ...rest] = all;
  if (first === undefined) throw new Error('no traffic manager');
  return rest.reduce((a, b) => {
    const reasons: Record<string, number> = { ...a.repairsByReason };
    for (const [k, v] of Object.entries(b.repairsByReason)) reasons[k] = (reasons[k] ?? 0) + v;
    const later = b.lastErrorTime > a.lastErrorTime ? b : a;
    return {
      resyncs: a.resyncs + b.resyncs,
      unchanged: a.unchanged + b.unchanged,
      repairs: a.repairs + b.repairs,
      repairsByReason: reasons,
      changes: a.changes + b.changes,
      errors: a.errors + b.errors,
      lastError: later.lastError,
      lastErrorTime: later.lastErrorTime,
    };
  }, first);
}
