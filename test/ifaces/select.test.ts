import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectInterface } from '../../src/ifaces/select.ts';
import { isRoot } from '../../lab/harness/netns.ts';
import { Topology } from '../../lab/harness/topology.ts';

/**
 * Interface selection against a real kernel: node 1 gets a second underlay-facing device
 * (`ul2`, a port-less bridge standing in for a NIC) with addresses in several states.
 */
describe.skipIf(!isRoot)('selectInterface in a namespace', () => {
  let topo: Topology;
  let ns: string;
  beforeAll(async () => {
    topo = await Topology.create(1);
    ns = topo.node(1).ns;
    await topo.ip(ns, 'link', 'add', 'ul2', 'mtu', '9000', 'type', 'bridge');
    await topo.ip(ns, 'link', 'set', 'ul2', 'up');
    await topo.ip(ns, 'addr', 'add', '198.18.0.101/24', 'dev', 'ul2', 'preferred_lft', '0'); // deprecated
    await topo.ip(ns, 'addr', 'add', '198.18.0.102/24', 'dev', 'ul2', 'valid_lft', '3600', 'preferred_lft', '3600'); // dynamic
    await topo.ip(ns, 'addr', 'add', '198.18.0.103/24', 'dev', 'ul2'); // permanent (secondary)
  });
  afterAll(() => topo?.destroy());

  it('picks the permanent, non-deprecated address of a named interface, and its MTU', async () => {
    const ext = await selectInterface(topo.node(1).nl, { ifaces: ['ul2'] });
    expect(ext).toMatchObject({ name: 'ul2', mtu: 9000, ifaceAddr: '198.18.0.103', extAddr: '198.18.0.103' });
  });

  it('follows the default route when nothing is given', async () => {
    await topo.ip(ns, 'route', 'add', 'default', 'via', '198.18.0.1', 'dev', 'eth0');
    try {
      expect(await selectInterface(topo.node(1).nl, {})).toMatchObject({ name: 'eth0', mtu: 1500, ifaceAddr: '198.18.0.11' });
    } finally {
      await topo.ip(ns, 'route', 'del', 'default');
    }
    await expect(selectInterface(topo.node(1).nl, {})).rejects.toThrow(/no IPv4 default route in the main table; interfaces seen: lo\[127\.0\.0\.1\/8 unusable\], eth0\[198\.18\.0\.11\/24\], ul2\[/);
  });

  it('finds the interface by --iface IP, by public IP, by regex and by --iface-can-reach', async () => {
    const nl = topo.node(1).nl;
    expect(await selectInterface(nl, { ifaces: ['198.18.0.102'] })).toMatchObject({ name: 'ul2', ifaceAddr: '198.18.0.102' });
    expect(await selectInterface(nl, { publicIp: '198.18.0.11' })).toMatchObject({ name: 'eth0', ifaceAddr: '198.18.0.11' });
    expect(await selectInterface(nl, { ifaceRegexes: ['^ul'] })).toMatchObject({ name: 'ul2', ifaceAddr: '198.18.0.103' });
    // Same /24 on two devices: the kernel's route lookup decides, with its preferred source.
    const viaRoute = await selectInterface(nl, { ifaceCanReach: '198.18.0.50' });
    expect(['eth0', 'ul2']).toContain(viaRoute.name);
    expect(viaRoute.ifaceAddr).toBe((await topo.ip(ns, 'route', 'get', '198.18.0.50')).match(/src (\S+)/)![1]);
  });

  it('names the candidates when nothing matches', async () => {
    await expect(selectInterface(topo.node(1).nl, { ifaces: ['wlan0', '198.18.0.250'] })).rejects.toThrow(
      /\(--iface=wlan0, --iface=198\.18\.0\.250\); interfaces seen: lo\[127\.0\.0\.1\/8 unusable\], eth0\[198\.18\.0\.11\/24\], ul2\[198\.18\.0\.101\/24 deprecated 198\.18\.0\.102\/24 198\.18\.0\.103\/24\]/,
    );
  });
});
