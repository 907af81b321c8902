/**
 * Test-only stand-in for NetlinkHandle built on `ip -j` (tests may run ip), used by the
 * fixture until src/netlink/index.ts lands. Implements only what the udp backend calls.
 */
import { execFileSync } from 'node:child_process';
import type { Addr, Link, NetlinkHandle, Route } from '../../src/netlink/types.ts';

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface IpLink { ifindex: number; ifname: string; mtu: number; flags: string[]; operstate: string; address?: string; linkinfo?: { info_kind?: string } }

function toLink(l: IpLink): Link {
  return { index: l.ifindex, name: l.ifname, kind: l.linkinfo?.info_kind ?? '', mtu: l.mtu, up: l.flags.includes('UP'), lowerUp: l.flags.includes('LOWER_UP'), mac: l.address ?? '' };
}

function nameOf(index: number): string {
  const l = (JSON.parse(ip(['-j', 'link', 'show'])) as IpLink[]).find((x) => x.ifindex === index);
  if (l === undefined) throw new Error(`no link ${index}`);
  return l.ifname;
}

export function openIpNetlink(): NetlinkHandle {
  const notUsed = (): never => { throw new Error('ip-netlink shim: not implemented'); };
  const h: Partial<NetlinkHandle> = {
    async linkList() { return (JSON.parse(ip(['-d', '-j', 'link', 'show'])) as IpLink[]).map(toLink); },
    async linkByName(name) {
      try { return toLink((JSON.parse(ip(['-d', '-j', 'link', 'show', 'dev', name])) as IpLink[])[0]!); } catch { return undefined; }
    },
    async linkDel(index) { ip(['link', 'del', 'dev', nameOf(index)]); },
    async linkSet(index, c) {
      const args = ['link', 'set', 'dev', nameOf(index)];
      if (c.mtu !== undefined) args.push('mtu', String(c.mtu));
      if (c.up !== undefined) args.push(c.up ? 'up' : 'down');
      ip(args);
    },
    async addrList(f) {
      const out = JSON.parse(ip(['-4', '-j', 'addr', 'show'])) as { ifindex: number; addr_info: { local: string; prefixlen: number }[] }[];
      const r: Addr[] = [];
      for (const l of out) if (f?.index === undefined || l.ifindex === f.index) for (const a of l.addr_info) r.push({ index: l.ifindex, family: 2, address: a.local, prefixLen: a.prefixlen });
      return r;
    },
    async addrAdd(a) { ip(['addr', 'add', `${a.address}/${a.prefixLen}`, 'dev', nameOf(a.index)]); },
    async addrDel(a) { ip(['addr', 'del', `${a.address}/${a.prefixLen}`, 'dev', nameOf(a.index)]); },
    async routeReplace(r: Route) { ip(['route', 'replace', r.dst!, 'dev', nameOf(r.oif!), 'scope', 'global']); },
    close() {},
  };
  return new Proxy(h, { get: (t, k) => (t as Record<string | symbol, unknown>)[k] ?? notUsed }) as NetlinkHandle;
}
