import type { IpFamily } from '../ip/cidr.ts';
import { parseIpv4 } from '../ip/ipv4.ts';
import { parseIpv6 } from '../ip/ipv6.ts';
import type { Addr } from '../netlink/types.ts';
import { AF_INET, AF_INET6, IFA_F_DEPRECATED, IFA_F_PERMANENT, IFA_F_SECONDARY } from '../netlink/types.ts';

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

/** Go's IsGlobalUnicast for IPv6: not ::, ::1, multicast (ff00::/8) or link-local (fe80::/10); ULAs count as global. */
export function isGlobalUnicast6(ip: bigint): boolean {
  if (ip === 0n || ip === 1n || ip >> 120n === 0xffn) return false;
  return !isLinkLocal6(ip);
}

export function isLinkLocal6(ip: bigint): boolean {
  return ip >> 118n === 0x3fan; // fe80::/10
}

/** Whether an address of `family` counts for upstream at all: global or link-local unicast; undefined if not of the family. */
export function unicastKind(family: IpFamily, text: string): 'global' | 'link-local' | 'other' | undefined {
  if (family === 'ipv4') {
    const ip = parseIpv4(text);
    if (ip === undefined) return undefined;
    return isGlobalUnicast4(ip) ? 'global' : isLinkLocal4(ip) ? 'link-local' : 'other';
  }
  const ip = parseIpv6(text);
  if (ip === undefined) return undefined;
  return isGlobalUnicast6(ip) ? 'global' : isLinkLocal6(ip) ? 'link-local' : 'other';
}

/**
 * The address upstream would pick on one interface (the same for IPv4 and IPv6 in upstream's
 * pkg/ip/iface.go): global or link-local unicast, not deprecated; global before
 * link-local, then permanent first, then non-temporary first; otherwise kernel order. Undefined
 * when none qualifies.
 */
export function pickAddress(addrs: readonly Addr[], family: IpFamily = 'ipv4'): Addr | undefined {
  const af = family === 'ipv4' ? AF_INET : AF_INET6;
  const usable: { a: Addr; rank: number; order: number }[] = [];
  addrs.forEach((a, order) => {
    if (a.family !== af) return;
    const kind = unicastKind(family, a.address);
    if (kind === undefined || kind === 'other') return;
    const flags = a.flags ?? 0;
    if ((flags & IFA_F_DEPRECATED) !== 0) return;
    // Lower rank sorts first: the three criteria as bits, most significant first. IFA_F_SECONDARY
    // is IFA_F_TEMPORARY for IPv6 (the same bit).
    const rank = (kind === 'global' ? 0 : 4) + ((flags & IFA_F_PERMANENT) !== 0 ? 0 : 2) + ((flags & IFA_F_SECONDARY) !== 0 ? 1 : 0);
    usable.push({ a, rank, order });
  });
  usable.sort((x, y) => x.rank - y.rank || x.order - y.order);
  return usable[0]?.a;
}
