/**
 * The soak's independent checker (lab/soak/checker.ts): the expected kernel state of a node from
 * Node objects, the last-valid-lease rule, and the comparison with `ip -j`/`bridge -j` output as
 * a 3-node vxlan lab printed it.
 */
import { describe, expect, it } from 'vitest';
import {
  A_DATA, A_KSM, A_PUBLIC_IP, A_TYPE, compareNode, expectedState, LeaseModel, parseKernel, toApiNode,
  type ApiNode, type CheckedNode,
} from '../../../../lab/soak/checker.ts';

const MAC1 = '82:9b:bb:f5:78:7e';
const MAC2 = 'b2:11:9f:61:56:d5';
const MAC3 = '26:84:f0:59:b3:20';

function node(name: string, cidr: string, type: string, data: string, ip: string): ApiNode {
  return toApiNode({
    metadata: { name, annotations: { [A_KSM]: 'true', [A_TYPE]: type, [A_DATA]: data, [A_PUBLIC_IP]: ip, dummy: 'value' } },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
  });
}
const vx = (mac: string): string => JSON.stringify({ VNI: 1, VtepMAC: mac });

const nodes = [
  node('n0', '10.244.1.0/24', 'vxlan', vx(MAC1), '198.18.0.10'),
  node('n1', '10.244.2.0/24', 'vxlan', vx(MAC2), '198.18.0.11'),
  node('n2', '10.244.3.0/24', 'vxlan', vx(MAC3), '198.18.0.12'),
];
const self = (backend: CheckedNode['backend'] = 'vxlan'): CheckedNode => ({
  name: 'n0', netns: 'x-n0', underlayIp: '198.18.0.10', podCidr: '10.244.1.0/24', backend, publicIp: '198.18.0.10', keptRoutes: [],
});

describe('expected state from the Node objects', () => {
  it('vxlan: per vxlan peer an onlink route, a permanent neighbour and an fdb entry; other backends nothing', () => {
    const withHostGw = [...nodes, node('hg', '10.244.9.0/24', 'host-gw', 'null', '198.18.0.19')];
    const want = expectedState(self(), new LeaseModel().update(withHostGw));
    expect(want).toEqual({
      devices: { 'flannel.1': { kind: 'vxlan', mtu: 1450, up: true, vxlan: 'id 1 local 198.18.0.10 dev eth0 port 8472 nolearning', addrs: ['10.244.1.0/32'] } },
      routes: ['10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', '10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink'],
      neigh: [`10.244.2.0 lladdr ${MAC2}`, `10.244.3.0 lladdr ${MAC3}`],
      fdb: [`${MAC3} dst 198.18.0.12`, `${MAC2} dst 198.18.0.11`],
      annotations: { [A_KSM]: 'true', [A_TYPE]: 'vxlan', [A_PUBLIC_IP]: '198.18.0.10' },
      subnetEnv: { FLANNEL_NETWORK: '10.244.0.0/16', FLANNEL_SUBNET: '10.244.1.1/24', FLANNEL_MTU: '1450', FLANNEL_IPMASQ: 'true' },
    });
  });

  it('host-gw: a route via each host-gw peer’s public IP; udp: flannel0 and one Network route, whatever the peers', () => {
    const hg = [nodes[0]!, node('n1', '10.244.2.0/24', 'host-gw', 'null', '198.18.0.11'), nodes[2]!];
    const h = expectedState(self('host-gw'), new LeaseModel().update(hg));
    expect(h.devices).toEqual({});
    expect(h.routes).toEqual(['10.244.2.0/24 via 198.18.0.11 dev eth0']);
    expect(h.annotations[A_DATA]).toBe('null');
    const u = expectedState(self('udp'), new LeaseModel().update(nodes));
    expect(u.devices).toEqual({ flannel0: { kind: 'tun', mtu: 1472, up: true, addrs: ['10.244.1.0/32'] } });
    expect(u.routes).toEqual(['10.244.0.0/16 dev flannel0']);
    expect(u.annotations[A_TYPE]).toBe('');
    expect(u.subnetEnv['FLANNEL_MTU']).toBe('1472');
  });

  it('keeps a peer’s last valid lease while its annotations are malformed, and forgets deleted and non-flannel nodes', () => {
    const m = new LeaseModel();
    expect([...m.update(nodes).keys()]).toEqual(['n0', 'n1', 'n2']);
    const bad = [nodes[0]!, node('n1', '10.244.2.0/24', 'vxlan', '{"VNI":1,"VtepMAC":', '198.18.0.11'), node('n2', '10.244.3.0/24', 'vxlan', vx(MAC3), '198.18.0.999')];
    const kept = m.update(bad);
    expect(kept.get('n1')?.backendData).toBe(vx(MAC2));
    expect(kept.get('n2')?.publicIp).toBe('198.18.0.12');
    const plain = toApiNode({ metadata: { name: 'n2', annotations: { dummy: 'value' } }, spec: { podCIDR: '10.244.3.0/24' } });
    expect([...m.update([nodes[0]!, plain]).keys()]).toEqual(['n0']);
    // Malformed from the start: nothing to keep.
    expect([...new LeaseModel().update(bad).keys()]).toEqual(['n0']);
  });
});

