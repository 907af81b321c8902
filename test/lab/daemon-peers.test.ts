/**
 * Peers coming and going, seen from the running daemons (issue 5 item 7, issue 4 item 1, issue 2
 * item 4b), vxlan, one 3-node lab for the whole file; the tests run in order and build on each
 * other's state:
 *  - exact routes / neighbours / FDB per node, and /metrics agreeing with them;
 *  - a route deleted by hand comes back and is counted as a drift repair;
 *  - a peer with malformed annotations is skipped (counted, logged by node and annotation) while
 *    every other peer keeps working;
 *  - a node deleted from the API disappears from every remaining node's kernel state and metrics;
 *  - a node added later appears everywhere and its pods are reachable.
 */
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.ts';
import {
  connectivityAmong,
  eventually,
  expectedVxlan,
  logRecords,
  PREFIX,
  sample,
  scrape,
  vxlanKernel,
  vxlanPeers,
} from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

/** Node `i` holds exactly the vxlan state for `peers` (polled: the daemons converge on their own). */
async function expectExactly(lab: Lab, i: number, peers: readonly number[]): Promise<void> {
  const want = expectedVxlan(lab.node(i), await vxlanPeers(lab, peers));
  await eventually(async () => expect(await vxlanKernel(lab.node(i))).toEqual(want));
}

async function expectMetrics(lab: Lab, i: number, peers: number): Promise<void> {
  await eventually(async () => {
    const { samples } = await scrape(lab.node(i));
    expect({
      peers: sample(samples, 'flannel_peers', { backend: 'vxlan' }),
      route: sample(samples, 'flannel_kernel_entries', { type: 'route' }),
      neigh: sample(samples, 'flannel_kernel_entries', { type: 'neigh' }),
      fdb: sample(samples, 'flannel_kernel_entries', { type: 'fdb' }),
    }).toEqual({ peers, route: peers, neigh: peers, fdb: peers });
  });
}

