import { parseIpv4 } from '../ip/ipv4.ts';
import type { Addr } from '../netlink/types.ts';
import { AF_INET, IFA_F_DEPRECATED, IFA_F_PERMANENT, IFA_F_SECONDARY } from '../netlink/types.ts';

/** The IFA_F_* flags that decide which address an interface offers (linux/if_addr.h). */
export { IFA_F_DEPRECATED, IFA_F_PERMANENT, IFA_F_SECONDARY };

/**
 * Go's net.IP.IsGlobalUnicast for IPv4, which upstream filters on: not unspecified, loopback,
 * multicast, limited broadcast or link-local. Private ranges count as global.
 */
export function isGlobalUnicast4(ip: number): boolean {
  const first = ip >>> 24;
  if (ip === 0 || ip === 0xffffffff) return false;
  if (first === 127 || (first >= 224 && first <= 239)) return false;
  return !isLinkLocal4(ip);
}

export function isLinkLocal4(ip: number): boolean {
  return ip >>> 16 === 0xa9fe; // 169.254.0.0/16
}

/**
 * The address upstream would pick on one interface (LookupExtIface in upstream's pkg/ipmatch/match.go): global or
 * link-local unicast, not deprecated; global before link-local, then permanent first, then
 * non-temporary first; otherwise kernel order. Undefined when none qualifies.
 */
export function pickAddress(addrs: readonly Addr[]): Addr | undefined {
  const usable: { a: Addr; rank: number; order: number }[] = [];
  addrs.forEach((a, order) => {
    if (a.family !== AF_INET) return;
    const ip = parseIpv4(a.address);
    if (ip === undefined) return;
    const flags = a.flags ?? 0;
    if ((flags & IFA_F_DEPRECATED) !== 0) return;
    const global = isGlobalUnicast4(ip);
    if (!global && !isLinkLocal4(ip)) return;
    // Lower rank sorts first: the three criteria as bits, most significant first.
    const rank = (global ? 0 : 4) + ((flags & IFA_F_PERMANENT) !== 0 ? 0 : 2) + ((flags & IFA_F_SECONDARY) !== 0 ? 1 : 0);
    usable.push({ a, rank, order });
  });
  usable.sort((x, y) => x.rank - y.rank || x.order - y.order);
  return usable[0]?.a;
}
