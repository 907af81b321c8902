import type { ExternalInterface } from '../backends/backend.ts';
import { formatIpv4, parseIpv4 } from '../ip/ipv4.ts';
import type { Addr, Link, NetlinkHandle } from '../netlink/types.ts';
import { AF_INET, RT_TABLE_MAIN } from '../netlink/types.ts';
import { isGlobalUnicast4, isLinkLocal4, IFA_F_DEPRECATED, pickAddress } from './address.ts';
import { errorText } from '../util/errors.ts';

/** The flags that choose the external interface (--iface, --iface-regex, --iface-can-reach, --public-ip). */
export interface IfaceOptions {
  /** --iface, repeatable: interface names or IPv4 addresses, tried in order. */
  readonly ifaces?: readonly string[];
  /** --iface-regex, repeatable: matched against address strings first, then names. */
  readonly ifaceRegexes?: readonly string[];
  /** --iface-can-reach: the interface and source the kernel would use towards this IP. */
  readonly ifaceCanReach?: string;
  /** --public-ip, or the node-public-ip annotation (the caller applies that override). */
  readonly publicIp?: string;
}

/** Startup cannot continue: no interface fits. The message lists what was seen. */
export class InterfaceSelectionError extends Error {
  override readonly name = 'InterfaceSelectionError';
}

interface Candidate {
  readonly link: Link;
  /** Every IPv4 address on the link, kernel order. */
  readonly addrs: readonly Addr[];
}

type Log = (msg: string) => void;

/**
 * Picks the external interface as flanneld does (LookupExtIface in upstream's pkg/ipmatch/match.go), then reads its
 * index, MTU and address. Throws InterfaceSelectionError naming every interface and address
 * seen when nothing fits.
 */
export async function selectInterface(nl: NetlinkHandle, opts: IfaceOptions, log: Log = () => {}): Promise<ExternalInterface> {
  const publicIp = opts.publicIp === undefined || opts.publicIp === '' ? undefined : opts.publicIp;
  if (publicIp !== undefined && parseIpv4(publicIp) === undefined) {
    throw new InterfaceSelectionError(`invalid public IP address: ${publicIp} (want dotted IPv4, from --public-ip or the node-public-ip annotation)`);
  }
  const candidates = await listCandidates(nl);
  const ifaces = opts.ifaces ?? [];
  const regexes = opts.ifaceRegexes ?? [];
  let chosen: { c: Candidate; addr?: string } | undefined;
  const misses: string[] = [];

  if (ifaces.length === 0 && regexes.length === 0 && !opts.ifaceCanReach) {
    chosen = publicIp !== undefined ? byIp(candidates, publicIp) : await byDefaultRoute(nl, candidates);
    if (chosen === undefined) {
      const why = publicIp !== undefined
        ? `no interface has the public IP ${publicIp} (for NAT give --iface together with --public-ip)`
        : 'no IPv4 default route in the main table';
      throw new InterfaceSelectionError(`Failed to find any valid interface to use: ${why}; interfaces seen: ${describe(candidates)}`);
    }
  } else {
    for (const want of ifaces) {
      chosen = parseIpv4(want) !== undefined ? byIp(candidates, want) : byName(candidates, want);
      if (chosen !== undefined) break;
      misses.push(`--iface=${want}`);
      log(`Could not find valid interface matching ${want}`);
    }
    for (const pattern of chosen === undefined ? regexes : []) {
      chosen = byRegex(candidates, compile(pattern));
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
        `Failed to find interface to use that matches the interfaces and/or regexes provided (${misses.join(', ')}); interfaces seen: ${describe(candidates)}`,
      );
    }
  }

  const { c } = chosen;
  const ifaceAddr = chosen.addr ?? pickAddress(c.addrs)?.address;
  if (ifaceAddr === undefined) {
    throw new InterfaceSelectionError(`failed to find IPv4 address for interface ${c.link.name} (it has: ${addrList(c.addrs) || 'none'})`);
  }
  if (c.link.mtu === 0) throw new InterfaceSelectionError(`failed to determine MTU for ${c.link.name} interface (MTU is 0)`);
  log(`Using interface with name ${c.link.name} and address ${ifaceAddr}`);
  if (publicIp !== undefined) log(`Using ${publicIp} as external address`);
  else log(`Defaulting external address to interface address (${ifaceAddr})`);
  return { name: c.link.name, index: c.link.index, mtu: c.link.mtu, ifaceAddr, extAddr: publicIp ?? ifaceAddr };
}

