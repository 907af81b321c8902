import type { ExternalInterface } from '../backends/backend.ts';
import { enabledFamilies, familyName, IPV4_ONLY, type Families, type IpFamily } from '../ip/cidr.ts';
import { formatIpv4, parseIpv4 } from '../ip/ipv4.ts';
import { formatIpv6, parseIpv6 } from '../ip/ipv6.ts';
import type { Addr, Link, NetlinkHandle } from '../netlink/types.ts';
import { AF_INET, AF_INET6, RT_TABLE_MAIN } from '../netlink/types.ts';
import { IFA_F_DEPRECATED, pickAddress, unicastKind } from './address.ts';
import { errorText } from '../util/errors.ts';

/** The flags that choose the external interface (--iface, --iface-regex, --iface-can-reach, --public-ip). */
export interface IfaceOptions {
  /** --iface, repeatable: interface names or IP addresses (either family), tried in order. */
  readonly ifaces?: readonly string[];
  /** --iface-regex, repeatable: matched against address strings first, then names. */
  readonly ifaceRegexes?: readonly string[];
  /** --iface-can-reach: the interface and source the kernel would use towards this IP. */
  readonly ifaceCanReach?: string;
  /** --public-ip, or the node-public-ip annotation (the caller applies that override). */
  readonly publicIp?: string;
  /** --public-ipv6, or the node-public-ipv6 annotation. */
  readonly publicIpv6?: string;
  /** The families the cluster runs; default IPv4 only. Each needs an address on the interface. */
  readonly families?: Families;
}

/** Startup cannot continue: no interface fits. The message lists what was seen. */
export class InterfaceSelectionError extends Error {
  override readonly name = 'InterfaceSelectionError';
}

interface Candidate {
  readonly link: Link;
  /** The link's addresses of the enabled families, kernel order. */
  readonly addrs: readonly Addr[];
}

/** An interface, and the address that selected it when an address did (by IP, regex, route). */
interface Chosen {
  readonly c: Candidate;
  readonly addr?: { readonly family: IpFamily; readonly address: string };
}

type Log = (msg: string) => void;

const AF: Record<IpFamily, number> = { ipv4: AF_INET, ipv6: AF_INET6 };

/**
 * Picks the external interface as flanneld does (LookupExtIface in upstream's pkg/ipmatch/match.go),
 * then reads its index, MTU and an address of every enabled family. Throws InterfaceSelectionError
 * naming every interface and address seen when nothing fits. Where upstream breaks in dual-stack
 * (an IPv6 --iface, a regex that must match both families on one interface), the interface is
 * picked by whatever matched and each family's address is then taken from that interface.
 */
