/**
 * flannel's etcd layout (pkg/subnet/subnet.go MakeSubnetKey/ParseSubnetKey, pkg/lease/lease.go
 * LeaseAttrs): leases at `<prefix>/subnets/10.5.52.0-24`, each value Go's json.Marshal of
 * LeaseAttrs, byte for byte, so upstream flanneld and flannel-ts nodes share one etcd.
 */
import { errorText } from '../../util/errors.ts';
import { posix } from 'node:path';
import { formatIpv4, maskOf, parseIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import type { LeaseAttrs } from '../lease.ts';

/** `<prefix>/config` with Go's path.Join cleaning (`/coreos.com/network/` → `/coreos.com/network/config`). */
export function configKey(prefix: string): string {
  return posix.join(prefix, 'config');
}

/** The directory the leases live in, with a trailing `/` (the range flannel lists and watches). */
export function subnetsPrefix(prefix: string): string {
  return `${posix.join(prefix, 'subnets')}/`;
}

/** `10.5.52.0/24` → `10.5.52.0-24` (IPv4 only: dual-stack keys append `&<v6>-<len>`). */
export function subnetKeyName(subnet: Ipv4Cidr): string {
  return `${formatIpv4(subnet.ip)}-${subnet.prefixLen}`;
}

// Upstream's pattern, unanchored at the start and with its unescaped dots.
const KEY = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/**
 * The IPv4 subnet a lease key names, or why it names none. Stricter than upstream: the address
 * must be the subnet's network address (10.5.52.1-24 would give routes the kernel refuses).
 * A dual-stack key's IPv6 part is accepted and ignored (flannel-ts has no IPv6 data path yet).
 */
export function parseSubnetKey(key: string): Ipv4Cidr | string {
  const m = KEY.exec(key);
  if (m === null) return 'is not a subnet key (expected <ip>-<prefix length>, e.g. 10.5.52.0-24)';
  const ip = parseIpv4(m[1]!);
  // Go parses the length with ParseUint(s, 10, 5): 0..31.
  const len = /^\d{1,2}$/.test(m[2]!) ? Number(m[2]) : 99;
  if (ip === undefined || len > 31) return `names no IPv4 subnet (${m[1]}-${m[2]})`;
  if (((ip & maskOf(len)) >>> 0) !== ip) return `names ${m[1]}/${len}, which is not a network address (expected ${formatIpv4((ip & maskOf(len)) >>> 0)}-${len})`;
  return { ip, prefixLen: len };
}

/**
 * json.Marshal(LeaseAttrs): PublicIP, PublicIPv6 (null when absent: no omitempty), then
 * BackendType, BackendData, BackendV6Data, each left out when empty. The backend data is
 * embedded as raw JSON, as Go's json.RawMessage does; host-gw's `null` means none.
 */
export function encodeLeaseValue(attrs: LeaseAttrs): string {
  // etcd mode is IPv4: its leases always carry PublicIP and BackendData.
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
  const publicIpv6 = fields.get('publicipv6');
  if (publicIpv6 !== undefined && publicIpv6 !== null && typeof publicIpv6 !== 'string') throw new MalformedLeaseError('PublicIPv6 is not a string');
  const backendType = fields.get('backendtype') ?? '';
  if (typeof backendType !== 'string') throw new MalformedLeaseError('BackendType is not a string');
  const data = fields.get('backenddata');
  const v6 = fields.get('backendv6data');
  return {
    publicIp,
    ...(typeof publicIpv6 === 'string' ? { publicIpv6 } : {}),
    backendType,
    backendData: data === undefined ? 'null' : JSON.stringify(data),
    ...(v6 === undefined || v6 === null ? {} : { backendV6Data: JSON.stringify(v6) }),
  };
}
