import { UdpCounters } from '../backends/udp/counters.ts';
import type { UdpStats } from '../observe/metrics.ts';

/** Before the forwarder starts, every count is zero. */
const NONE = new UdpCounters();

/** The udp datapath's counters in the metrics layer's shape, read at scrape time. */
export function udpStatsOf(counters: UdpCounters | undefined): UdpStats {
  const c = counters ?? NONE;
  return {
    packetsIn: c.rxPackets,
    packetsOut: c.txPackets,
    bytesIn: c.rxBytes,
    bytesOut: c.txBytes,
    drops: {
      'unknown-source': c.dropUnknownSource,
      malformed: c.dropMalformed,
      'not-for-us': c.dropNotForUs,
      'ttl-expired': c.dropTtlExpired,
      'no-route': c.dropNoRoute,
      'send-error': c.dropSend,
      'tun-write-error': c.dropTunWrite,
      'not-ipv4': c.dropTunNotIpv4,
    },
  };
}
