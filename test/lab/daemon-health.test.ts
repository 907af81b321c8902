/**
 * Health, readiness and what the daemon publishes on its Node, vxlan, one lab (2 nodes, a third
 * added without a podCIDR):
 *  - /healthz and /readyz answer upstream's bodies once the node is programmed (issue 4 item 2);
 *  - the annotations are upstream's bytes and NetworkUnavailable is False/FlannelIsUp (issue 2 item 4);
 *  - a node without a podCIDR keeps its daemon running, not ready with a reason naming the missing
 *    podCIDR and how to get one, logged once; the moment the podCIDR is set through the API it
 *    proceeds: subnet.env, ready, programmed on its peers, its pods reachable (issue 2 item 4a).
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../lab/processes.ts';
import {
  connectivityAmong,
  eventually,
  expectedVxlan,
  getNode,
  HEALTH_PORT,
  link,
  logRecords,
  PREFIX,
  vxlanKernel,
  vxlanPeers,
} from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

describe.skipIf(skip)(`daemon health and node object, vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan' });

  it('answers /healthz and /readyz with 200 and upstream’s bodies once every peer is programmed', async () => {
    for (const i of [0, 1]) {
      const n = lab().node(i);
      await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }));
      expect(await n.http('/healthz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is running' });
      // Ready means programmed: the peer's route, neighbour and FDB entry are there.
      expect(await vxlanKernel(n)).toEqual(expectedVxlan(n, await vxlanPeers(lab(), [1 - i])));
    }
  });

  it('writes upstream’s annotation bytes and sets NetworkUnavailable=False (FlannelIsUp)', async () => {
    for (const i of [0, 1]) {
      const n = lab().node(i);
      const mac = (await link(n, 'flannel.1')).address;
      const node = await getNode(lab(), n.name);
      expect(node.metadata.annotations).toEqual({
        dummy: 'value',
        [`${PREFIX}backend-data`]: `{"VNI":1,"VtepMAC":"${mac}"}`,
        [`${PREFIX}backend-type`]: 'vxlan',
        [`${PREFIX}kube-subnet-manager`]: 'true',
        [`${PREFIX}public-ip`]: n.underlayIp,
      });
      expect(node.status.conditions).toEqual([
        {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'FlannelIsUp',
          message: 'Flannel is running on this node',
          lastHeartbeatTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
          lastTransitionTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        },
      ]);
    }
  });

  it('waits for a missing podCIDR without exiting, says so on /readyz, and proceeds once it is set', async () => {
    const i = await lab().addNode({ podCidr: false });
    const n = lab().node(i);
    const reason = `not ready: waiting for a podCIDR on node "${n.name}" (kube-controller-manager --allocate-node-cidrs=true with --cluster-cidr, or set spec.podCIDR)`;
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 503, body: reason }), 30_000);
    // Still waiting a while later: alive, live, not ready, nothing written, nothing published.
    await sleep(3000);
    expect(isAlive(n.daemonPid!)).toBe(true);
    expect(await n.http('/healthz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is running' });
    expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 503, body: reason });
    expect(existsSync(n.subnetFile)).toBe(false);
    expect((await getNode(lab(), n.name)).metadata.annotations).toEqual({ dummy: 'value' });
    const told = logRecords(n).filter((r) => String(r['msg']).includes('pod cidr not assigned'));
    expect(told).toEqual([
      expect.objectContaining({
        node: n.name,
        msg: `node "${n.name}" pod cidr not assigned; waiting for spec.podCIDR. Fix: run kube-controller-manager with --allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16, or set it by hand: kubectl patch node ${n.name} -p '{"spec":{"podCIDR":"<a /24 inside 10.244.0.0/16>"}}'`,
      }),
    ]);

    const patched = await lab().api('PATCH', `/api/v1/nodes/${n.name}`, { spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] } }, 'application/strategic-merge-patch+json');
    expect(patched.status).toBe(200);
    await lab().waitForSubnetFile(i);
    expect(readFileSync(n.subnetFile, 'utf8')).toBe(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }), 30_000);
    // (cni0, and with it the node's own pod route, exists once a pod is attached.)
    await lab().addPods(i, 1);
    for (const [j, peers] of [[0, [1, i]], [1, [0, i]], [i, [0, 1]]] as const) {
      const want = expectedVxlan(lab().node(j), await vxlanPeers(lab(), peers));
      await eventually(async () => expect(await vxlanKernel(lab().node(j))).toEqual(want));
    }
    const m = await connectivityAmong(lab(), [0, 1, i]);
    expect(m.failures).toEqual([]);
    expect(m.endpoints).toHaveLength(3);
  }, 90_000);
});