export async function selectInterface(nl: NetlinkHandle, opts: IfaceOptions, log: Log = () => {}): Promise<ExternalInterface> {
  const families = enabledFamilies(opts.families ?? IPV4_ONLY);
  const publicIp = publicAddress(opts.publicIp, 'ipv4', families, log);
  const publicIpv6 = publicAddress(opts.publicIpv6, 'ipv6', families, log);
  const candidates = await listCandidates(nl, families);
  const ifaces = opts.ifaces ?? [];
  const regexes = opts.ifaceRegexes ?? [];
  let chosen: Chosen | undefined;
  const misses: string[] = [];

  if (ifaces.length === 0 && regexes.length === 0 && !opts.ifaceCanReach) {
    const byPublic = publicIp !== undefined ? { family: 'ipv4' as const, ip: publicIp } : publicIpv6 !== undefined ? { family: 'ipv6' as const, ip: publicIpv6 } : undefined;
    chosen = byPublic !== undefined ? byIp(candidates, byPublic.ip, byPublic.family) : await byDefaultRoute(nl, candidates, families);
    if (chosen === undefined) {
      const why = byPublic !== undefined
        ? `no interface has the public IP ${byPublic.ip} (for NAT give --iface together with --public-ip${byPublic.family === 'ipv6' ? 'v6' : ''})`
        : `no ${families.map(familyName).join(' or ')} default route in the main table`;
      throw new InterfaceSelectionError(`Failed to find any valid interface to use: ${why}; interfaces seen: ${describe(candidates, families)}`);
    }
  } else {
    for (const want of ifaces) {
      const family = familyOfLiteral(want);
      chosen = family !== undefined ? byIp(candidates, want, family) : byName(candidates, want);
      if (chosen !== undefined) break;
      misses.push(`--iface=${want}`);
      log(`Could not find valid interface matching ${want}`);
    }
    for (const pattern of chosen === undefined ? regexes : []) {
      chosen = byRegex(candidates, compile(pattern), families);
      if (chosen !== undefined) break;
      misses.push(`--iface-regex=${pattern}`);
      log(`Could not find valid interface matching ${pattern}`);
    }
    if (chosen === undefined && opts.ifaceCanReach) {
      chosen = await byRoute(nl, candidates, opts.ifaceCanReach);
      if (chosen === undefined) {
        misses.push(`--iface-can-reach=${opts.ifaceCanReach}`);
        log(`Could not find valid interface matching ${opts.ifaceCanReach}`);
      }
    }
    if (chosen === undefined) {
      throw new InterfaceSelectionError(
        `Failed to find interface to use that matches the interfaces and/or regexes provided (${misses.join(', ')}); interfaces seen: ${describe(candidates, families)}`,
      );
    }
  }

  const { c } = chosen;
  const addrs: Partial<Record<IpFamily, string>> = {};
  for (const family of families) {
    const address = chosen.addr?.family === family ? chosen.addr.address : pickAddress(c.addrs, family)?.address;
    if (address === undefined) {
      throw new InterfaceSelectionError(`failed to find ${familyName(family)} address for interface ${c.link.name} (it has: ${addrList(c.addrs, family) || 'none'})`);
    }
    addrs[family] = address;
  }
  if (c.link.mtu === 0) throw new InterfaceSelectionError(`failed to determine MTU for ${c.link.name} interface (MTU is 0)`);
  if (addrs.ipv4 !== undefined) log(`Using interface with name ${c.link.name} and address ${addrs.ipv4}`);
  if (addrs.ipv6 !== undefined) log(`Using interface with name ${c.link.name} and v6 address ${addrs.ipv6}`);
  const ext = { ipv4: publicIp, ipv6: publicIpv6 };
  for (const family of families) {
    const pub = ext[family];
    if (pub !== undefined) log(`Using ${pub} as external address`);
    else log(`Defaulting external${family === 'ipv6' ? ' v6' : ''} address to interface address (${addrs[family]})`);
  }
  return {
    name: c.link.name,
    index: c.link.index,
    mtu: c.link.mtu,
    ...(addrs.ipv4 !== undefined ? { ifaceAddr: addrs.ipv4, extAddr: publicIp ?? addrs.ipv4 } : {}),
    ...(addrs.ipv6 !== undefined ? { ifaceV6Addr: addrs.ipv6, extV6Addr: publicIpv6 ?? addrs.ipv6 } : {}),
  };
}

/** --public-ip(v6) in canonical form, or undefined when not given or its family is off (said once). */
function publicAddress(text: string | undefined, family: IpFamily, families: readonly IpFamily[], log: Log): string | undefined {
  if (text === undefined || text === '') return undefined;
  const flag = family === 'ipv4' ? '--public-ip' : '--public-ipv6';
  const canonical = canonicalAddress(text, family);
  if (canonical === undefined) {
    throw new InterfaceSelectionError(`invalid public ${family === 'ipv4' ? 'IP' : 'IPv6'} address: ${text} (want ${familyName(family)}, from ${flag} or the node-public-ip${family === 'ipv6' ? 'v6' : ''} annotation)`);
  }
  if (!families.includes(family)) {
    log(`Ignoring ${flag} ${text}: ${familyName(family)} is not enabled in net-conf.json`);
    return undefined;
  }
  return canonical;
}

function canonicalAddress(text: string, family: IpFamily): string | undefined {
  if (family === 'ipv4') {
    const ip = parseIpv4(text);
    return ip === undefined ? undefined : formatIpv4(ip);
  }
  const ip = parseIpv6(text);
  return ip === undefined ? undefined : formatIpv6(ip);
}

function familyOfLiteral(text: string): IpFamily | undefined {
  return parseIpv4(text) !== undefined ? 'ipv4' : parseIpv6(text) !== undefined ? 'ipv6' : undefined;
}

async function listCandidates(nl: NetlinkHandle, families: readonly IpFamily[]): Promise<Candidate[]> {
  const wanted = new Set(families.map((f) => AF[f]));
  const only = families.length === 1 ? AF[families[0]!] : undefined;
  const [links, addrs] = await Promise.all([nl.linkList(), nl.addrList(only === undefined ? {} : { family: only })]);
  const byIndex = new Map<number, Addr[]>();
  for (const a of addrs) {
    if (!wanted.has(a.family)) continue;
    let list = byIndex.get(a.index);
    if (list === undefined) byIndex.set(a.index, (list = []));
    list.push(a);
  }
  return [...links].sort((x, y) => x.index - y.index).map((link) => ({ link, addrs: byIndex.get(link.index) ?? [] }));
}

