/**
 * The lab's CNI wiring alone: no daemon; the lab writes each node's subnet.env and host-gw style
 * routes by hand, and pods are attached by the reference bridge + host-local plugins with the
 * delegate flannel's CNI plugin derives (flannel-io/cni-plugin's flannel.go). If pods do not reach each other here, no daemon
 * test in the lab can pass.
 */
import { describe, expect, it } from 'vitest';
import { NODE_UPLINK } from '../../lab/topology.ts';
import { labReady, useLab } from './harness.ts';

describe.skipIf(!labReady.ok)(`CNI wiring without a daemon${labReady.ok ? '' : ` (skipped: ${labReady.why})`}`, () => {
  const lab = useLab({ nodes: 3, podsPerNode: 2, daemon: 'none' });

  it('gives each pod an address from its node subnet, with the gateway and the flannel network route', async () => {
    for (const p of lab().pods()) {
      const node = lab().node(p.node);
      expect(p.ip.startsWith(node.podCidr.replace(/0\/24$/, ''))).toBe(true);
      const routes = (await p.exec(['ip', '-4', 'route'])).stdout;
      const gw = node.podCidr.replace(/0\/24$/, '1');
      expect(routes).toContain(`default via ${gw} dev eth0`);
      expect(routes).toContain(`10.244.0.0/16 via ${gw} dev eth0`);
    }
    const cni0 = (await lab().node(1).exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'cni0'])).stdout;
    expect(cni0).toContain('10.244.2.1/24');
  });

  it('sets the pod MTU from FLANNEL_MTU', async () => {
    const link = (await lab().pod(0, 0).exec(['ip', '-o', 'link', 'show', 'dev', 'eth0'])).stdout;
    expect(link).toMatch(new RegExp(`mtu ${lab().node(0).subnetEnv().mtu} `));
  });

  it('lets every pod ping every other pod, on the same node and across nodes', async () => {
    const m = await lab().pingMatrix();
    expect(m.failures).toEqual([]);
    expect(m.endpoints).toHaveLength(6);
  });

  it('loses a node pair when its route is removed, and regains it when the route is back', async () => {
    const node0 = lab().node(0);
    const node1 = lab().node(1);
    await node0.exec(['ip', 'route', 'del', node1.podCidr]);
    try {
      expect(await lab().ping(lab().pod(0, 0), lab().pod(1, 0))).toBe(false);
      expect(await lab().ping(lab().pod(0, 0), lab().pod(2, 0))).toBe(true);
    } finally {
      await node0.exec(['ip', 'route', 'add', node1.podCidr, 'via', node1.underlayIp, 'dev', NODE_UPLINK]);
    }
    expect(await lab().ping(lab().pod(0, 0), lab().pod(1, 0))).toBe(true);
  });

  it('counts a steady ping stream, and its losses while a route is missing', async () => {
    const from = lab().pod(0, 1);
    const to = lab().pod(2, 1);
    const clean = await lab().pingStream(from, to, 50);
    expect(clean).toEqual({ transmitted: 50, received: 50 });
    const node0 = lab().node(0);
    const node2 = lab().node(2);
    await node0.exec(['ip', 'route', 'del', node2.podCidr]);
    try {
      const lossy = await lab().pingStream(from, to, 20, 0.05);
      expect(lossy.received).toBe(0);
    } finally {
      await node0.exec(['ip', 'route', 'add', node2.podCidr, 'via', node2.underlayIp, 'dev', NODE_UPLINK]);
    }
  });
});
