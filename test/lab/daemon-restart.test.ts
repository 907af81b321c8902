/**
 * Restarts, vxlan, one lab for the file (2 nodes, a third added later):
 *  - restarting the sender's and then the receiver's daemon under a 100/s ping stream loses no
 *    ping and changes no kernel object: the kernel's own event monitors stay silent, flannel.1
 *    keeps its ifindex and MAC, routes/neighbours/FDB/iptables rules, the node annotations and
 *    subnet.env's bytes are all the same (issue 5 item 7);
 *  - the API server double going away and coming back on the same port: the daemons keep running
 *    and say so on /healthz, and a node added afterwards is programmed on every peer (issue 2).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.ts';
import { isAlive } from '../../lab/processes.ts';
import {
  connectivityAmong,
  eventually,
  expectedVxlan,
  getNode,
  HEALTH_PORT,
  iptablesRules,
  ipJson,
  link,
  monitor,
  sample,
  scrape,
  vxlanKernel,
  vxlanPeers,
} from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

async function snapshot(lab: Lab, i: number) {
  const n = lab.node(i);
  return {
    flannel1: await link(n, 'flannel.1'),
    flannel1Details: await ipJson(n, ['ip', '-j', '-d', 'link', 'show', 'dev', 'flannel.1']),
    kernel: await vxlanKernel(n),
    iptables: await iptablesRules(n),
    annotations: (await getNode(lab, n.name)).metadata.annotations,
    subnetEnv: readFileSync(n.subnetFile),
  };
}

async function waitReady(lab: Lab, i: number): Promise<void> {
  await eventually(async () => expect(await lab.node(i).http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }), 30_000);
}

describe.skipIf(skip)(`daemon and API server restarts, vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan' });

  it('restarting the sender’s and the receiver’s daemon loses no ping at 100/s and changes no kernel object', async () => {
    expect((await connectivityAmong(lab(), [0, 1])).failures).toEqual([]);
    for (const i of [0, 1]) await waitReady(lab(), i);
    const before = [await snapshot(lab(), 0), await snapshot(lab(), 1)];
    // IPv4 only: the lab's fresh interfaces still finish IPv6 autoconfiguration meanwhile (which
    // also sends link notices, so flannel.1 itself is compared in full before and after instead).
    const monitors = await Promise.all(
      [0, 1].flatMap((i) => [
        monitor(lab().node(i), ['ip', '-4', 'monitor', 'address', 'route']),
        monitor(lab().node(i), ['ip', '-4', 'monitor', 'neigh']),
        monitor(lab().node(i), ['bridge', 'monitor', 'fdb']),
      ]),
    );

    let streaming = true;
    const stream = lab()
      .pingStream(lab().pod(0, 0), lab().pod(1, 0), 1500)
      .finally(() => {
        streaming = false;
      });
    await sleep(1000);
    for (const i of [0, 1]) {
      const oldPid = lab().node(i).daemonPid!;
      await lab().stopDaemon(i);
      expect(isAlive(oldPid)).toBe(false);
      await lab().startDaemon(i);
      await waitReady(lab(), i);
    }
    // Both restarts happened while the echoes were flowing.
    expect(streaming).toBe(true);
    const stats = await stream;
    const events = await Promise.all(monitors.map((m) => m.stop()));

    expect(stats.transmitted).toBe(1500);
    expect(stats.received).toBe(stats.transmitted);
    // Pings legitimately move cni0/eth0 neighbours and bridge entries; flannel.1's must stay still.
    expect(events.flatMap((lines, k) => (k % 3 === 0 ? lines : lines.filter((l) => l.includes('flannel.1'))))).toEqual([]);
    const after = [await snapshot(lab(), 0), await snapshot(lab(), 1)];
    expect(after).toEqual(before);
    // And that state is the right one, not merely an unchanged one.
    expect(after[0]!.kernel).toEqual(expectedVxlan(lab().node(0), await vxlanPeers(lab(), [1])));
    expect(after[0]!.annotations?.['flannel.alpha.coreos.com/backend-data']).toBe(`{"VNI":1,"VtepMAC":"${after[0]!.flannel1.address}"}`);
  }, 90_000);

  it('survives the API server going away and coming back, and then programs a new node on every peer', async () => {
    const pids = [0, 1].map((i) => lab().node(i).daemonPid!);
    const restartsBefore = sample((await scrape(lab().node(0))).samples, 'flannel_kube_watch_restarts_total', { reason: 'error' });
    await lab().stopApiServer();
    expect((await lab().api('GET', '/api/v1/nodes').catch((e: Error) => e)) instanceof Error).toBe(true);
    // Long enough for the watches to fail and retry a few times.
    await sleep(5000);
    for (const i of [0, 1]) {
      expect(isAlive(pids[i]!)).toBe(true);
      expect(await lab().node(i).http('/healthz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is running' });
    }
    // The peers are still programmed and still reachable while the API is down.
    expect(await vxlanKernel(lab().node(0))).toEqual(expectedVxlan(lab().node(0), await vxlanPeers(lab(), [1])));
    expect((await connectivityAmong(lab(), [0, 1], 5000)).failures).toEqual([]);

    await lab().startApiServer();
    expect((await lab().api('GET', `/api/v1/nodes/${lab().node(0).name}`)).status).toBe(200);
    const added = await lab().addNode();
    for (const [i, peers] of [[0, [1, added]], [1, [0, added]], [added, [0, 1]]] as const) {
      const want = expectedVxlan(lab().node(i), await vxlanPeers(lab(), peers));
      await eventually(async () => expect(await vxlanKernel(lab().node(i))).toEqual(want), 30_000);
    }
    for (const i of [0, 1]) {
      expect(isAlive(pids[i]!)).toBe(true);
      expect(await lab().node(i).http('/healthz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is running' });
    }
    expect((await connectivityAmong(lab(), [0, 1, added])).failures).toEqual([]);
    expect(sample((await scrape(lab().node(0))).samples, 'flannel_kube_watch_restarts_total', { reason: 'error' })).toBeGreaterThan(restartsBefore);
  }, 120_000);
});
