import { readFile } from 'node:fs/promises';
import { containsAddress, familyName, formatAnyCidr, isAddressOf, isIpv6Cidr, parseCidrOf, type IpCidr, type IpFamily } from '../ip/cidr.ts';
import { formatIpv4, networkOf, parseIpv4, type Ipv4Cidr } from '../ip/ipv4.ts';
import { formatIpv6, networkOf6, parseIpv6, type Ipv6Cidr } from '../ip/ipv6.ts';
import { parseBackend } from './backend-config.ts';
import { ConfigError } from './config-error.ts';
import { JsonObject, parseJsonDocument } from './json-document.ts';
import { JsonFields } from './json-fields.ts';
import { ConfigWarnings, type UpstreamAcceptsCheck } from './upstream-accepts.ts';
import type { NetConf } from './types.ts';
import { errorText, isErrno } from '../util/errors.ts';

const EXAMPLE = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}';
const NETWORK_EXPECTED = 'an IPv4 CIDR such as "10.244.0.0/16"';
const IPV6_NETWORK_EXPECTED = 'an IPv6 CIDR such as "fd00:10:244::/56"';

export interface ParseNetConfOptions {
  /** Upstream checks the subnet ranges in etcd mode only; default 'kube'. */
  readonly subnetManager?: 'kube' | 'etcd';
}

/**
 * Parses net-conf.json (upstream's pkg/subnet/config.go) into a validated, defaulted NetConf. Keys match case-insensitively at
 * every level and unknown keys are ignored, as upstream's Go decoder does. What upstream refuses
 * (its decoder, the kernel or a socket, sooner or later) we refuse at once with a ConfigError
 * naming `source`, the field, the value and what was expected; what upstream accepts we accept
 * too, with a warning in `warnings` (upstream-accepts.ts).
 */
export function parseNetConf(text: string, source: string, opts: ParseNetConfOptions = {}): NetConf {
  const top = parseTop(text, source);
  const strict: UpstreamAcceptsCheck[] = opts.subnetManager === 'etcd' ? ['subnet-range'] : [];
  const f = new JsonFields(top, '', source, new ConfigWarnings(strict));

  const enableIPv4 = f.bool('EnableIPv4', true);
  const enableIPv6 = f.bool('EnableIPv6', false);
  const enableNFTables = f.bool('EnableNFTables', false);
  if (!enableIPv4 && !enableIPv6) {
    throw f.error('EnableIPv4', {
      value: false,
      problem: 'and EnableIPv6 false leave no IP family enabled (upstream: "none defined stack")',
      expected: 'EnableIPv4 true, its default',
    });
  }
  // Upstream (CheckNetworkConfig) checks a family's fields only when the family is enabled; a
  // disabled family's fields are still checked for form here, so a typo shows before it matters.
  const v4 = parseRange(f, IPV4_FIELDS, enableIPv4);
  const v6 = parseRange(f, IPV6_FIELDS, enableIPv6);

  const { backend, defaulted } = parseBackend(f.object('Backend', `an object such as {"Type": "vxlan"}`));
  if (enableIPv6 && backend.type === 'udp') {
    throw f.error('EnableIPv6', {
      value: true,
      problem: `cannot be used with the udp backend${defaulted ? ' (the default when Backend is absent)' : ''}, which carries IPv4 only, as upstream's`,
      expected: 'Backend.Type vxlan or host-gw for IPv6 and dual-stack',
    });
  }
  return {
    enableIPv4,
    enableIPv6,
    enableNFTables,
    ...(v4 === undefined ? {} : { network: v4.network as Ipv4Cidr }),
    subnetLen: v4?.subnetLen ?? 0,
    ...(v4 === undefined ? {} : { subnetMin: Number(v4.min), subnetMax: Number(v4.max) }),
    ...(v6 === undefined ? {} : { ipv6Network: v6.network as Ipv6Cidr }),
    ipv6SubnetLen: v6?.subnetLen ?? 0,
    ...(v6 === undefined ? {} : { ipv6SubnetMin: v6.min, ipv6SubnetMax: v6.max }),
    backend,
    backendDefaulted: defaulted,
    warnings: f.warnings.list,
  };
}

/** Reads and parses net-conf.json; any failure is a ConfigError whose message is one line. */
export async function readNetConf(path: string): Promise<NetConf> {
  return parseNetConf(await readNetConfText(path), path);
}

/** Reads net-conf.json's text (the daemon keeps it to notice changes); a failure is a one-line ConfigError. */
export async function readNetConfText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = isErrno(e) ? e.code : undefined;
    const why = code === 'ENOENT' ? 'no such file (ENOENT)' : code === 'EISDIR' ? 'is a directory (EISDIR)' : `${code ?? 'error'}: ${errorText(e)}`;
    throw new ConfigError({
      source: path,
      field: '',
      problem: `cannot read net-conf: ${why}`,
      expected: 'a readable net-conf.json; in Kubernetes, the kube-flannel-cfg ConfigMap mounted at --net-config-path',
    });
  }
}

