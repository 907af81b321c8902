import { isIPv6 } from 'node:net';

/**
 * IPv6 addresses and CIDRs as 128-bit bigints, the IPv6 half of ipv4.ts: parse, mask, compare,
 * and print in the canonical form Go prints (RFC 5952), which upstream writes into subnet.env
 * and the node annotations. IPv6 peers are compared per reconcile far less often than the IPv4
 * hot path, so bigint arithmetic is fast enough here.
 */

/** A network in CIDR form; `ip` is the address as an unsigned 128-bit integer. */
export interface Ipv6Cidr {
  readonly ip: bigint;
  readonly prefixLen: number;
}

const ALL_ONES = (1n << 128n) - 1n;

/** An IPv6 address (no zone) as a 128-bit integer; undefined if invalid. */
export function parseIpv6(s: string): bigint | undefined {
  if (s.includes('%') || !isIPv6(s)) return undefined;
  let text = s;
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : zeros).fill('0'), ...tailGroups];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  return v;
}

/** RFC 5952: lower-case hex, the longest run (first if tied) of two or more zero groups as `::`. */
export function formatIpv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The netmask of a prefix length (0n for /0). */
export function maskOf6(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (ALL_ONES << BigInt(128 - prefixLen)) & ALL_ONES;
}

/** Parses `addr/len`; undefined if malformed. The address is kept as given (not masked). */
export function parseCidr6(s: string): Ipv6Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIpv6(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 128) return undefined;
  return { ip, prefixLen };
}

/** The network address form: `fc00::5/48` → `fc00::/48`. */
export function networkOf6(c: Ipv6Cidr): Ipv6Cidr {
  return { ip: c.ip & maskOf6(c.prefixLen), prefixLen: c.prefixLen };
}

export function formatCidr6(c: Ipv6Cidr): string {
  return `${formatIpv6(c.ip)}/${c.prefixLen}`;
}

/** Parses `addr/len` and returns it masked and canonical (`fc00::5/48` → `fc00::/48`); undefined if invalid. */
export function normalizeIpv6Cidr(s: string): string | undefined {
  const c = parseCidr6(s);
  return c === undefined ? undefined : formatCidr6(networkOf6(c));
}

/** True when `inner` lies wholly inside `outer`. */
export function containsCidr6(outer: Ipv6Cidr, inner: Ipv6Cidr): boolean {
  if (inner.prefixLen < outer.prefixLen) return false;
  const m = maskOf6(outer.prefixLen);
  return (inner.ip & m) === (outer.ip & m);
}

export function containsIp6(net: Ipv6Cidr, ip: bigint): boolean {
  const m = maskOf6(net.prefixLen);
  return (ip & m) === (net.ip & m);
}

export function cidrEquals6(a: Ipv6Cidr, b: Ipv6Cidr): boolean {
  return a.ip === b.ip && a.prefixLen === b.prefixLen;
}
