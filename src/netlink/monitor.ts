/**
 * Netlink monitor: a socket joined to rtnetlink multicast groups, read whenever uv_poll says
 * it is readable. ENOBUFS means the kernel dropped notifications (our queue overflowed); the
 * caller must then resync from a full list, so it is reported, never swallowed.
 */
import {
  RTM_DELADDR, RTM_DELLINK, RTM_DELNEIGH, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH,
  RTM_NEWROUTE, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE, RTNLGRP_LINK,
  RTNLGRP_NEIGH,
} from './constants.ts';
import { KernelError } from './errors.ts';
import { messageLength } from './reader.ts';
import { decodeLink } from './link.ts';
import { decodeAddr } from './addr.ts';
import { decodeRoute } from './route.ts';
import { decodeNeigh } from './neigh.ts';
import { EAGAIN, ENOBUFS, NlSocket } from './socket.ts';
import type { NetlinkChange } from './types.ts';

export type MonitorGroup = 'link' | 'addr' | 'route' | 'neigh';

export interface MonitorOptions {
  readonly netns?: string;
  readonly groups: readonly MonitorGroup[];
  /** Notifications were lost (ENOBUFS): list everything again. */
  readonly onOverflow?: () => void;
  /** A message that would not decode, or a socket error; the monitor keeps running. */
  readonly onError?: (e: Error) => void;
  /** Kernel receive queue in bytes; default 32 MiB. Tests shrink it to force an overflow. */
  readonly rcvbuf?: number;
}

const GROUPS: Record<MonitorGroup, readonly number[]> = {
  link: [RTNLGRP_LINK],
  addr: [RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR],
  route: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE],
  // fdb changes (AF_BRIDGE) are sent to RTNLGRP_NEIGH too
  neigh: [RTNLGRP_NEIGH],
};

/** Reads per readiness callback at most this many buffers, so a flood cannot starve the loop. */
const MAX_READS_PER_WAKE = 64;

/** Decodes one notification; undefined for message types the monitor does not report. */
export function decodeChange(buf: Buffer, start: number, len: number, type: number): NetlinkChange | undefined {
  switch (type) {
    case RTM_NEWLINK: case RTM_DELLINK:
      return { kind: 'link', deleted: type === RTM_DELLINK, link: decodeLink(buf, start, len) };
    case RTM_NEWADDR: case RTM_DELADDR:
      return { kind: 'addr', deleted: type === RTM_DELADDR, addr: decodeAddr(buf, start, len) };
    case RTM_NEWROUTE: case RTM_DELROUTE:
      return { kind: 'route', deleted: type === RTM_DELROUTE, route: decodeRoute(buf, start, len) };
    case RTM_NEWNEIGH: case RTM_DELNEIGH:
      return { kind: 'neigh', deleted: type === RTM_DELNEIGH, neigh: decodeNeigh(buf, start, len) };
    default:
      return undefined;
  }
}

export function openMonitor(opts: MonitorOptions, onChange: (c: NetlinkChange) => void): { close(): void } {
  const groups = [...new Set(opts.groups.flatMap((g) => GROUPS[g]))];
  // Our own batches of thousands of changes echo back here; a large queue absorbs them.
  const sock = new NlSocket({ netns: opts.netns, groups, rcvbuf: opts.rcvbuf ?? 32 * 1024 * 1024 });
  const report = (e: Error): void => {
    if (opts.onError !== undefined) opts.onError(e);
  };
  sock.watch(() => {
    for (let i = 0; i < MAX_READS_PER_WAKE && !sock.isClosed; i++) {
      const n = sock.tryRecv();
      if (n === -EAGAIN) return;
      if (n === -ENOBUFS) { opts.onOverflow?.(); continue; }
      if (n < 0) { report(new KernelError(-n, 'netlink monitor', 'recvmsg')); return; }
      let pos = 0;
      while (pos < n) {
        let len: number;
        try { len = messageLength(sock.rx, pos, n); } catch (e) { report(e as Error); break; }
        const type = sock.rx.readUInt16LE(pos + 4);
        let change: NetlinkChange | undefined;
        try { change = decodeChange(sock.rx, pos, len, type); } catch (e) { report(e as Error); }
        if (change !== undefined) onChange(change);
        pos += (len + 3) & ~3;
      }
    }
  });
  return { close: () => sock.close() };
}
