import { readFile } from 'node:fs/promises';
import { containsIp, formatCidr, formatIpv4, maskOf, networkOf, parseCidr, parseIpv4, type Ipv4Cidr } from '../ip/ipv4.ts';
import { parseBackend } from './backend-config.ts';
import { ConfigError } from './config-error.ts';
import { JsonObject, parseJsonDocument } from './json-document.ts';
import { JsonFields } from './json-fields.ts';
import { ConfigWarnings, type UpstreamAcceptsCheck } from './upstream-accepts.ts';
import { normalizeIpv6Cidr, parseIpv6 } from './ipv6-cidr.ts';
import type { NetConf } from './types.ts';
import { errorText, isErrno } from '../util/errors.ts';

const EXAMPLE = '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}';
const NETWORK_EXPECTED = 'an IPv4 CIDR such as "10.244.0.0/16"';

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
  const ipv6Network = parseIpv6Fields(f);
  if (!enableIPv4 && !enableIPv6) {
    throw f.error('EnableIPv4', {
      value: false,
      problem: 'and EnableIPv6 false leave no IP family enabled (upstream: "none defined stack")',
      expected: 'EnableIPv4 true, its default',
    });
  }
  if (enableIPv6) {
    throw f.error('EnableIPv6', {
      value: true,
      problem: 'is not supported by flannel-ts yet (it has no IPv6 data path)',
      expected: 'false or absent; IPv6 and dual-stack need upstream flanneld for now',
    });
  }

  const network = parseNetwork(f);
  const ranges = parseRanges(f, network);

  const { backend, defaulted } = parseBackend(f.object('Backend', `an object such as {"Type": "vxlan"}`));
  return {
    enableIPv4,
    enableIPv6,
    enableNFTables,
    network,
    ...(ipv6Network === undefined ? {} : { ipv6Network }),
    ...ranges,
    backend,
    backendDefaulted: defaulted,
    warnings: f.warnings.list,
  };
}

/**
 * SubnetLen, SubnetMin and SubnetMax with upstream's defaults and checks (CheckNetworkConfig).
 * Upstream makes these checks in etcd mode only; in kube mode a range that fails them is ignored
 * there, so here too (with a warning), once its fields have the types upstream's decoder needs.
 */
function parseRanges(f: JsonFields, network: Ipv4Cidr): { subnetLen: number; subnetMin: number; subnetMax: number } {
  try {
    const subnetLen = parseSubnetLen(f, network);
    const size = 2 ** (32 - subnetLen);
    // Upstream skips the first subnet by default: its network address would collide with Network's.
    const subnetMin = parseSubnetBound(f, 'SubnetMin', network, subnetLen) ?? network.ip + size;
    const subnetMax = parseSubnetBound(f, 'SubnetMax', network, subnetLen) ?? network.ip + 2 ** (32 - network.prefixLen) - size;
    if (subnetMin > subnetMax) {
      throw f.error('SubnetMin', {
        value: formatIpv4(subnetMin),
        problem: `is above SubnetMax ${formatIpv4(subnetMax)}`,
        expected: 'SubnetMin <= SubnetMax',
        check: 'subnet-range',
      });
    }
    return { subnetLen, subnetMin, subnetMax };
  } catch (e) {
    if (!(e instanceof ConfigError) || e.check === undefined) throw e;
    f.warnings.accept(e.check, e, 'SubnetLen, SubnetMin and SubnetMax are ignored (the nodes\' podCIDRs are the subnets)');
    // The types upstream's decoder insists on (a non-negative integer, IPv4 addresses).
    f.int('SubnetLen', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, what: 'subnet length', expected: 'a non-negative integer' });
    for (const name of ['SubnetMin', 'SubnetMax']) {
      const text = f.string(name, 'an IPv4 address without prefix');
      if (text !== undefined && parseIpv4(text) === undefined) throw f.error(name, { value: text, problem: 'is not an IPv4 address', expected: 'an IPv4 address without prefix' });
    }
    // What an absent range means, so a file that fixes the range later is no restart-only change.
    const subnetLen = network.prefixLen <= 22 ? 24 : Math.min(network.prefixLen + 2, 32);
    const size = 2 ** (32 - subnetLen);
    return { subnetLen, subnetMin: network.ip + size, subnetMax: network.ip + 2 ** (32 - network.prefixLen) - size };
  }
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

