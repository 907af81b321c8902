/**
 * flannel's etcd layout (pkg/subnet/subnet.go MakeSubnetKey/ParseSubnetKey, pkg/lease/lease.go
 * LeaseAttrs): leases at `<prefix>/subnets/10.5.52.0-24` (dual-stack: `…&fd00:5:52::-64`), each value Go's json.Marshal of
 * LeaseAttrs, byte for byte, so upstream flanneld and flannel-ts nodes share one etcd.
 */
import { errorText } from '../../util/errors.ts';
import { posix } from 'node:path';
import { formatIpv4, maskOf, parseIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import { formatIpv6, maskOf6, parseIpv6, type Ipv6Cidr } from '../../ip/ipv6.ts';
import type { LeaseAttrs } from '../lease.ts';

/** `<prefix>/config` with Go's path.Join cleaning (`/coreos.com/network/` → `/coreos.com/network/config`). */
export function configKey(prefix: string): string {
  return posix.join(prefix, 'config');
}

/** The directory the leases live in, with a trailing `/` (the range flannel lists and watches). */
export function subnetsPrefix(prefix: string): string {
  return `${posix.join(prefix, 'subnets')}/`;
}

/** The subnets a lease key names: always IPv4; IPv6 too in a dual-stack network. */
export interface SubnetKey {
  readonly subnet: Ipv4Cidr;
  readonly ipv6Subnet?: Ipv6Cidr;
}

/** MakeSubnetKey: `10.5.52.0-24`, or `10.5.52.0-24&fd00:5:52::-64` with an IPv6 subnet. */
export function subnetKeyName(subnet: Ipv4Cidr, ipv6Subnet?: Ipv6Cidr): string {
  const v4 = `${formatIpv4(subnet.ip)}-${subnet.prefixLen}`;
  return ipv6Subnet === undefined ? v4 : `${v4}&${formatIpv6(ipv6Subnet.ip)}-${ipv6Subnet.prefixLen}`;
}

// Upstream's pattern, unanchored at the start and with its unescaped dots.
const KEY = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/**
 * The subnets a lease key names, or why it names none. Stricter than upstream: each address must
 * be its subnet's network address (10.5.52.1-24 would give routes the kernel refuses).
 */
export function parseSubnetKey(key: string): SubnetKey | string {
  const m = KEY.exec(key);
  if (m === null) return 'is not a subnet key (expected <ip>-<prefix length>, e.g. 10.5.52.0-24)';
  const ip = parseIpv4(m[1]!);
  // Go parses the lengths with ParseUint(s, 10, 5) and ParseUint(s, 10, 7): 0..31 and 0..127.
  const len = /^\d{1,2}$/.test(m[2]!) ? Number(m[2]) : 99;
  if (ip === undefined || len > 31) return `names no IPv4 subnet (${m[1]}-${m[2]})`;
  if (((ip & maskOf(len)) >>> 0) !== ip) return `names ${m[1]}/${len}, which is not a network address (expected ${formatIpv4((ip & maskOf(len)) >>> 0)}-${len})`;
  const subnet = { ip, prefixLen: len };
  if (m[3] === undefined) return { subnet };
  const ip6 = parseIpv6(m[3]);
  const len6 = /^\d{1,3}$/.test(m[4]!) ? Number(m[4]) : 999;
  if (ip6 === undefined || len6 > 127) return `names no IPv6 subnet (${m[3]}-${m[4]})`;
  const net6 = ip6 & maskOf6(len6);
  if (net6 !== ip6) return `names ${m[3]}/${len6}, which is not a network address (expected ${formatIpv6(net6)}-${len6})`;
  return { subnet, ipv6Subnet: { ip: ip6, prefixLen: len6 } };
}

/**
 * json.Marshal(LeaseAttrs): PublicIP, PublicIPv6 (null when absent: no omitempty), then
 * BackendType, BackendData, BackendV6Data, each left out when empty. The backend data is
 * embedded as raw JSON, as Go's json.RawMessage does; host-gw's `null` means none.
 */
export function encodeLeaseValue(attrs: LeaseAttrs): string {
  // Every etcd lease has an IPv4 half (upstream keys leases by it): PublicIP is always there.
  let out = `{"PublicIP":${JSON.stringify(attrs.publicIp ?? '')},"PublicIPv6":${attrs.publicIpv6 ? JSON.stringify(attrs.publicIpv6) : 'null'}`;
  if (attrs.backendType !== '') out += `,"BackendType":${JSON.stringify(attrs.backendType)}`;
  const data = attrs.backendData ?? 'null';
  if (hasData(data)) out += `,"BackendData":${compactJson(data)}`;
  if (attrs.backendV6Data !== undefined && hasData(attrs.backendV6Data)) out += `,"BackendV6Data":${compactJson(attrs.backendV6Data)}`;
  return `${out}}`;
}

function hasData(raw: string): boolean {
  return raw !== '' && raw !== 'null';
}

/** Go compacts a RawMessage when it marshals it. */
function compactJson(raw: string): string {
  return JSON.stringify(JSON.parse(raw));
}

/** A lease value flannel cannot use; the message says what is wrong with it. */
export class MalformedLeaseError extends Error {
  override readonly name = 'MalformedLeaseError';
}

/**
 * Decodes a lease value as Go's json.Unmarshal into LeaseAttrs would (field names match case-
 * insensitively, unknown fields are ignored), but refuses a lease no peer can use: no PublicIP.
 */
export function decodeLeaseValue(text: string): LeaseAttrs {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new MalformedLeaseError(`value is not JSON (${errorText(e)})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new MalformedLeaseError('value is not a JSON object');
  const fields = new Map<string, unknown>();
  // Go takes the last of several case variants of one field.
  for (const [k, v] of Object.entries(doc)) fields.set(k.toLowerCase(), v);
  const publicIp = fields.get('publicip');
  if (typeof publicIp !== 'string' || parseIpv4(publicIp) === undefined) {
    throw new MalformedLeaseError(`PublicIP ${JSON.stringify(publicIp) ?? 'missing'} is not an IPv4 address`);
  }
  const rawIpv6 = fields.get('publicipv6');
  const ipv6 = typeof rawIpv6 === 'string' ? parseIpv6(rawIpv6) : undefined;
  if (rawIpv6 !== undefined && rawIpv6 !== null && ipv6 === undefined) throw new MalformedLeaseError(`PublicIPv6 ${JSON.stringify(rawIpv6)} is not an IPv6 address`);
  // Canonical, as Go prints the ip.IP6 it parsed (and as the node annotations carry it).
  const publicIpv6 = ipv6 === undefined ? undefined : formatIpv6(ipv6);
  const backendType = fields.get('backendtype') ?? '';
  if (typeof backendType !== 'string') throw new MalformedLeaseError('BackendType is not a string');
  const data = fields.get('backenddata');
  const v6 = fields.get('backendv6data');
  return {
    publicIp,
    ...(publicIpv6 !== undefined ? { publicIpv6 } : {}),
    backendType,
    backendData: data === undefined ? 'null' : JSON.stringify(data),
    ...(v6 === undefined || v6 === null ? {} : { backendV6Data: JSON.stringify(v6) }),
  };
}
