/**
 * Picking a subnet in etcd mode (pkg/subnet/etcd/local_manager.go allocateSubnet,
 * isSubnetConfigCompat): pure functions over the leases listed from etcd.
 */
import { randomInt } from 'node:crypto';
import { formatCidr, formatIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import type { LeaseAttrs } from '../lease.ts';

/** The allocation range of a validated config (NetConf's defaults applied). */
export interface SubnetRange {
  readonly subnetLen: number;
  readonly subnetMin: number;
  readonly subnetMax: number;
}

/** A key under `<prefix>/subnets/` as listed. */
export interface StoredLease {
  readonly key: string;
  readonly subnet: Ipv4Cidr;
  /** Undefined when the value cannot be decoded (the subnet is still taken). */
  readonly attrs?: LeaseAttrs;
  /** The etcd lease the key is attached to; '0' is a reservation (no TTL). */
  readonly lease: string;
  readonly createRevision: number;
}

/** Upstream's candidate limit: the pick is uniform among the first 100 free subnets. */
export const MAX_CANDIDATES = 100;

/** Whether a lease can be kept under this config: inside [SubnetMin, SubnetMax] with SubnetLen. */
export function isSubnetCompatible(range: SubnetRange, subnet: Ipv4Cidr): boolean {
  return subnet.prefixLen === range.subnetLen && subnet.ip >= range.subnetMin && subnet.ip <= range.subnetMax;
}

function lastIp(c: Ipv4Cidr): number {
  return c.ip + 2 ** (32 - c.prefixLen) - 1;
}

export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.ip <= lastIp(b) && b.ip <= lastIp(a);
}

/**
 * Up to `limit` subnets of SubnetLen from SubnetMin on, in order, that overlap no taken subnet.
 * One sorted sweep instead of upstream's leases × candidates loop (thousands of leases).
 */
export function freeSubnets(range: SubnetRange, taken: readonly Ipv4Cidr[], limit = MAX_CANDIDATES): Ipv4Cidr[] {
  const sorted = [...taken].sort((a, b) => a.ip - b.ip);
  const size = 2 ** (32 - range.subnetLen);
  const out: Ipv4Cidr[] = [];
  let j = 0;
  for (let ip = range.subnetMin; ip <= range.subnetMax && out.length < limit; ip += size) {
    const end = ip + size - 1;
    // Intervals before j ended before an earlier candidate began, so before this one too.
    while (j < sorted.length && lastIp(sorted[j]!) < ip) j++;
    let free = true;
    for (let k = j; k < sorted.length && sorted[k]!.ip <= end; k++) {
      if (lastIp(sorted[k]!) >= ip) {
        free = false;
        break;
      }
    }
    if (free) out.push({ ip, prefixLen: range.subnetLen });
  }
  return out;
}

/** A uniform pick among the candidates, as upstream's randInt. */
export function pickSubnet(candidates: readonly Ipv4Cidr[]): Ipv4Cidr | undefined {
  return candidates.length === 0 ? undefined : candidates[randomInt(candidates.length)];
}

/** No free subnet in the range. */
export class OutOfSubnetsError extends Error {
  override readonly name = 'OutOfSubnetsError';
}

/**
 * Upstream says only `out of subnets`. This names the range, how many subnets it has, how many
 * leases hold them (reservations apart) and the oldest holders, which after node churn are the
 * usual suspects (leases live 24 h after a node is gone), and how to free room.
 */
export function outOfSubnetsMessage(range: SubnetRange, leases: readonly StoredLease[], dir: string, show = 3): string {
  const size = 2 ** (32 - range.subnetLen);
  const total = Math.floor((range.subnetMax - range.subnetMin) / size) + 1;
  const reservations = leases.filter((l) => l.lease === '0').length;
  const oldest = [...leases]
    .filter((l) => l.lease !== '0')
    .sort((a, b) => a.createRevision - b.createRevision)
    .slice(0, show)
    .map((l) => `${formatCidr(l.subnet)} held by ${l.attrs?.publicIp ?? '(unreadable value)'} (created at revision ${l.createRevision})`);
  const first = oldest.length > 0 ? leases.filter((l) => l.lease !== '0').sort((a, b) => a.createRevision - b.createRevision)[0]! : undefined;
  return (
    `out of subnets: all ${total} /${range.subnetLen} subnets from ${formatIpv4(range.subnetMin)} to ${formatIpv4(range.subnetMax)} are taken; ` +
    `${leases.length} leases under ${dir}${reservations > 0 ? ` (${reservations} of them reservations without TTL)` : ''}` +
    `${oldest.length > 0 ? `; oldest holders: ${oldest.join(', ')}` : ''}. ` +
    `Leases of nodes that are gone expire 24 h after their last renewal; free a subnet now with \`etcdctl del ${first?.key ?? `${dir}<ip>-<len>`}\`, or widen Network, SubnetMin or SubnetMax`
  );
}