function parseNetwork(f: JsonFields): Ipv4Cidr {
  const text = f.string('Network', NETWORK_EXPECTED);
  if (text === undefined) throw f.error('Network', { problem: 'missing', expected: NETWORK_EXPECTED });
  const cidr = parseCidr(text);
  if (cidr !== undefined) return networkOf(cidr);
  if (text.includes(':')) {
    throw f.error('Network', { value: text, problem: 'is not an IPv4 CIDR', expected: `${NETWORK_EXPECTED}; IPv6 goes in IPv6Network` });
  }
  if (!text.includes('/') && parseIpv4(text) !== undefined) {
    throw f.error('Network', { value: text, problem: 'has no prefix length', expected: NETWORK_EXPECTED });
  }
  throw f.error('Network', { value: text, problem: 'is not an IPv4 CIDR', expected: NETWORK_EXPECTED });
}

/**
 * Upstream's rules (CheckNetworkConfig): each subnet at most /30, the network holds at least four
 * subnets; 0 means /24 when the network is /22 or larger, else prefix+2. Upstream checks this in
 * etcd mode only; we check it always, so a config means the same thing in both modes.
 */
function parseSubnetLen(f: JsonFields, network: Ipv4Cidr): number {
  const min = network.prefixLen + 2;
  if (min > 30) {
    throw f.error('Network', {
      value: formatCidr(network),
      problem: 'is too small',
      expected: 'a prefix of /28 or shorter, so the network holds at least four subnets of at least /30',
      check: 'subnet-range',
    });
  }
  const expected = `an integer ${min}..30 for a /${network.prefixLen} Network, or 0 for the default`;
  // A negative or fractional length fails upstream's decoder (uint); a large one only its range check.
  const len = f.int('SubnetLen', 0, { min: 0, max: Number.MAX_SAFE_INTEGER, what: 'subnet length', expected });
  if (len > 30) throw f.error('SubnetLen', { value: len, problem: 'is not a valid subnet length', expected, check: 'subnet-range' });
  if (len === 0) return network.prefixLen <= 22 ? 24 : min;
  if (len < min) {
    throw f.error('SubnetLen', {
      value: len,
      problem: `leaves fewer than four subnets in a /${network.prefixLen} Network`,
      expected: `an integer ${min}..30, or 0 for the default`,
      check: 'subnet-range',
    });
  }
  return len;
}

/** SubnetMin or SubnetMax: a plain IPv4 address inside Network, on a SubnetLen boundary. */
function parseSubnetBound(f: JsonFields, name: 'SubnetMin' | 'SubnetMax', network: Ipv4Cidr, subnetLen: number): number | undefined {
  const expected = `an IPv4 address without prefix inside ${formatCidr(network)}, on a /${subnetLen} boundary`;
  const text = f.string(name, expected);
  if (text === undefined) return undefined;
  const ip = parseIpv4(text);
  if (ip === undefined) throw f.error(name, { value: text, problem: 'is not an IPv4 address', expected });
  if (!containsIp(network, ip)) throw f.error(name, { value: text, problem: `is outside Network ${formatCidr(network)}`, expected, check: 'subnet-range' });
  if (((ip & maskOf(subnetLen)) >>> 0) !== ip) throw f.error(name, { value: text, problem: `is not on a /${subnetLen} boundary`, expected, check: 'subnet-range' });
  return ip;
}

/**
 * The IPv6 fields are accepted and checked for form only: flannel-ts has no IPv6 data path yet,
 * and EnableIPv6 true is refused. Returns IPv6Network masked and canonical, if given.
 */
function parseIpv6Fields(f: JsonFields): string | undefined {
  const netExpected = 'an IPv6 CIDR such as "fc00::/48"';
  const netText = f.string('IPv6Network', netExpected);
  let ipv6Network: string | undefined;
  if (netText !== undefined) {
    ipv6Network = normalizeIpv6Cidr(netText);
    if (ipv6Network === undefined) throw f.error('IPv6Network', { value: netText, problem: 'is not an IPv6 CIDR', expected: netExpected });
  }
  f.int('IPv6SubnetLen', 0, { min: 0, max: 126, what: 'subnet length' });
  for (const name of ['IPv6SubnetMin', 'IPv6SubnetMax']) {
    const expected = 'an IPv6 address without prefix';
    const text = f.string(name, expected);
    if (text !== undefined && parseIpv6(text) === undefined) throw f.error(name, { value: text, problem: 'is not an IPv6 address', expected });
  }
  return ipv6Network;
}
