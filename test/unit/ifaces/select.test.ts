import { describe, expect, it } from 'vitest';
import type { Addr, Link, NetlinkHandle, Route } from '../../../src/netlink/types.ts';
import { AF_INET, AF_INET6 } from '../../../src/netlink/types.ts';
import { IFA_F_DEPRECATED, IFA_F_PERMANENT, pickAddress } from '../../../src/ifaces/address.ts';
import { InterfaceSelectionError, selectInterface } from '../../../src/ifaces/select.ts';

function link(index: number, name: string, mtu = 1500): Link {
  return { index, name, kind: 'dummy', mtu, up: true, lowerUp: true, mac: '' };
}
function addr(index: number, address: string, flags = IFA_F_PERMANENT): Addr {
  return { index, family: AF_INET, address, prefixLen: 24, flags };
}

/** Only the four read calls selection makes; everything else throws. */
function stub(links: Link[], addrs: Addr[], routes: Route[] = [], get: Record<string, Route[]> = {}): NetlinkHandle {
  const h = {
    linkList: async () => links,
    addrList: async () => addrs,
    routeList: async () => routes,
    routeGet: async (dst: string) => get[dst] ?? [],
  };
  return new Proxy(h, {
    get(t, p) {
      if (p in t) return t[p as keyof typeof t];
      throw new Error(`unexpected call ${String(p)}`);
    },
  }) as unknown as NetlinkHandle;
}

const lo = link(1, 'lo', 65536);
const eth0 = link(2, 'eth0');
const eth1 = link(3, 'eth1', 9000);
const addrs = [addr(1, '127.0.0.1'), addr(2, '198.18.0.2'), addr(3, '198.18.0.77'), addr(3, '169.254.3.3')];
const defRoute: Route = { family: AF_INET, gateway: '198.18.0.1', oif: 2 };

describe('pickAddress', () => {
  it('prefers global over link-local, permanent over dynamic, primary over secondary, skips deprecated', () => {
    expect(pickAddress([addr(2, '169.254.1.1'), addr(2, '10.0.0.1', 0)])?.address).toBe('10.0.0.1');
    expect(pickAddress([addr(2, '10.0.0.1', 0), addr(2, '10.0.0.2')])?.address).toBe('10.0.0.2');
    expect(pickAddress([addr(2, '10.0.0.1', IFA_F_PERMANENT | 1), addr(2, '10.0.0.2')])?.address).toBe('10.0.0.2');
    expect(pickAddress([addr(2, '10.0.0.1', IFA_F_PERMANENT | IFA_F_DEPRECATED)])).toBeUndefined();
    expect(pickAddress([addr(1, '127.0.0.1'), addr(1, '224.0.0.1')])).toBeUndefined();
    expect(pickAddress([addr(2, '169.254.1.1')])?.address).toBe('169.254.1.1');
  });
});

