import { containsCidr, containsIp, formatCidr, formatIpv4, maskOf, parseCidr, parseIpv4, type Ipv4Cidr } from './ipv4.ts';
import { containsCidr6, containsIp6, formatCidr6, formatIpv6, maskOf6, parseCidr6, parseIpv6, type Ipv6Cidr } from './ipv6.ts';

/**
 * Either family's CIDR, for the code both families share (route ownership, device addresses,
 * lease halves). The IPv4 type stays a 32-bit number, so the IPv4 hot paths are unchanged; an
 * IPv6 CIDR carries a bigint, which is how the two are told apart.
 */

export type IpFamily = 'ipv4' | 'ipv6';
/** Both families, IPv4 first: the order upstream handles them in, and the order of logs and files. */
export const IP_FAMILIES: readonly IpFamily[] = ['ipv4', 'ipv6'];

export type IpCidr = Ipv4Cidr | Ipv6Cidr;

export function isIpv6Cidr(c: IpCidr): c is Ipv6Cidr {
  return typeof c.ip === 'bigint';
}

export function familyOf(c: IpCidr): IpFamily {
  return isIpv6Cidr(c) ? 'ipv6' : 'ipv4';
}

/** 'IPv4' / 'IPv6', for messages. */
export function familyName(f: IpFamily): string {
  return f === 'ipv4' ? 'IPv4' : 'IPv6';
}

/** `10.244.1.0/24`, `fd00:10:244:1::/64`. */
export function formatAnyCidr(c: IpCidr): string {
  return isIpv6Cidr(c) ? formatCidr6(c) : formatCidr(c);
}

/** Parses a CIDR of the given family (not masked); undefined when it is not one. */
export function parseCidrOf(family: IpFamily, text: string): IpCidr | undefined {
  return family === 'ipv4' ? parseCidr(text) : parseCidr6(text);
}

/** The CIDR's address as text: a subnet's network address, which flannel uses as its gateway. */
export function addressOf(c: IpCidr): string {
  return isIpv6Cidr(c) ? formatIpv6(c.ip) : formatIpv4(c.ip);
}

/** The subnet's first host address as text: the gateway the bridge plugin gives cni0, as subnet.env names it. */
export function gatewayOf(c: IpCidr): string {
  return isIpv6Cidr(c) ? formatIpv6(c.ip + 1n) : formatIpv4((c.ip + 1) >>> 0);
}

/** Whether `text` is an address of the family (no prefix). */
export function isAddressOf(family: IpFamily, text: string): boolean {
  return family === 'ipv4' ? parseIpv4(text) !== undefined : parseIpv6(text) !== undefined;
}

/** True when `inner` lies wholly inside `outer`; false across families. */
export function containsAnyCidr(outer: IpCidr, inner: IpCidr): boolean {
  if (isIpv6Cidr(outer)) return isIpv6Cidr(inner) && containsCidr6(outer, inner);
  return !isIpv6Cidr(inner) && containsCidr(outer, inner);
}

/** True when the address `text` (of the CIDR's family) lies inside `net`. */
export function containsAddress(net: IpCidr, text: string): boolean {
  if (isIpv6Cidr(net)) {
    const ip = parseIpv6(text);
    return ip !== undefined && containsIp6(net, ip);
  }
  const ip = parseIpv4(text);
  return ip !== undefined && containsIp(net, ip);
}

/** True when the two ranges share an address; false across families. */
export function overlapsCidr(a: IpCidr, b: IpCidr): boolean {
  const len = Math.min(a.prefixLen, b.prefixLen);
  if (isIpv6Cidr(a)) {
    if (!isIpv6Cidr(b)) return false;
    const m = maskOf6(len);
    return (a.ip & m) === (b.ip & m);
  }
  if (isIpv6Cidr(b)) return false;
  const m = maskOf(len);
  return ((a.ip & m) >>> 0) === ((b.ip & m) >>> 0);
}

export function cidrEqualsAny(a: IpCidr, b: IpCidr): boolean {
  return a.prefixLen === b.prefixLen && a.ip === b.ip;
}

/** The IP families a cluster runs (net-conf.json's EnableIPv4, EnableIPv6); at least one is on. */
export interface Families {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
}

export const IPV4_ONLY: Families = { ipv4: true, ipv6: false };

/** The enabled families, IPv4 first. */
export function enabledFamilies(f: Families): IpFamily[] {
  return IP_FAMILIES.filter((x) => f[x]);
}
