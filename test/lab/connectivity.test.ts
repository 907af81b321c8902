/**
 * Pods across nodes reach each other through our daemon: 3 nodes, 2 pods each, every pod pings
 * every other pod, for vxlan, vxlan with DirectRouting and host-gw (issue 5 item 7), and udp.
 */
import { describe, expect, it } from 'vitest';
import type { BackendType } from '../../lab/state.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

/**
 * `via` is how node0 routes node1's pod subnet (`dst`): through the VXLAN device, straight to
 * node1 on the underlay, or — udp — the whole Network into flannel0 (its own tests check the
 * datapath in depth).
 */
const CASES: readonly { title: string; backend: BackendType; directRouting: boolean; mtu: number; dst: string; via: string; how: string }[] = [
  { title: 'vxlan', backend: 'vxlan', directRouting: false, mtu: 1450, dst: '10.244.2.0/24', via: '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', how: 'through the VXLAN device' },
  { title: 'vxlan with DirectRouting', backend: 'vxlan', directRouting: true, mtu: 1450, dst: '10.244.2.0/24', via: '10.244.2.0/24 via 198.18.0.11 dev eth0', how: 'straight over the underlay' },
  { title: 'host-gw', backend: 'host-gw', directRouting: false, mtu: 1500, dst: '10.244.2.0/24', via: '10.244.2.0/24 via 198.18.0.11 dev eth0', how: 'straight over the underlay' },
  { title: 'udp', backend: 'udp', directRouting: false, mtu: 1472, dst: '10.244.0.0/16', via: '10.244.0.0/16 dev flannel0', how: 'into the TUN device' },
];

for (const c of CASES) {
  describe.skipIf(skip)(`pod connectivity, ${c.title}${skip ? ` (skipped: ${why})` : ''}`, () => {
    const lab = useLab({ nodes: 3, podsPerNode: 2, backend: c.backend, directRouting: c.directRouting });

    it('writes subnet.env with the node lease and the backend MTU', () => {
      for (let i = 0; i < lab().nodeCount; i++) {
        const env = lab().node(i).subnetEnv();
        expect(env).toMatchObject({ networks: ['10.244.0.0/16'], subnet: lab().node(i).podCidr, mtu: c.mtu, ipMasq: true });
      }
    });

    it(`routes a peer's pods ${c.how}`, async () => {
      const routes = (await lab().node(0).exec(['ip', '-4', 'route', 'show', c.dst])).stdout;
      expect(routes.trim()).toBe(c.via);
    });

    it('lets every pod ping every other pod', async () => {
      const m = await lab().waitForFullConnectivity(30_000);
      expect(m.failures).toEqual([]);
      expect(m.endpoints).toHaveLength(6);
    }, 60_000);
  });
}
