/**
 * Picking a subnet in etcd mode (pkg/subnet/etcd/local_manager.go allocateSubnet,
 * isSubnetConfigCompat): pure functions over the leases listed from etcd.
 */
import { randomInt } from 'node:crypto';
import type { NetConf } from '../../config/types.ts';
import type { IpFamily } from '../../ip/cidr.ts';
import { formatCidr, formatIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import { formatCidr6, formatIpv6, type Ipv6Cidr } from '../../ip/ipv6.ts';
import type { LeaseAttrs } from '../lease.ts';

/** The allocation range of a validated config (NetConf's defaults applied). */
export interface SubnetRange {
  readonly subnetLen: number;
  readonly subnetMin: number;
  readonly subnetMax: number;
  /** A dual-stack network's IPv6 range (IPv6SubnetLen, IPv6SubnetMin, IPv6SubnetMax). */
  readonly ipv6?: Ipv6SubnetRange;
}

export interface Ipv6SubnetRange {
  readonly subnetLen: number;
  readonly subnetMin: bigint;
  readonly subnetMax: bigint;
}

/** The allocation range of a validated config; the IPv6 one in a dual-stack network. */
export function subnetRangeOf(conf: NetConf): SubnetRange {
  const v4 = { subnetLen: conf.subnetLen, subnetMin: conf.subnetMin!, subnetMax: conf.subnetMax! };
  if (!conf.enableIPv6) return v4;
  return { ...v4, ipv6: { subnetLen: conf.ipv6SubnetLen, subnetMin: conf.ipv6SubnetMin!, subnetMax: conf.ipv6SubnetMax! } };
}

/** A key under `<prefix>/subnets/` as listed. */
export interface StoredLease {
  readonly key: string;
  readonly subnet: Ipv4Cidr;
  /** The IPv6 half of a dual-stack key. */
  readonly ipv6Subnet?: Ipv6Cidr;
  /** Undefined when the value cannot be decoded (the subnets are still taken). */
  readonly attrs?: LeaseAttrs;
  /** The etcd lease the key is attached to; '0' is a reservation (no TTL). */
  readonly lease: string;
  readonly createRevision: number;
}

/** Upstream's candidate limit: the pick is uniform among the first 100 free subnets. */
export const MAX_CANDIDATES = 100;

/** Whether an IPv4 subnet can be kept under this config: inside [SubnetMin, SubnetMax] with SubnetLen. */
export function isSubnetCompatible(range: SubnetRange, subnet: Ipv4Cidr): boolean {
  return subnet.prefixLen === range.subnetLen && subnet.ip >= range.subnetMin && subnet.ip <= range.subnetMax;
}

/**
 * The same for a key's IPv6 half (isIPv6SubnetConfigCompat): a network without IPv6 wants none,
 * a dual-stack one wants one inside [IPv6SubnetMin, IPv6SubnetMax] with IPv6SubnetLen.
 */
export function isIpv6SubnetCompatible(range: SubnetRange, subnet: Ipv6Cidr | undefined): boolean {
  const r = range.ipv6;
  if (r === undefined || subnet === undefined) return r === undefined && subnet === undefined;
  return subnet.prefixLen === r.subnetLen && subnet.ip >= r.subnetMin && subnet.ip <= r.subnetMax;
}

export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return overlap(span(a, 32), span(b, 32));
}

export function overlaps6(a: Ipv6Cidr, b: Ipv6Cidr): boolean {
  return overlap(span(a, 128), span(b, 128));
}

/** A subnet as its first and last address. */
interface Span {
  readonly first: bigint;
  readonly last: bigint;
}

function span(c: { readonly ip: number | bigint; readonly prefixLen: number }, bits: number): Span {
  const first = BigInt(c.ip);
  return { first, last: first + (1n << BigInt(bits - c.prefixLen)) - 1n };
}

function overlap(a: Span, b: Span): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * Up to `limit` subnets of SubnetLen from SubnetMin on, in order, that overlap no taken subnet.
 * One sorted sweep instead of upstream's leases × candidates loop (thousands of leases).
 */
export function freeSubnets(range: SubnetRange, taken: readonly Ipv4Cidr[], limit = MAX_CANDIDATES): Ipv4Cidr[] {
  const free = freeBlocks(BigInt(range.subnetMin), BigInt(range.subnetMax), range.subnetLen, 32, taken.map((c) => span(c, 32)), limit);
  return free.map((ip) => ({ ip: Number(ip), prefixLen: range.subnetLen }));
}