/** Upstream's GetInterfaceByIP(6): any address of the family equal, usable or not; the address is the given one. */
function byIp(cs: readonly Candidate[], ip: string, family: IpFamily): Chosen | undefined {
  const want = canonicalAddress(ip, family);
  if (want === undefined) return undefined;
  const c = cs.find((x) => x.addrs.some((a) => a.family === AF[family] && canonicalAddress(a.address, family) === want));
  return c === undefined ? undefined : { c, addr: { family, address: want } };
}

function byName(cs: readonly Candidate[], name: string): Chosen | undefined {
  const c = cs.find((x) => x.link.name === name);
  return c === undefined ? undefined : { c };
}

/** Usable addresses of a family in preference order, as the regex sees them (upstream matches these only). */
function usableInOrder(addrs: readonly Addr[], family: IpFamily): Addr[] {
  const rest = [...addrs];
  const out: Addr[] = [];
  for (let a = pickAddress(rest, family); a !== undefined; a = pickAddress(rest, family)) {
    out.push(a);
    rest.splice(rest.indexOf(a), 1);
  }
  return out;
}

function byRegex(cs: readonly Candidate[], re: RegExp, families: readonly IpFamily[]): Chosen | undefined {
  for (const c of cs) {
    for (const family of families) {
      const hit = usableInOrder(c.addrs, family).find((a) => re.test(a.address));
      if (hit !== undefined) return { c, addr: { family, address: hit.address } };
    }
  }
  const c = cs.find((x) => re.test(x.link.name));
  return c === undefined ? undefined : { c };
}

function compile(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    throw new InterfaceSelectionError(`could not compile the --iface-regex '${pattern}': ${errorText(e)}`);
  }
}

/** The default route's interface of every enabled family; in dual-stack both must be the same (upstream's rule and text). */
async function byDefaultRoute(nl: NetlinkHandle, cs: readonly Candidate[], families: readonly IpFamily[]): Promise<Chosen | undefined> {
  const found: { family: IpFamily; c: Candidate }[] = [];
  for (const family of families) {
    const routes = await nl.routeList({ family: AF[family], table: RT_TABLE_MAIN });
    const def = routes.find((r) => r.family === AF[family] && (r.dst === undefined || r.dst === '0.0.0.0/0' || r.dst === '::/0'));
    if (def === undefined) return undefined;
    if (def.oif === undefined || def.oif <= 0) {
      throw new InterfaceSelectionError(`found ${familyName(family)} default route but could not determine interface (multipath or no device)`);
    }
    const c = cs.find((x) => x.link.index === def.oif);
    if (c === undefined) return undefined;
    found.push({ family, c });
  }
  const [v4, v6] = found;
  if (v4 !== undefined && v6 !== undefined && v4.c !== v6.c) {
    throw new InterfaceSelectionError(`v6 default route interface ${v6.c.link.name} must be the same with v4 default route interface ${v4.c.link.name}`);
  }
  return found[0] === undefined ? undefined : { c: found[0].c };
}

async function byRoute(nl: NetlinkHandle, cs: readonly Candidate[], target: string): Promise<Chosen | undefined> {
  const family = familyOfLiteral(target);
  if (family === undefined) throw new InterfaceSelectionError(`--iface-can-reach: '${target}' is not an IP address`);
  let routes;
  try {
    routes = await nl.routeGet(target);
  } catch (e) {
    throw new InterfaceSelectionError(`--iface-can-reach: couldn't look up the route to ${target}: ${errorText(e)}`);
  }
  const r = routes.find((x) => x.oif !== undefined);
  const c = r === undefined ? undefined : cs.find((x) => x.link.index === r.oif);
  if (c === undefined) return undefined;
  return r?.src === undefined ? { c } : { c, addr: { family, address: r.src } };
}

function addrList(addrs: readonly Addr[], only?: IpFamily): string {
  return addrs
    .filter((a) => only === undefined || a.family === AF[only])
    .map((a) => {
      const kind = unicastKind(a.family === AF_INET6 ? 'ipv6' : 'ipv4', a.address);
      const note = ((a.flags ?? 0) & IFA_F_DEPRECATED) !== 0 ? ' deprecated' : kind !== 'global' && kind !== 'link-local' ? ' unusable' : '';
      return `${a.address}/${a.prefixLen}${note}`;
    })
    .join(' ');
}

function describe(cs: readonly Candidate[], families: readonly IpFamily[]): string {
  const none = `no ${families.map(familyName).join(' or ')}`;
  return cs.map((c) => `${c.link.name}[${addrList(c.addrs) || none}]`).join(', ') || 'none';
}