function parseTop(text: string, source: string): JsonObject {
  let doc;
  try {
    doc = parseJsonDocument(text);
  } catch (e) {
    throw new ConfigError({ source, field: '', problem: `is not valid JSON: ${errorText(e)}`, expected: `a JSON object such as ${EXAMPLE}` });
  }
  if (!(doc instanceof JsonObject)) {
    throw new ConfigError({ source, field: '', value: doc, problem: 'is not a JSON object', expected: `a JSON object such as ${EXAMPLE}` });
  }
  return doc;
}

/** One family's fields and upstream's limits for them (pkg/subnet/config.go, CheckNetworkConfig). */
interface RangeFields {
  readonly family: IpFamily;
  readonly bits: 32 | 128;
  readonly network: 'Network' | 'IPv6Network';
  readonly otherNetwork: 'Network' | 'IPv6Network';
  readonly len: 'SubnetLen' | 'IPv6SubnetLen';
  readonly min: 'SubnetMin' | 'IPv6SubnetMin';
  readonly max: 'SubnetMax' | 'IPv6SubnetMax';
  /** The longest subnet upstream allows: /30, /126 (a subnet needs at least four addresses). */
  readonly maxLen: number;
  /** The default subnet length, used when Network's prefix is at most `defaultLen - 2`. */
  readonly defaultLen: number;
  readonly networkExpected: string;
}

const IPV4_FIELDS: RangeFields = {
  family: 'ipv4', bits: 32, network: 'Network', otherNetwork: 'IPv6Network', len: 'SubnetLen', min: 'SubnetMin', max: 'SubnetMax',
  maxLen: 30, defaultLen: 24, networkExpected: NETWORK_EXPECTED,
};
const IPV6_FIELDS: RangeFields = {
  family: 'ipv6', bits: 128, network: 'IPv6Network', otherNetwork: 'Network', len: 'IPv6SubnetLen', min: 'IPv6SubnetMin', max: 'IPv6SubnetMax',
  maxLen: 126, defaultLen: 64, networkExpected: IPV6_NETWORK_EXPECTED,
};

interface ParsedRange {
  readonly network: IpCidr;
  readonly subnetLen: number;
  /** First and last subnet's network address, as integers of the family's width. */
  readonly min: bigint;
  readonly max: bigint;
}

/**
 * A family's Network, SubnetLen, SubnetMin and SubnetMax with upstream's defaults and checks:
 * each subnet at most /30 (/126), the network holds at least four subnets; length 0 means /24
 * (/64) when the network is /22 (/62) or larger, else prefix+2; SubnetMin defaults to the
 * second subnet (the first one's network address would collide with Network's), SubnetMax to
 * the last. Upstream checks this in etcd mode only (CheckNetworkConfig); in kube mode a range
 * that fails the checks is ignored there, so here too, with a warning (upstream-accepts.ts), once
 * its fields have the types upstream's decoder needs. Undefined for a disabled family, whose
 * fields are checked for form.
 */
function parseRange(f: JsonFields, r: RangeFields, enabled: boolean): ParsedRange | undefined {
  const network = parseNetworkField(f, r, enabled);
  if (!enabled || network === undefined) {
    parseRangeForm(f, r);
    return undefined;
  }
  try {
    return parseCheckedRange(f, r, network);
  } catch (e) {
    if (!(e instanceof ConfigError) || e.check === undefined) throw e;
    f.warnings.accept(e.check, e, `${r.len}, ${r.min} and ${r.max} are ignored (the nodes' podCIDRs are the subnets)`);
    parseRangeForm(f, r);
    // What an absent range means, so a file that fixes the range later is no restart-only change.
    const subnetLen = network.prefixLen <= r.defaultLen - 2 ? r.defaultLen : Math.min(network.prefixLen + 2, r.bits);
    const size = 1n << BigInt(r.bits - subnetLen);
    const base = BigInt(network.ip);
    return { network, subnetLen, min: base + size, max: base + (1n << BigInt(r.bits - network.prefixLen)) - size };
  }
}

/** The types upstream's decoder insists on: a non-negative integer length, plain addresses. */
function parseRangeForm(f: JsonFields, r: RangeFields): void {
  f.int(r.len, 0, { min: 0, max: Number.MAX_SAFE_INTEGER, what: 'subnet length', expected: 'a non-negative integer' });
  for (const name of [r.min, r.max]) parseAddressField(f, r, name);
}