/** freeSubnets for a dual-stack network's IPv6 range. */
export function freeSubnets6(range: Ipv6SubnetRange, taken: readonly Ipv6Cidr[], limit = MAX_CANDIDATES): Ipv6Cidr[] {
  return freeBlocks(range.subnetMin, range.subnetMax, range.subnetLen, 128, taken.map((c) => span(c, 128)), limit).map((ip) => ({ ip, prefixLen: range.subnetLen }));
}

function freeBlocks(min: bigint, max: bigint, len: number, bits: number, taken: readonly Span[], limit: number): bigint[] {
  const sorted = [...taken].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const size = 1n << BigInt(bits - len);
  const out: bigint[] = [];
  let j = 0;
  for (let ip = min; ip <= max && out.length < limit; ip += size) {
    const end = ip + size - 1n;
    // Spans before j ended before an earlier candidate began, so before this one too.
    while (j < sorted.length && sorted[j]!.last < ip) j++;
    let free = true;
    for (let k = j; k < sorted.length && sorted[k]!.first <= end; k++) {
      if (sorted[k]!.last >= ip) {
        free = false;
        break;
      }
    }
    if (free) out.push(ip);
  }
  return out;
}

/** A uniform pick among the candidates, as upstream's randInt. */
export function pickSubnet<C>(candidates: readonly C[]): C | undefined {
  return candidates.length === 0 ? undefined : candidates[randomInt(candidates.length)];
}

/** No free subnet in the range. */
export class OutOfSubnetsError extends Error {
  override readonly name = 'OutOfSubnetsError';
}

/** A listed lease's subnets as its key names them: `10.5.1.0/24` or `10.5.1.0/24&fd00:5:1::/64`. */
function subnetsOf(l: StoredLease): string {
  return l.ipv6Subnet === undefined ? formatCidr(l.subnet) : `${formatCidr(l.subnet)}&${formatCidr6(l.ipv6Subnet)}`;
}

/**
 * Upstream says only `out of subnets`. This names the range (the IPv6 one when that is what ran
 * out), how many subnets it has, how many leases hold them (reservations apart) and the oldest
 * holders, which after node churn are the usual suspects (leases live 24 h after a node is gone),
 * and how to free room.
 */
export function outOfSubnetsMessage(range: SubnetRange, leases: readonly StoredLease[], dir: string, family: IpFamily = 'ipv4', show = 3): string {
  const r6 = family === 'ipv6' ? range.ipv6 : undefined;
  const [len, first, last, total] =
    r6 !== undefined
      ? [r6.subnetLen, formatIpv6(r6.subnetMin), formatIpv6(r6.subnetMax), ((r6.subnetMax - r6.subnetMin) >> BigInt(128 - r6.subnetLen)) + 1n]
      : [range.subnetLen, formatIpv4(range.subnetMin), formatIpv4(range.subnetMax), Math.floor((range.subnetMax - range.subnetMin) / 2 ** (32 - range.subnetLen)) + 1];
  const reservations = leases.filter((l) => l.lease === '0').length;
  const byAge = leases.filter((l) => l.lease !== '0').sort((a, b) => a.createRevision - b.createRevision);
  const oldest = byAge.slice(0, show).map((l) => `${subnetsOf(l)} held by ${l.attrs?.publicIp ?? '(unreadable value)'} (created at revision ${l.createRevision})`);
  return (
    `out of ${r6 !== undefined ? 'IPv6 ' : ''}subnets: all ${total} /${len} subnets from ${first} to ${last} are taken; ` +
    `${leases.length} leases under ${dir}${reservations > 0 ? ` (${reservations} of them reservations without TTL)` : ''}` +
    `${oldest.length > 0 ? `; oldest holders: ${oldest.join(', ')}` : ''}. ` +
    `Leases of nodes that are gone expire 24 h after their last renewal; free a subnet now with \`etcdctl del ${byAge[0]?.key ?? `${dir}<ip>-<len>`}\`, ` +
    (r6 !== undefined ? 'or widen IPv6Network, IPv6SubnetMin or IPv6SubnetMax' : 'or widen Network, SubnetMin or SubnetMax')
  );
}
