import { errorText } from '../util/errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { PeerHealthView } from '../doctor/daemon-state.ts';
import { IcmpProber } from '../probe/icmp.ts';
import { PeerHealth } from '../probe/peer-health.ts';
import { healthTargets } from '../probe/targets.ts';
import type { Lease } from '../subnet/lease.ts';

/**
 * Never more probes per second than this, retries included, whatever the peer count. Every node
 * probes every peer, so the cluster sends N² probes per round: at 10 a second (a round spreads
 * over 80% of the interval) a node of a 450-node cluster still sees each peer every minute, one of 10,000 nodes every ~17 minutes,
 * and an idle daemon at 10,000 peers spends ~0.2 s of CPU a minute on it (bench/scale.ts; at
 * 100 a second it was 1.8 s).
 */
export const PEER_HEALTH_MAX_PER_SECOND = 10;
const PROBE_TIMEOUT_MS = 1000;
const ATTEMPTS = 3;

export interface PeerHealthHandle {
  view(): PeerHealthView;
}

/**
 * Starts continuous peer health (--peer-health-interval > 0) for as long as `signal` lives:
 * one raw ICMP socket (and an ICMPv6 one for IPv6-only peers), probes to every peer the running backend reaches (read each round, so
 * a backend switch or new peers need nothing here), counts into the metrics. Without
 * CAP_NET_RAW it logs once and stays off; the daemon works without it.
 */
export function startPeerHealth(opts: {
  readonly intervalSeconds: number;
  readonly peers: () => Iterable<Lease>;
  /** The running backend's type; undefined while none runs (a switch): nothing is probed. */
  readonly backendType: () => string | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly signal: AbortSignal;
}): PeerHealthHandle {
  const { intervalSeconds, log, metrics, signal } = opts;
  const off = (error?: string): PeerHealthHandle => ({
    view: () => ({ enabled: false, intervalSeconds, ...(error !== undefined ? { error } : {}), peersProbed: 0, rounds: 0, unreachable: [] }),
  });
  if (intervalSeconds <= 0) return off();
  let prober: IcmpProber;
  try {
    prober = IcmpProber.open();
  } catch (e) {
    const error = `peer health is off: ${errorText(e)}`;
    log.warn(error);
    return off(error);
  }
  const health = new PeerHealth({
    intervalMs: intervalSeconds * 1000,
    maxPerSecond: PEER_HEALTH_MAX_PER_SECOND,
    timeoutMs: PROBE_TIMEOUT_MS,
    attempts: ATTEMPTS,
    probe: (dst, size, timeoutMs) => prober.probe(dst, size, timeoutMs),
    targets: () => {
      // Every peer is reached the way it advertises (docs/migration.md), so every one is probed.
      return opts.backendType() === undefined ? [] : healthTargets(opts.peers());
    },
    log,
    onRtt: (s) => metrics.observePeerProbeRtt(s),
  });
  metrics.addSource('peerHealth', () => {
    const s = health.stats();
    return {
      peersProbed: s.peersProbed,
      unreachable: s.unreachable,
      probesAnswered: s.probes.answered,
      probesUnanswered: s.probes.unanswered,
      toUnreachable: s.transitions.unreachable,
      toReachable: s.transitions.reachable,
    };
  });
  log.info({ intervalSeconds, maxPerSecond: PEER_HEALTH_MAX_PER_SECOND }, 'peer health: probing every peer through the overlay');
  void health
    .run(signal)
    .catch((e: unknown) => log.error({ err: e }, `peer health stopped: ${errorText(e)}`))
    .finally(() => prober.close());
  return {
    view: () => {
      const s = health.stats();
      return {
        enabled: true,
        intervalSeconds,
        peersProbed: s.peersProbed,
        rounds: s.rounds,
        unreachable: health.unreachable().map((u) => ({ node: u.node, subnet: u.subnet, addr: u.addr, since: new Date(u.sinceMs).toISOString(), reason: u.reason })),
      };
    },
  };
}
