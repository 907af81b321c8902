/**
 * Pods across nodes reach each other through our daemon: 3 nodes, 2 pods each, every pod pings
 * every other pod, for vxlan, vxlan with DirectRouting and host-gw (issue 5 item 7; the lab also
 * runs udp, whose tests belong with that backend).
 */
import { describe, expect, it } from 'vitest';
import type { BackendType } from '../../src/lab/state.ts';
import { daemonReady, labReady, useLab } from './harness.ts';

const skip = !labReady.ok || !daemonReady;
const why = !labReady.ok ? labReady.why : 'src/cli/flanneld.ts does not exist yet';

const CASES: readonly { title: string; backend: BackendType; directRouting: boolean; mtu: number }[] = [
  { title: 'vxlan', backend: 'vxlan', directRouting: false, mtu: 1450 },
  { title: 'vxlan with DirectRouting', backend: 'vxlan', directRouting: true, mtu: 1450 },
  { title: 'host-gw', backend: 'host-gw', directRouting: false, mtu: 1500 },
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

    it('lets every pod ping every other pod', async () => {
      const m = await lab().waitForFullConnectivity(30_000);
      expect(m.failures).toEqual([]);
      expect(m.endpoints).toHaveLength(6);
    }, 60_000);
  });
}
