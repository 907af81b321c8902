import { isIPv6 } from 'node:net';

/**
 * Just enough IPv6 for net-conf.json's IPv6Network: parse, mask to the network, print in the
 * canonical form Go prints (RFC 5952). The IPv6 data path comes later; this only keeps the value.
 */

/** Parses `addr/len` and returns it masked and canonical (`fc00::5/48` → `fc00::/48`); undefined if invalid. */
export function normalizeIpv6Cidr(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIpv6(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (addr === undefined || !/^\d{1,3}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (len > 128) return undefined;
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
  return `${formatIpv6(addr & mask)}/${len}`;
}

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