function parseCheckedRange(f: JsonFields, r: RangeFields, network: IpCidr): ParsedRange {
  const subnetLen = parseSubnetLen(f, r, network);
  const size = 1n << BigInt(r.bits - subnetLen);
  const base = BigInt(network.ip);
  const min = parseSubnetBound(f, r, r.min, network, subnetLen) ?? base + size;
  const max = parseSubnetBound(f, r, r.max, network, subnetLen) ?? base + (1n << BigInt(r.bits - network.prefixLen)) - size;
  if (min > max) {
    throw f.error(r.min, {
      value: formatAddress(r, min),
      problem: `is above ${r.max} ${formatAddress(r, max)}`,
      expected: `${r.min} <= ${r.max}`,
      check: 'subnet-range',
    });
  }
  return { network, subnetLen, min, max };
}

/** The family's network, masked; required when the family is enabled. */
function parseNetworkField(f: JsonFields, r: RangeFields, required: boolean): IpCidr | undefined {
  const text = f.string(r.network, r.networkExpected);
  if (text === undefined) {
    if (required) throw f.error(r.network, { problem: 'missing', expected: r.networkExpected });
    return undefined;
  }
  const cidr = parseCidrOf(r.family, text);
  if (cidr !== undefined) return isIpv6Cidr(cidr) ? networkOf6(cidr) : networkOf(cidr);
  const name = familyName(r.family);
  const other = r.family === 'ipv4' ? 'IPv6' : 'IPv4';
  if (parseCidrOf(r.family === 'ipv4' ? 'ipv6' : 'ipv4', text) !== undefined) {
    throw f.error(r.network, { value: text, problem: `is not an ${name} CIDR`, expected: `${r.networkExpected}; ${other} goes in ${r.otherNetwork}` });
  }
  if (!text.includes('/') && isAddressOf(r.family, text)) {
    throw f.error(r.network, { value: text, problem: 'has no prefix length', expected: r.networkExpected });
  }
  throw f.error(r.network, { value: text, problem: `is not an ${name} CIDR`, expected: r.networkExpected });
}

function parseSubnetLen(f: JsonFields, r: RangeFields, network: IpCidr): number {
  const min = network.prefixLen + 2;
  if (min > r.maxLen) {
    throw f.error(r.network, {
      value: formatAnyCidr(network),
      problem: 'is too small',
      expected: `a prefix of /${r.maxLen - 2} or shorter, so the network holds at least four subnets of at least /${r.maxLen}`,
      check: 'subnet-range',
    });
  }
  const expected = `an integer ${min}..${r.maxLen} for a /${network.prefixLen} ${r.network}, or 0 for the default`;
  // A negative or fractional length fails upstream's decoder (uint); a large one only its range check.
  const len = f.int(r.len, 0, { min: 0, max: Number.MAX_SAFE_INTEGER, what: 'subnet length', expected });
  if (len > r.maxLen) throw f.error(r.len, { value: len, problem: 'is not a valid subnet length', expected, check: 'subnet-range' });
  if (len === 0) return network.prefixLen <= r.defaultLen - 2 ? r.defaultLen : min;
  if (len < min) {
    throw f.error(r.len, {
      value: len,
      problem: `leaves fewer than four subnets in a /${network.prefixLen} ${r.network}`,
      expected: `an integer ${min}..${r.maxLen}, or 0 for the default`,
      check: 'subnet-range',
    });
  }
  return len;
}

/** SubnetMin or SubnetMax (or the IPv6 ones): a plain address inside the network, on a subnet boundary. */
function parseSubnetBound(f: JsonFields, r: RangeFields, name: string, network: IpCidr, subnetLen: number): bigint | undefined {
  const expected = `an ${familyName(r.family)} address without prefix inside ${formatAnyCidr(network)}, on a /${subnetLen} boundary`;
  const text = parseAddressField(f, r, name, expected);
  if (text === undefined) return undefined;
  if (!containsAddress(network, text)) throw f.error(name, { value: text, problem: `is outside ${r.network} ${formatAnyCidr(network)}`, expected, check: 'subnet-range' });
  const ip = addressValue(r, text);
  if ((ip & ((1n << BigInt(r.bits - subnetLen)) - 1n)) !== 0n) throw f.error(name, { value: text, problem: `is not on a /${subnetLen} boundary`, expected, check: 'subnet-range' });
  return ip;
}

/** A field holding a plain address of the family; returns its text. */
function parseAddressField(f: JsonFields, r: RangeFields, name: string, expected = `an ${familyName(r.family)} address without prefix`): string | undefined {
  const text = f.string(name, expected);
  if (text !== undefined && !isAddressOf(r.family, text)) throw f.error(name, { value: text, problem: `is not an ${familyName(r.family)} address`, expected });
  return text;
}

function addressValue(r: RangeFields, text: string): bigint {
  return r.family === 'ipv4' ? BigInt(parseIpv4(text)!) : parseIpv6(text)!;
}

function formatAddress(r: RangeFields, v: bigint): string {
  return r.family === 'ipv4' ? formatIpv4(Number(v)) : formatIpv6(v);
}
