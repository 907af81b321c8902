/**
 * The lab's side of the daemon contract, with a stand-in daemon (fixtures/standin-flanneld.ts):
 * each node's daemon gets the DaemonSet's flags and NODE_NAME, reaches the API server double on
 * the underlay, finds its Node with the right podCIDR, and pods are wired from what it writes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeBinary, REPO_ROOT } from '../../lab/paths.ts';
import { labReady, useLab } from './harness.ts';

describe.skipIf(!labReady.ok)(`lab ↔ daemon contract, stand-in daemon${labReady.ok ? '' : ` (skipped: ${labReady.why})`}`, () => {
  const lab = useLab({
    nodes: 2,
    backend: 'vxlan',
    directRouting: true,
    daemonCommand: [nodeBinary(), `${REPO_ROOT}test/lab/fixtures/standin-flanneld.ts`],
  });

  it('starts each daemon with the DaemonSet flags and its NODE_NAME', () => {
    for (let i = 0; i < 2; i++) {
      const node = lab().node(i);
      const seen = JSON.parse(readFileSync(`${node.subnetFile}.standin.json`, 'utf8')) as { argv: string[]; nodeName: string };
      expect(seen.nodeName).toBe(node.name);
      expect(seen.argv).toEqual([
        '--kube-subnet-mgr',
        '--kubeconfig-file', lab().state.kubeconfig,
        '--net-config-path', `${lab().state.runDir}/${node.name}/net-conf.json`,
        '--iface', 'eth0',
        '--subnet-file', node.subnetFile,
        '--healthz-port', '8081',
        // The lab reads the daemon's log as JSON; the DaemonSet keeps the klog default.
        '--logging-format=json',
        '--ip-masq',
      ]);
      expect(JSON.parse(readFileSync(`${lab().state.runDir}/${node.name}/net-conf.json`, 'utf8'))).toEqual({
        Network: '10.244.0.0/16',
        Backend: { Type: 'vxlan', DirectRouting: true },
      });
    }
  });

  it('gives the daemon a Node with its podCIDR, and wires pods from the subnet.env it wrote', async () => {
    expect(lab().node(1).subnetEnv()).toMatchObject({ subnet: '10.244.2.0/24', mtu: 1450, ipMasq: true });
    expect(lab().pod(1, 0).ip).toBe('10.244.2.2');
    const link = (await lab().pod(1, 0).exec(['ip', '-o', 'link', 'show', 'dev', 'eth0'])).stdout;
    expect(link).toContain('mtu 1450 ');
  });

  it('lets tests drive the API server double', async () => {
    const got = await lab().api('GET', `/api/v1/nodes/${lab().node(0).name}`);
    expect(got.status).toBe(200);
    expect((JSON.parse(got.body) as { spec: { podCIDR: string } }).spec.podCIDR).toBe('10.244.1.0/24');
    expect((await lab().api('DELETE', `/api/v1/nodes/${lab().node(0).name}`)).status).toBe(200);
    expect((await lab().api('GET', `/api/v1/nodes/${lab().node(0).name}`)).status).toBe(404);
  });
});