async function listCandidates(nl: NetlinkHandle): Promise<Candidate[]> {
  const [links, addrs] = await Promise.all([nl.linkList(), nl.addrList({ family: AF_INET })]);
  const byIndex = new Map<number, Addr[]>();
  for (const a of addrs) {
    if (a.family !== AF_INET) continue;
    let list = byIndex.get(a.index);
    if (list === undefined) byIndex.set(a.index, (list = []));
    list.push(a);
  }
  return [...links].sort((x, y) => x.index - y.index).map((link) => ({ link, addrs: byIndex.get(link.index) ?? [] }));
}

/** Upstream's GetInterfaceByIP: any IPv4 address equal, usable or not; the address is the given one. */
function byIp(cs: readonly Candidate[], ip: string): { c: Candidate; addr: string } | undefined {
  const want = parseIpv4(ip);
  const c = cs.find((x) => x.addrs.some((a) => parseIpv4(a.address) === want));
  return c === undefined || want === undefined ? undefined : { c, addr: formatIpv4(want) };
}

function byName(cs: readonly Candidate[], name: string): { c: Candidate } | undefined {
  const c = cs.find((x) => x.link.name === name);
  return c === undefined ? undefined : { c };
}

/** Usable addresses in preference order, as the regex sees them (upstream matches these only). */
function usableInOrder(addrs: readonly Addr[]): Addr[] {
  const rest = [...addrs];
  const out: Addr[] = [];
  for (let a = pickAddress(rest); a !== undefined; a = pickAddress(rest)) {
    out.push(a);
    rest.splice(rest.indexOf(a), 1);
  }
  return out;
}

function byRegex(cs: readonly Candidate[], re: RegExp): { c: Candidate; addr?: string } | undefined {
  for (const c of cs) {
    const hit = usableInOrder(c.addrs).find((a) => re.test(a.address));
    if (hit !== undefined) return { c, addr: hit.address };
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

async function byDefaultRoute(nl: NetlinkHandle, cs: readonly Candidate[]): Promise<{ c: Candidate } | undefined> {
  const routes = await nl.routeList({ family: AF_INET, table: RT_TABLE_MAIN });
  const def = routes.find((r) => r.dst === undefined || r.dst === '0.0.0.0/0');
  if (def === undefined) return undefined;
  if (def.oif === undefined || def.oif <= 0) {
    throw new InterfaceSelectionError('found default route but could not determine interface (multipath or no device)');
  }
  const c = cs.find((x) => x.link.index === def.oif);
  return c === undefined ? undefined : { c };
}

async function byRoute(nl: NetlinkHandle, cs: readonly Candidate[], target: string): Promise<{ c: Candidate; addr?: string } | undefined> {
  if (parseIpv4(target) === undefined) throw new InterfaceSelectionError(`--iface-can-reach: '${target}' is not an IPv4 address`);
  let routes;
  try {
    routes = await nl.routeGet(target);
  } catch (e) {
    throw new InterfaceSelectionError(`--iface-can-reach: couldn't look up the route to ${target}: ${errorText(e)}`);
  }
  const r = routes.find((x) => x.oif !== undefined);
  const c = r === undefined ? undefined : cs.find((x) => x.link.index === r.oif);
  if (c === undefined) return undefined;
  return r?.src === undefined ? { c } : { c, addr: r.src };
}

function addrList(addrs: readonly Addr[]): string {
  return addrs
    .map((a) => {
      const ip = parseIpv4(a.address) ?? 0;
      const note = ((a.flags ?? 0) & IFA_F_DEPRECATED) !== 0 ? ' deprecated' : !isGlobalUnicast4(ip) && !isLinkLocal4(ip) ? ' unusable' : '';
      return `${a.address}/${a.prefixLen}${note}`;
    })
    .join(' ');
}

function describe(cs: readonly Candidate[]): string {
  return cs.map((c) => `${c.link.name}[${addrList(c.addrs) || 'no IPv4'}]`).join(', ') || 'none';
}