// What `ip -4 -d -j` (link, addr, route, neigh) and `bridge -j fdb` print on a vxlan node (trimmed).
const dumps = () => ({
  link: [
    { ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536, address: '00:00:00:00:00:00' },
    { ifname: 'flannel.1', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1450, address: MAC1,
      linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '198.18.0.10', link: 'eth0', port: 8472, learning: false } } },
  ] as Record<string, unknown>[],
  addr: [{ ifname: 'flannel.1', addr_info: [{ family: 'inet', local: '10.244.1.0', prefixlen: 32 }] }] as Record<string, unknown>[],
  route: [
    { dst: '10.244.1.0/24', dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.1', flags: [] },
    { dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', flags: ['onlink'] },
    { dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', flags: ['onlink'] },
    { dst: '198.18.0.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '198.18.0.10', flags: [] },
  ] as Record<string, unknown>[],
  neigh: [
    { dst: '10.244.2.0', dev: 'flannel.1', lladdr: MAC2, state: ['PERMANENT'] },
    { dst: '10.244.3.0', dev: 'flannel.1', lladdr: MAC3, state: ['PERMANENT'] },
  ] as Record<string, unknown>[],
  fdb: [
    { mac: MAC2, ifname: 'flannel.1', dst: '198.18.0.11', flags: ['self'], state: 'permanent' },
    { mac: MAC3, ifname: 'flannel.1', dst: '198.18.0.12', flags: ['self'], state: 'permanent' },
    { mac: '0a:58:0a:f4:01:02', ifname: 'veth1', master: 'cni0', state: '' },
  ] as Record<string, unknown>[],
});
const ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
const own = { ...nodes[0]!.annotations };

describe('comparing with the kernel', () => {
  const want = expectedState(self(), new LeaseModel().update(nodes));

  it('finds nothing wrong with a node as the lab built it', () => {
    expect(compareNode(self(), want, parseKernel(dumps()), own, ENV)).toEqual([]);
  });

  it('names each missing, unexpected or wrong object', () => {
    const d = dumps();
    d.route.splice(1, 1);
    d.route.push({ dst: '10.244.250.0/24', gateway: '10.244.250.0', dev: 'flannel.1', flags: ['onlink'] });
    d.neigh[0]!['lladdr'] = '0a:00:00:00:00:99';
    d.fdb.pop();
    d.fdb.push({ mac: '0a:00:00:00:00:99', ifname: 'flannel.1', dst: '198.18.0.99', state: 'permanent' });
    (d.link[1]!['flags'] as string[]).splice(2, 1);
    d.addr[0]!['addr_info'] = [];
    expect(compareNode(self(), want, parseKernel(d), { ...own, [A_DATA]: vx(MAC2) }, ENV.replace('1450', '1500'))).toEqual([
      'n0: flannel.1: down',
      'n0: missing flannel.1 address 10.244.1.0/32',
      'n0: missing route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
      'n0: unexpected route 10.244.250.0/24 via 10.244.250.0 dev flannel.1 onlink',
      `n0: missing neighbour 10.244.2.0 lladdr ${MAC2}`,
      'n0: unexpected neighbour 10.244.2.0 lladdr 0a:00:00:00:00:99',
      'n0: unexpected fdb entry 0a:00:00:00:00:99 dst 198.18.0.99',
      `n0: annotation backend-data is ${JSON.stringify(vx(MAC2))}, want ${JSON.stringify(vx(MAC1))} (flannel.1's MAC)`,
      'n0: subnet.env FLANNEL_MTU=1500, want 1450',
    ]);
  });

  it('wants a route the soak planted on another device kept, and flannel devices of another backend gone', () => {
    const d = dumps();
    d.route.push({ dst: '10.244.251.0/24', dev: 'soak0', scope: 'link', flags: [] });
    const kept = { ...self(), keptRoutes: ['10.244.251.0/24 dev soak0 scope link'] };
    expect(compareNode(kept, expectedState(kept, new LeaseModel().update(nodes)), parseKernel(d), own, ENV)).toEqual([]);
    expect(compareNode(self(), want, parseKernel(d), own, ENV)).toEqual(['n0: unexpected route 10.244.251.0/24 dev soak0 scope link']);
    const hg = self('host-gw');
    const problems = compareNode(hg, expectedState(hg, new LeaseModel().update(nodes)), parseKernel(dumps()), { ...own, [A_TYPE]: 'host-gw', [A_DATA]: 'null' }, ENV.replace('1450', '1500'));
    expect(problems[0]).toBe('n0: unexpected device flannel.1 (vxlan)');
  });
});
