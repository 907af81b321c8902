/**
 * host-gw peers coming and going (issue 5 items 5 and 7), one 3-node lab: exactly one route per
 * peer via its underlay address; a node deleted from the API disappears from every remaining
 * node's routes and metrics while the rest keeps working.
 */
import { describe, expect, it } from 'vitest';
import type { Lab } from '../../lab/lab.ts';
import { connectivityAmong, eventually, expectedHostGwRoutes, ipJson, sample, scrape } from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

async function expectRoutes(lab: Lab, i: number, peers: readonly number[]): Promise<void> {
  const want = expectedHostGwRoutes(lab.node(i), peers.map((j) => lab.node(j)));
  await eventually(async () => {
    const routes = (await ipJson(lab.node(i), ['ip', '-j', 'route'])).sort((a, b) => String(a['dst']).localeCompare(String(b['dst'])));
    expect(routes).toEqual(want);
  });
  await eventually(async () => {
    const { samples } = await scrape(lab.node(i));
    expect([sample(samples, 'flannel_peers', { backend: 'host-gw' }), sample(samples, 'flannel_kernel_entries', { type: 'route' })]).toEqual([peers.length, peers.length]);
  });
}

describe.skipIf(skip)(`the daemon tracks peers, host-gw${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, backend: 'host-gw' });

  it('routes each peer’s subnet via its underlay address, and nothing else', async () => {
    for (const i of [0, 1, 2]) await expectRoutes(lab(), i, [0, 1, 2].filter((j) => j !== i));
    expect((await connectivityAmong(lab(), [0, 1, 2])).failures).toEqual([]);
  }, 60_000);

  it('removes a node deleted from the API from every peer’s routes', async () => {
    await lab().stopDaemon(2);
    expect((await lab().api('DELETE', `/api/v1/nodes/${lab().node(2).name}`)).status).toBe(200);
    await expectRoutes(lab(), 0, [1]);
    await expectRoutes(lab(), 1, [0]);
    expect((await connectivityAmong(lab(), [0, 1])).failures).toEqual([]);
  }, 60_000);
});
