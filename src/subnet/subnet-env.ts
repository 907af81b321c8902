import { chmod, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { formatCidr, networkOf, parseCidr, type Ipv4Cidr } from '../ip/ipv4.ts';
import { formatCidr6, networkOf6, parseCidr6, type Ipv6Cidr } from '../ip/ipv6.ts';
import { gatewayOf } from '../ip/cidr.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { errorText, isErrno } from '../util/errors.ts';

/**
 * subnet.env (upstream's WriteSubnetFile, pkg/subnet/subnet.go): the file flannel's CNI plugin and mk-docker-opts.sh read. Byte layout and line
 * order are upstream's exactly; consumers parse it strictly (no quotes, no spaces).
 */

export interface SubnetEnv {
  /** Present when IPv4 is enabled: the masked config Network and this node's lease. */
  readonly ipv4?: { readonly network: Ipv4Cidr; readonly subnet: Ipv4Cidr };
  /** Present when IPv6 is enabled: the masked IPv6Network and this node's IPv6 lease. */
  readonly ipv6?: { readonly network: Ipv6Cidr; readonly subnet: Ipv6Cidr };
  /** The backend's MTU (vxlan base−50, udp iface−28, host-gw iface). */
  readonly mtu: number;
  /** --ip-masq. */
  readonly ipMasq: boolean;
}

/**
 * The exact bytes upstream writes: NETWORK, SUBNET, IPV6_NETWORK, IPV6_SUBNET, MTU, IPMASQ, LF
 * endings. Subnets are written as their first host address with the lease prefix
 * (10.244.1.0/24 → 10.244.1.1/24), which the CNI plugin uses as the bridge gateway.
 */
export function renderSubnetEnv(env: SubnetEnv): string {
  if (!Number.isInteger(env.mtu) || env.mtu < 0) throw new RangeError(`subnet.env: FLANNEL_MTU ${env.mtu} is not a non-negative integer`);
  let out = '';
  if (env.ipv4 !== undefined) {
    const sn = networkOf(env.ipv4.subnet);
    out += `FLANNEL_NETWORK=${formatCidr(env.ipv4.network)}\n`;
    out += `FLANNEL_SUBNET=${gatewayOf(sn)}/${sn.prefixLen}\n`;
  }
  if (env.ipv6 !== undefined) {
    const sn = networkOf6(env.ipv6.subnet);
    out += `FLANNEL_IPV6_NETWORK=${formatCidr6(networkOf6(env.ipv6.network))}\n`;
    out += `FLANNEL_IPV6_SUBNET=${gatewayOf(sn)}/${sn.prefixLen}\n`;
  }
  out += `FLANNEL_MTU=${env.mtu}\nFLANNEL_IPMASQ=${env.ipMasq}\n`;
  return out;
}

/**
 * Replaces `path` atomically (see writeFileAtomic): missing parent directories are created 0755,
 * the file gets mode 0644 whatever the umask, as upstream's renameio IgnoreUmask does.
 */
export async function writeSubnetEnv(path: string, text: string): Promise<void> {
  await makeDirs(dirname(path));
  await writeFileAtomic(path, text, 0o644);
}

/** mkdir -p with mode 0755 on every directory it creates, whatever the umask. */
async function makeDirs(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  let d = first;
  await chmod(d, 0o755);
  for (const part of relative(first, dir).split(sep).filter((p) => p !== '')) {
    d = join(d, part);
    await chmod(d, 0o755);
  }
}

/** What a previous subnet.env said, reduced to network form, as upstream reads it at start. */
export interface PreviousSubnetEnv {
  readonly network?: Ipv4Cidr;
  readonly subnet?: Ipv4Cidr;
  readonly ipv6Network?: Ipv6Cidr;
  readonly ipv6Subnet?: Ipv6Cidr;
  /** Lines upstream would log as errors (unparsable values, more than one entry); for the daemon's log. */
  readonly warnings: readonly string[];
}

/**
 * Reads a previous subnet.env the way upstream does at start (godotenv, then ParseCIDR per
 * comma entry): undefined when the file does not exist; values reduced to their network
 * (10.5.72.1/24 → 10.5.72.0/24); invalid entries skipped; more than one entry means none.
 */
export async function readSubnetEnv(path: string): Promise<PreviousSubnetEnv | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    return { warnings: [`Couldn't read previous subnet file at ${path}: ${errorText(e)}`] };
  }
  const vars = parseDotenv(text);
  if (typeof vars === 'string') return { warnings: [`Couldn't parse previous subnet file at ${path}: ${vars}`] };

  const warnings: string[] = [];
  const pick = <T>(key: string, parse: (entry: string) => T | undefined): T | undefined => {
    const raw = vars.get(key);
    if (raw === undefined) return undefined;
    const found: T[] = [];
    for (const entry of raw.split(',')) {
      const v = parse(entry);
      if (v === undefined) warnings.push(`Couldn't parse previous ${key} from subnet file at ${path}: ${JSON.stringify(entry)} is not a CIDR of that family`);
      else found.push(v);
    }
    if (found.length > 1) {
      warnings.push(`error reading subnet: more than 1 entry found for key: ${key} in file ${path}`);
      return undefined;
    }
    return found[0];
  };
  const v4 = (entry: string): Ipv4Cidr | undefined => {
    const c = parseCidr(entry);
    return c === undefined ? undefined : networkOf(c);
  };
  const network = pick('FLANNEL_NETWORK', v4);
  const subnet = pick('FLANNEL_SUBNET', v4);
  const v6 = (entry: string): Ipv6Cidr | undefined => {
    const c = parseCidr6(entry);
    return c === undefined ? undefined : networkOf6(c);
  };
  const ipv6Network = pick('FLANNEL_IPV6_NETWORK', v6);
  const ipv6Subnet = pick('FLANNEL_IPV6_SUBNET', v6);
  return {
    ...(network === undefined ? {} : { network }),
    ...(subnet === undefined ? {} : { subnet }),
    ...(ipv6Network === undefined ? {} : { ipv6Network }),
    ...(ipv6Subnet === undefined ? {} : { ipv6Subnet }),
    warnings,
  };
}

/**
 * The subset of godotenv's format a hand-edited or upstream-written subnet.env can contain:
 * blank lines, `#` comments, an optional `export `, KEY=VALUE with whitespace trimmed, values
 * optionally in matching quotes, ` #` comments after unquoted values. A line without `=` makes the
 * whole file unreadable, as in godotenv; returns the reason then.
 */
export function parseDotenv(text: string): Map<string, string> | string {
  const vars = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const body = line.replace(/^export\s+/, '');
    const eq = body.indexOf('=');
    if (eq <= 0) return `line ${i + 1}: expected KEY=VALUE, got ${JSON.stringify(lines[i])}`;
    const key = body.slice(0, eq).trim();
    let value = body.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    vars.set(key, value);
  }
  return vars;
}