describe.skipIf(skip)(`the daemon tracks peers, vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, backend: 'vxlan' });

  it('programs exactly one route, neighbour and FDB entry per peer on every node', async () => {
    for (const i of [0, 1, 2]) await expectExactly(lab(), i, [0, 1, 2].filter((j) => j !== i));
    expect((await connectivityAmong(lab(), [0, 1, 2])).failures).toEqual([]);
  }, 60_000);

  it('exports the lease, the peers and the kernel entries in /metrics', async () => {
    for (const i of [0, 1, 2]) {
      const n = lab().node(i);
      await expectMetrics(lab(), i, 2);
      const { samples } = await scrape(n);
      const lease = samples.filter((s) => s.name === 'flannel_lease_info');
      expect(lease).toEqual([{ name: 'flannel_lease_info', labels: { subnet: n.podCidr, backend: 'vxlan', public_ip: n.underlayIp, node: n.name }, value: 1 }]);
    }
  });

  it('puts back a route deleted by hand and counts it as a drift repair', async () => {
    const n = lab().node(0);
    const before = (await scrape(n)).samples;
    const runsBefore = sample(before, 'flannel_reconcile_runs_total');
    const repairsBefore = sample(before, 'flannel_drift_repairs_total', { object: 'route' });
    await n.exec(['ip', 'route', 'del', lab().node(2).podCidr]);
    await expectExactly(lab(), 0, [1, 2]);
    await eventually(async () => {
      const after = (await scrape(n)).samples;
      expect(sample(after, 'flannel_drift_repairs_total', { object: 'route' })).toBe(repairsBefore + 1);
      expect(sample(after, 'flannel_reconcile_runs_total')).toBeGreaterThan(runsBefore);
    });
  });

  it('skips a peer with a malformed public-ip, names it in the log and the metric, and keeps the others working', async () => {
    const bogus = `${lab().prefix}-bogus`;
    const skippedBefore = await Promise.all([0, 1, 2].map(async (i) => sample((await scrape(lab().node(i))).samples, 'flannel_peers_skipped_total', { reason: 'malformed' })));
    const created = await lab().api('POST', '/api/v1/nodes', {
      metadata: {
        name: bogus,
        annotations: {
          [`${PREFIX}backend-type`]: 'vxlan',
          [`${PREFIX}backend-data`]: '{"VNI":1,"VtepMAC":"0a:0b:0c:0d:0e:0f"}',
          [`${PREFIX}kube-subnet-manager`]: 'true',
          [`${PREFIX}public-ip`]: 'not-an-ip',
        },
      },
      spec: { podCIDR: '10.244.100.0/24', podCIDRs: ['10.244.100.0/24'] },
    });
    expect(created.status).toBe(201);
    try {
      for (const i of [0, 1, 2]) {
        const n = lab().node(i);
        await eventually(async () => {
          expect(sample((await scrape(n)).samples, 'flannel_peers_skipped_total', { reason: 'malformed' })).toBe(skippedBefore[i]! + 1);
        });
        const named = logRecords(n).filter((r) => r['node'] === bogus);
        expect(named).toEqual([
          expect.objectContaining({ annotation: `${PREFIX}public-ip`, msg: `skipping peer: node "${bogus}": ${PREFIX}public-ip: "not-an-ip" is not an IPv4 address` }),
        ]);
        // Nothing for the bogus node; everything for the good ones.
        await expectExactly(lab(), i, [0, 1, 2].filter((j) => j !== i));
        await expectMetrics(lab(), i, 2);
      }
      expect((await connectivityAmong(lab(), [0, 1, 2])).failures).toEqual([]);
    } finally {
      await lab().api('DELETE', `/api/v1/nodes/${bogus}`);
    }
  }, 60_000);

  it('keeps the last valid lease of a peer whose public-ip turns malformed, and says so', async () => {
    const peer = lab().node(1);
    const key = `${PREFIX}public-ip`;
    const skippedBefore = sample((await scrape(lab().node(0))).samples, 'flannel_peers_skipped_total', { reason: 'malformed' });
    const patch = (v: string) => lab().api('PATCH', `/api/v1/nodes/${peer.name}`, { metadata: { annotations: { [key]: v } } }, 'application/strategic-merge-patch+json');
    expect((await patch('not-an-ip')).status).toBe(200);
    try {
      await eventually(async () => {
        expect(sample((await scrape(lab().node(0))).samples, 'flannel_peers_skipped_total', { reason: 'malformed' })).toBe(skippedBefore + 1);
      });
      expect(logRecords(lab().node(0)).filter((r) => r['node'] === peer.name && r['annotation'] === key)).toEqual([
        expect.objectContaining({ msg: `skipping peer: node "${peer.name}": ${key}: "not-an-ip" is not an IPv4 address (keeping its last valid lease)` }),
      ]);
      await expectExactly(lab(), 0, [1, 2]);
      await expectMetrics(lab(), 0, 2);
      expect((await connectivityAmong(lab(), [0, 1, 2])).failures).toEqual([]);
    } finally {
      expect((await patch(peer.underlayIp)).status).toBe(200);
    }
  }, 60_000);

  it('removes a node deleted from the API from every peer: routes, neighbours, FDB, metrics', async () => {
    const runsBefore = sample((await scrape(lab().node(0))).samples, 'flannel_reconcile_runs_total');
    // The node is gone for good: its daemon stops, then its Node object is deleted.
    await lab().stopDaemon(2);
    expect((await lab().api('DELETE', `/api/v1/nodes/${lab().node(2).name}`)).status).toBe(200);
    await expectExactly(lab(), 0, [1]);
    await expectExactly(lab(), 1, [0]);
    await expectMetrics(lab(), 0, 1);
    await expectMetrics(lab(), 1, 1);
    expect(sample((await scrape(lab().node(0))).samples, 'flannel_reconcile_runs_total')).toBeGreaterThan(runsBefore);
    expect((await connectivityAmong(lab(), [0, 1])).failures).toEqual([]);
    // Upstream's lines (pkg/backend/route_network.go), which runbooks grep for.
    const gone = lab().node(2);
    const msgs = logRecords(lab().node(0)).map((r) => String(r['msg']));
    expect(msgs).toContain(`Subnet added: ${gone.podCidr} via ${gone.underlayIp}`);
    expect(msgs.filter((m) => m === `Subnet removed: ${gone.podCidr}`)).toHaveLength(1);
  }, 60_000);

  it('programs a node added later on every peer, and its pods are reachable', async () => {
    const added = await lab().addNode();
    expect(added).toBe(3);
    await expectExactly(lab(), 0, [1, 3]);
    await expectExactly(lab(), 1, [0, 3]);
    await expectExactly(lab(), 3, [0, 1]);
    for (const i of [0, 1, 3]) await expectMetrics(lab(), i, 2);
    const m = await connectivityAmong(lab(), [0, 1, 3]);
    expect(m.failures).toEqual([]);
    expect(m.endpoints).toHaveLength(3);
  }, 90_000);
});