describe('selectInterface', () => {
  const nl = stub([eth1, lo, eth0], addrs, [{ family: AF_INET, dst: '198.18.0.0/24', oif: 2 }, defRoute], {
    '198.18.0.200': [{ family: AF_INET, dst: '198.18.0.200/32', oif: 3, src: '198.18.0.77' }],
  });

  it('uses the default-route interface with nothing given', async () => {
    expect(await selectInterface(nl, {})).toEqual({ name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '198.18.0.2', extAddr: '198.18.0.2' });
  });
  it('looks the interface up by a known public IP', async () => {
    expect(await selectInterface(nl, { publicIp: '198.18.0.77' })).toMatchObject({ name: 'eth1', mtu: 9000, ifaceAddr: '198.18.0.77', extAddr: '198.18.0.77' });
    await expect(selectInterface(nl, { publicIp: '203.0.113.9' })).rejects.toThrow(/no interface has the public IP 203\.0\.113\.9.*eth0\[198\.18\.0\.2\/24\]/);
  });
  it('tries --iface in order, by name or by IP, and keeps --public-ip as extAddr', async () => {
    expect(await selectInterface(nl, { ifaces: ['nope', 'eth1'] })).toMatchObject({ name: 'eth1', ifaceAddr: '198.18.0.77' });
    expect(await selectInterface(nl, { ifaces: ['198.18.0.2'], publicIp: '203.0.113.9' })).toMatchObject({ name: 'eth0', ifaceAddr: '198.18.0.2', extAddr: '203.0.113.9' });
  });
  it('matches --iface-regex against addresses of all interfaces before names', async () => {
    expect(await selectInterface(nl, { ifaceRegexes: ['^198\\.18\\.0\\.7'] })).toMatchObject({ name: 'eth1', ifaceAddr: '198.18.0.77' });
    expect(await selectInterface(nl, { ifaceRegexes: ['zzz', 'th1$'] })).toMatchObject({ name: 'eth1' });
    // link-local is usable but sorts after the global address: the regex sees it too
    expect(await selectInterface(nl, { ifaceRegexes: ['^169\\.254'] })).toMatchObject({ name: 'eth1', ifaceAddr: '169.254.3.3' });
  });
  it('uses the route lookup for --iface-can-reach, with its source address', async () => {
    expect(await selectInterface(nl, { ifaceCanReach: '198.18.0.200' })).toMatchObject({ name: 'eth1', ifaceAddr: '198.18.0.77' });
  });
  it('names every miss and every interface seen when nothing matches', async () => {
    const err = await selectInterface(nl, { ifaces: ['wlan0'], ifaceRegexes: ['^10\\.'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterfaceSelectionError);
    expect((err as Error).message).toBe(
      'Failed to find interface to use that matches the interfaces and/or regexes provided (--iface=wlan0, --iface-regex=^10\\.); ' +
        'interfaces seen: lo[127.0.0.1/24 unusable], eth0[198.18.0.2/24], eth1[198.18.0.77/24 169.254.3.3/24]',
    );
  });
  it('fails clearly without a default route, without an address, and on a bad regex', async () => {
    await expect(selectInterface(stub([eth0], addrs), {})).rejects.toThrow(/no IPv4 default route/);
    await expect(selectInterface(stub([eth0], [], [defRoute]), {})).rejects.toThrow('failed to find IPv4 address for interface eth0 (it has: none)');
    await expect(selectInterface(nl, { ifaceRegexes: ['('] })).rejects.toThrow(/could not compile the --iface-regex '\('/);
  });
});

describe('selectInterface with IPv6 (dual-stack and IPv6-only)', () => {
  const addr6 = (index: number, address: string, flags = IFA_F_PERMANENT, prefixLen = 64): Addr => ({ index, family: AF_INET6, address, prefixLen, flags });
  const addrs6 = [...addrs, addr6(1, '::1', IFA_F_PERMANENT, 128), addr6(2, 'fe80::2'), addr6(2, 'fd00:198:18::2'), addr6(3, 'fe80::3'), addr6(3, 'fd00:198:18::77')];
  const def6: Route = { family: AF_INET6, gateway: 'fe80::1', oif: 2 };
  const DUAL = { ipv4: true, ipv6: true };
  const V6 = { ipv4: false, ipv6: true };
  const nl = stub([eth1, lo, eth0], addrs6, [defRoute, def6], {
    'fd00:198:18::200': [{ family: AF_INET6, dst: 'fd00:198:18::200/128', oif: 3, src: 'fd00:198:18::77' }],
  });

  it('dual-stack: the default-route interface with an address of each family, global before link-local', async () => {
    const log: string[] = [];
    expect(await selectInterface(nl, { families: DUAL }, (m) => log.push(m))).toEqual({
      name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '198.18.0.2', extAddr: '198.18.0.2', ifaceV6Addr: 'fd00:198:18::2', extV6Addr: 'fd00:198:18::2',
    });
    expect(log).toEqual([
      'Using interface with name eth0 and address 198.18.0.2',
      'Using interface with name eth0 and v6 address fd00:198:18::2',
      'Defaulting external address to interface address (198.18.0.2)',
      'Defaulting external v6 address to interface address (fd00:198:18::2)',
    ]);
  });

  it('IPv6-only: no IPv4 address is needed or reported', async () => {
    expect(await selectInterface(nl, { families: V6, ifaces: ['eth1'] })).toEqual({ name: 'eth1', index: 3, mtu: 9000, ifaceV6Addr: 'fd00:198:18::77', extV6Addr: 'fd00:198:18::77' });
    await expect(selectInterface(stub([eth0], addrs, [def6]), { families: V6 })).rejects.toThrow('failed to find IPv6 address for interface eth0 (it has: none)');
  });

  it('dual-stack: the two default routes must leave by the same interface (upstream’s text)', async () => {
    const split = stub([eth1, lo, eth0], addrs6, [defRoute, { ...def6, oif: 3 }]);
    await expect(selectInterface(split, { families: DUAL })).rejects.toThrow('v6 default route interface eth1 must be the same with v4 default route interface eth0');
    await expect(selectInterface(stub([eth0], addrs6, [defRoute]), { families: DUAL })).rejects.toThrow(/no IPv4 or IPv6 default route/);
  });

  it('--iface as an IPv6 address picks the interface, then its IPv4 address too (upstream fails here)', async () => {
    expect(await selectInterface(nl, { families: DUAL, ifaces: ['fd00:198:18:0::77'] })).toMatchObject({ name: 'eth1', ifaceAddr: '198.18.0.77', ifaceV6Addr: 'fd00:198:18::77' });
    expect(await selectInterface(nl, { families: DUAL, ifaces: ['198.18.0.2'] })).toMatchObject({ name: 'eth0', ifaceAddr: '198.18.0.2', ifaceV6Addr: 'fd00:198:18::2' });
  });

  it('--public-ipv6 is advertised, finds the interface when nothing else is given, and must be IPv6', async () => {
    expect(await selectInterface(nl, { families: V6, publicIpv6: 'fd00:198:18::77' })).toMatchObject({ name: 'eth1', extV6Addr: 'fd00:198:18::77' });
    expect(await selectInterface(nl, { families: DUAL, ifaces: ['eth0'], publicIpv6: '2001:DB8::9' })).toMatchObject({ ifaceV6Addr: 'fd00:198:18::2', extV6Addr: '2001:db8::9' });
    await expect(selectInterface(nl, { families: DUAL, publicIpv6: '198.18.0.2' })).rejects.toThrow('invalid public IPv6 address: 198.18.0.2');
  });

  it('--public-ip is ignored, with a line, when IPv4 is off', async () => {
    const log: string[] = [];
    expect(await selectInterface(nl, { families: V6, publicIp: '203.0.113.9' }, (m) => log.push(m))).toMatchObject({ name: 'eth0', extV6Addr: 'fd00:198:18::2' });
    expect(log[0]).toBe('Ignoring --public-ip 203.0.113.9: IPv4 is not enabled in net-conf.json');
  });

  it('--iface-regex sees IPv6 addresses, --iface-can-reach takes an IPv6 target', async () => {
    expect(await selectInterface(nl, { families: DUAL, ifaceRegexes: [':77$'] })).toMatchObject({ name: 'eth1', ifaceAddr: '198.18.0.77', ifaceV6Addr: 'fd00:198:18::77' });
    expect(await selectInterface(nl, { families: V6, ifaceCanReach: 'fd00:198:18::200' })).toMatchObject({ name: 'eth1', ifaceV6Addr: 'fd00:198:18::77' });
  });

  it('pickAddress for IPv6 prefers global over link-local and skips loopback and deprecated', () => {
    expect(pickAddress([addr6(2, 'fe80::1'), addr6(2, 'fd00::1', 0)], 'ipv6')?.address).toBe('fd00::1');
    expect(pickAddress([addr6(2, 'fd00::1', IFA_F_PERMANENT | IFA_F_DEPRECATED), addr6(2, 'fe80::1')], 'ipv6')?.address).toBe('fe80::1');
    expect(pickAddress([addr6(1, '::1'), addr6(1, 'ff02::1')], 'ipv6')).toBeUndefined();
    expect(pickAddress([addr6(2, 'fd00::1')], 'ipv4')).toBeUndefined();
  });
});
