/**
 * Datapath counters: plain integers bumped in the packet loop and read by the metrics layer
 * at scrape time (no per-packet metric calls). Totals since the forwarder started.
 */
export class UdpCounters {
  /** Reads from the TUN device (a TSO super-packet counts once). */
  tunReads = 0;
  /** Datagrams sent to peers (after segmentation) and their bytes (IPv4 packet bytes). */
  txPackets = 0;
  txBytes = 0;
  /** Datagrams from peers accepted and written to the TUN device, and their bytes. */
  rxPackets = 0;
  rxBytes = 0;
  /** TUN writes (a coalesced super-packet counts once). */
  tunWrites = 0;
  /** Runs of equal-size packets to one peer sent as one UDP_SEGMENT message, and the packets in them. */
  sendRuns = 0;
  sendRunPackets = 0;
  /** UDP runs written to the TUN as one GSO_UDP_L4 write, and the datagrams in them. */
  udpRuns = 0;
  udpCoalesced = 0;
  /** Times the receive loop gave up the CPU after delivering a large batch into the TUN (udp-to-tun.ts YIELD_AFTER). */
  yields = 0;

  /** Datagram from an address that is no known peer's public IP. */
  dropUnknownSource = 0;
  /**
   * Not a well-formed IPv4 packet (version, lengths, header checksum), or truncated: from a
   * peer, or (not seen in practice) a TUN offload packet of a kind we do not handle.
   */
  dropMalformed = 0;
  /**
   * Read from the TUN device but not IPv4: the kernel's own IPv6 traffic on flannel0 (router
   * solicitations, MLD reports) when IPv6 could not be disabled on the device. Never from a peer.
   */
  dropTunNotIpv4 = 0;
  /** From a peer, but the destination is outside our own subnet. */
  dropNotForUs = 0;
  /** TTL was ≤ 1 (either direction). */
  dropTtlExpired = 0;
  /** From the TUN device to an address no lease covers. */
  dropNoRoute = 0;
  /** Datagrams the socket refused (buffer full, unreachable, …). */
  dropSend = 0;
  /** Packets the TUN device refused. */
  dropTunWrite = 0;

  icmpUnreachableSent = 0;
  icmpUnreachableRateLimited = 0;
  /** read/recv errors other than EAGAIN. */
  readErrors = 0;
}
